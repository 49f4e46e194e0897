"""Two processes on CPU (gloo) run 2 GRPO steps and agree on the weights afterwards."""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

from transformers import AutoModelForImageTextToText

from groundrl.synth import SynthOptions, generate


def test_two_process_grpo_ranks_agree(tiny_models, tmp_path):
    data = generate("rec", 8, tmp_path / "data", seed=6, opts=SynthOptions(min_size=56, max_size=84))
    out = tmp_path / "ddp"
    script = Path(__file__).parent / "ddp_grpo.py"
    with socket.socket() as s:  # a free port: torch.distributed.run does not take 0
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        str(script),
        str(tiny_models["qwen2.5-vl"]),
        str(data),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sums = [(out / f"weights-rank{r}.sha256").read_text() for r in (0, 1)]
    assert sums[0] == sums[1]
    base = hashlib.sha256()

    for _, p in sorted(AutoModelForImageTextToText.from_pretrained(tiny_models["qwen2.5-vl"]).named_parameters()):
        base.update(p.detach().numpy().tobytes())
    assert sums[0] != base.hexdigest(), "two steps should have moved the weights"

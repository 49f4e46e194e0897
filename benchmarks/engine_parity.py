"""Where greedy vLLM and transformers part on the same checkpoint, and why.

For each family's tiny checkpoint and the same synthetic records: vLLM (CPU build, `.venv-vllm`, in a
subprocess: this script with `--worker`) decodes greedily in bfloat16 (its `dtype=auto` on CPU) and in
float32; transformers then reads each vLLM answer teacher-forced (one forward pass over prompt + answer)
and reports, at the first token where its own argmax differs from vLLM's choice, the logit margin between
the two. A margin far below the logits' spread is a near-tie that any change of kernel or precision may
break either way; a large one would be a bug (a different prompt, image or template).

    python benchmarks/engine_parity.py [--records 16] [--max-new-tokens 16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from groundrl.data.images import load_image
from groundrl.data.records import read_records
from groundrl.models.families import get_family
from groundrl.models.prompts import build_messages
from vllm_cpu import VLLM_ENV, VLLM_PYTHON

FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
RESULT = "engine_parity.py result: "


def chat(processor, family: str, data: Path) -> list[tuple[str, list]]:
    """(prompt text, images) per record, rendered by the checkpoint's own processor, as both engines do."""
    fam = get_family(family)
    out = []
    for r in read_records(data):
        text = processor.apply_chat_template(build_messages(r, fam), add_generation_prompt=True, tokenize=False)
        out.append((text, [load_image(data.parent / r.images[0])]))
    return out


def worker(model: Path, family: str, data: Path, max_new_tokens: int) -> None:
    """In the vLLM venv: vLLM's greedy token ids per record, for each dtype."""
    from transformers import AutoProcessor
    from vllm import LLM, SamplingParams

    prompts = chat(AutoProcessor.from_pretrained(model), family, data)
    inputs = [{"prompt": t, "multi_modal_data": {"image": ims}} for t, ims in prompts]
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
    result = {}
    for dtype in ("bfloat16", "float32"):
        llm = LLM(model=str(model), dtype=dtype, limit_mm_per_prompt={"image": 1})
        result[dtype] = [list(o.outputs[0].token_ids) for o in llm.generate(inputs, params)]
        del llm
    print(RESULT + json.dumps(result), flush=True)


def first_split(model, processor, text: str, images: list, answer_ids: list[int]) -> tuple[int, float, float]:
    """(position where transformers' argmax first differs from `answer_ids` or len, margin there, logit
    spread there): teacher-forced, one forward pass."""
    batch = processor(text=[text], images=images, return_tensors="pt")
    prompt_len = batch["input_ids"].shape[1]
    answer = torch.tensor([answer_ids])
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):  # per-token inputs grow by the answer
        if key in batch:
            fill = answer if key == "input_ids" else torch.full_like(answer, int(key == "attention_mask"))
            batch[key] = torch.cat([batch[key], fill], dim=1)
    with torch.no_grad():
        logits_TV = model(**batch).logits[0, prompt_len - 1 : -1].float()
    for t, token in enumerate(answer_ids):
        best = int(logits_TV[t].argmax())
        if best != token:
            return t, float(logits_TV[t, best] - logits_TV[t, token]), float(logits_TV[t].std())
    return len(answer_ids), 0.0, 0.0


def family_parity(family: str, tmp: Path, records: int, max_new_tokens: int) -> dict:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from groundrl.models.tiny import make_tiny
    from groundrl.synth import SynthOptions, generate

    model_dir = make_tiny(family, tmp / family)
    data = generate("rec", records, tmp / f"data-{family}", seed=1, opts=SynthOptions(min_size=64, max_size=96))
    cmd = [str(VLLM_PYTHON), __file__, "--worker", str(model_dir), family, str(data), str(max_new_tokens)]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | VLLM_ENV
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if line is None:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-4000:])
    vllm_ids = json.loads(line[len(RESULT) :])
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompts = chat(processor, family, data)
    row = {"family": family}
    for dtype, answers in vllm_ids.items():
        splits = [first_split(model, processor, t, ims, ids) for (t, ims), ids in zip(prompts, answers, strict=True)]
        parted = [s for s in splits if s[0] < max_new_tokens]
        row[dtype] = {
            "identical": sum(s[0] >= len(a) for s, a in zip(splits, answers, strict=True)),
            "records": len(splits),
            "first_split_median": statistics.median(s[0] for s in splits),
            "first_split_min": min(s[0] for s in splits),
            "margin_max": max((s[1] for s in parted), default=0.0),
            "logit_std_median": statistics.median(s[2] for s in parted) if parted else 0.0,
        }
    return row


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        model, family, data, tokens = sys.argv[2:6]
        worker(Path(model), family, Path(data), int(tokens))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()
    if not VLLM_PYTHON.exists():
        sys.exit("needs the vLLM venv: make vllm-env")
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES:
            print(json.dumps(family_parity(family, Path(tmp), args.records, args.max_new_tokens)), flush=True)


if __name__ == "__main__":
    main()

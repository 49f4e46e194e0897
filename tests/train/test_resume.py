"""Resume restores everything: a run SIGKILLed after its step-3 checkpoint and resumed to step 6 ends where an
uninterrupted 6-step run ends (weights, optimizer, step, data position, RNG), for SFT and GRPO, full model and
LoRA, and SFT on multi-turn zoom chains; a checkpoint without weights that fit the model refuses to resume."""

import json
import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from peft import get_peft_model
from safetensors.torch import load_file, save_file

from groundrl.config import load_config
from groundrl.models.families import FAMILIES
from groundrl.synth import ChainOptions, SynthOptions, VisualSearchOptions, generate
from groundrl.tools.env import tool_system_text
from groundrl.tools.zoom import ZoomPreset
from groundrl.train import grpo, sft
from groundrl.train.checkpoints import ResumeError, saved_weights
from groundrl.train.common import COMPLETE, drop_logs_after, resume_point
from groundrl.train.models import LoraOptions, load_for_training, peft_config
from helpers import run_cli

STEPS, SAVE = 6, 3
RECIPES = {"sft": (sft.SFTRunConfig, sft.run_sft), "grpo": (grpo.GRPORunConfig, grpo.run_grpo)}
# Logged numbers that measure the machine, not the training, and transformers' summary `train_loss`, the mean
# over the steps of one `train()` call (the resumed run's: steps 4-6).
SUMMARY = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "step_time", "train_loss"}

# Runs a recipe in its own process and SIGKILLs that process once step SAVE + 1 is logged: the step-SAVE
# checkpoint is complete, the next step's log line is written, the run is half way to the next checkpoint.
KILLED_RUN = """
import os, signal, sys
from transformers import TrainerCallback
from groundrl.config import load_config
from groundrl.train import grpo, sft

class Kill(TrainerCallback):
    def on_log(self, args, state, control, **kwargs):
        if state.global_step == int(sys.argv[4]):
            os.kill(os.getpid(), signal.SIGKILL)

recipe = {"sft": (sft.SFTRunConfig, sft.run_sft), "grpo": (grpo.GRPORunConfig, grpo.run_grpo)}[sys.argv[1]]
recipe[1](load_config(recipe[0], sys.argv[2], [f"output_dir={sys.argv[3]}"]), callbacks=[Kill()])
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-data")
    return generate("rec", 4, root, seed=4, opts=SynthOptions(min_size=56, max_size=70))


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """Four visual-search zoom chains over 256-320 px images, two that call the tool and two that answer at once,
    with the tool's system turn."""
    root = tmp_path_factory.mktemp("resume-chains")
    opts = VisualSearchOptions(min_size=256, max_size=320, min_target=4, max_target=4, min_distractors=5,
                               max_distractors=9, ask="dot", place="centre")  # fmt: skip
    family = FAMILIES["qwen3-vl"]
    chain_opts = ChainOptions(family, ZoomPreset(8, 56), system=tool_system_text(family), look="centre", direct=0.5)
    generate("visual_search", 4, root, seed=2, opts=opts, chains=chain_opts)
    return root / "chains.jsonl"


def write_config(path: Path, kind: str, model: Path, data: Path, lora: bool) -> Path:
    """A recipe config of STEPS steps with a checkpoint every SAVE steps; one record a step out of 4, so the
    6 steps cross an epoch boundary."""
    trl = {"max_steps": STEPS, "save_steps": SAVE, "seed": 3, "data_seed": 3, "logging_steps": 1}
    cfg = {"model": str(model), "data": str(data), "trl": trl}
    if lora:
        cfg["lora"] = {"enabled": True, "r": 4, "alpha": 8}  # dropout 0.05: the RNG matters
    if kind == "sft":
        trl |= {"per_device_train_batch_size": 1, "learning_rate": 1e-3}
    else:
        trl |= {
            "per_device_train_batch_size": 2,
            "num_generations": 2,
            "max_completion_length": 6,
            "learning_rate": 1e-2,
            "beta": 0.0,
        }
        # length and repetition vary between a random model's completions: a learning signal
        cfg["rewards"] = [
            {"name": "length_penalty", "weight": 1.0, "options": {"max_chars": 8}},
            {"name": "repetition_penalty", "weight": 1.0, "options": {"n": 1}},
        ]
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(kind: str, config: Path, out: Path, *overrides: str):
    config_cls, recipe = RECIPES[kind]
    return recipe(load_config(config_cls, config, [f"output_dir={out}", *overrides]))


def start_killed_run(kind: str, config: Path, out: Path) -> subprocess.Popen:
    """Start KILLED_RUN in its own process (its imports overlap whatever the test does meanwhile)."""
    args = [sys.executable, "-c", KILLED_RUN, kind, str(config), str(out), str(SAVE + 1)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def assert_killed(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, stderr[-3000:]


def metrics(out: Path) -> list[dict]:
    """metrics.jsonl without SUMMARY. The cumulative `num_tokens` stays: SFT's counter lives outside the
    Trainer's state in TRL, and the checkpoint keeps it (`common.keep_token_count`); GRPO's is the state's."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in SUMMARY} for row in rows]


def weights(out: Path) -> dict[str, torch.Tensor]:
    files = [out / "model.safetensors", out / "adapter_model.safetensors"]
    return load_file(next(f for f in files if f.exists()))


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


def optimizer_difference(a: Path, b: Path) -> float:
    """Max abs difference of every tensor of two saved AdamW states (exp_avg, exp_avg_sq, step)."""
    sa, sb = (torch.load(p / "optimizer.pt", weights_only=False)["state"] for p in (a, b))
    assert sa.keys() == sb.keys() and sa
    return max((sa[i][k].double() - sb[i][k].double()).abs().max().item() for i in sa for k in sa[i])


def rng_states(checkpoint: Path) -> dict:
    """The python, numpy and torch RNG states the Trainer saved, as plain lists."""
    state = torch.load(checkpoint / "rng_state.pth", weights_only=False)
    return {"python": state["python"], "numpy": plain(state["numpy"]), "cpu": state["cpu"].tolist()}


def plain(value):
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value.tolist() if hasattr(value, "tolist") else value


@pytest.mark.parametrize("kind", ["sft", "grpo"])
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sigkill_then_resume_ends_where_an_uninterrupted_run_ends(tiny_models, data, tmp_path, kind, lora):
    config = write_config(tmp_path / "config.yaml", kind, tiny_models["qwen2.5-vl"], data, lora)
    assert_resume_matches(kind, config, tmp_path)


def test_a_zoom_chain_sft_run_resumes_where_it_would_have_ended(tiny_models, chains, tmp_path):
    """SFT on multi-turn zoom chains with the tool template (`tools: zoom`): crops in the user turns, the tool
    turns masked, the rendering the trainer rebuilds on resume."""
    config = write_config(tmp_path / "config.yaml", "sft", tiny_models["qwen3-vl"], chains, lora=False)
    config.write_text(yaml.safe_dump(yaml.safe_load(config.read_text()) | {"tools": "zoom"}))
    assert_resume_matches("sft", config, tmp_path)


def assert_resume_matches(kind: str, config: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    proc = start_killed_run(kind, config, killed)
    run(kind, config, tmp_path / "clean")
    assert_killed(proc)
    assert (killed / f"checkpoint-{SAVE}" / COMPLETE).exists()
    assert not (killed / f"checkpoint-{STEPS}").exists(), "the kill should land before the end"
    assert max(r["step"] for r in metrics(killed)) == SAVE + 1, "the killed run logged a step past its checkpoint"

    run_cli(kind, str(config), f"output_dir={killed}", "--resume", check=True)

    clean = tmp_path / "clean"
    assert json.loads((killed / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())["global_step"] == STEPS
    # The weights: the final model, and the checkpoint written at the end; steps 4-6 moved them.
    final = max_abs_difference(weights(clean), weights(killed))
    at_6 = max_abs_difference(weights(clean / "checkpoint-6"), weights(killed / "checkpoint-6"))
    moved = max_abs_difference(weights(clean), weights(clean / "checkpoint-3"))
    assert final <= 1e-6 and at_6 <= 1e-6 and moved > 1e-4, (final, at_6, moved)
    # Adam's moments and step counts (a fresh optimizer would have counted 3 steps).
    adam = optimizer_difference(clean / "checkpoint-6", killed / "checkpoint-6")
    assert adam <= 1e-6, adam
    # The data position and the RNG: steps 4-6 saw the same samples and drew the same numbers, so every logged
    # number agrees (loss, grad norm, rewards, the running token count); the killed run's step-4 line was dropped.
    assert metrics(killed) == metrics(clean)
    assert [r["step"] for r in metrics(clean) if "loss" in r] == list(range(1, STEPS + 1))
    assert rng_states(clean / "checkpoint-6") == rng_states(killed / "checkpoint-6")


def test_the_newest_complete_checkpoint_is_resumed_and_a_half_written_one_moved_aside(tmp_path):
    for step, complete in [(3, True), (6, True), (9, False)]:  # 9: killed while writing it
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / COMPLETE).write_text(str(step))
    cfg = sft.SFTRunConfig(model="base-model", output_dir=str(tmp_path), resume=True)
    assert resume_point(cfg) == str(tmp_path / "checkpoint-6")
    assert (tmp_path / "incomplete-checkpoint-9").is_dir() and not (tmp_path / "checkpoint-9").exists()


def test_a_killed_run_s_log_lines_past_the_checkpoint_are_dropped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3, 4)) + '{"step": 5, "lo')
    assert drop_logs_after(path, 3) == 2
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_resume_without_a_complete_checkpoint_says_so_and_starts_at_step_0(tmp_path, caplog):
    cfg = sft.SFTRunConfig(model="base-model", output_dir=str(tmp_path), resume=True)
    with caplog.at_level(logging.WARNING):
        assert resume_point(cfg) is None
    assert f"resume: no complete checkpoint in {tmp_path}; training starts at step 0 from base-model" in caplog.text


@pytest.fixture
def saved_checkpoint(tiny_models, tmp_path):
    """A tiny model and a copy of its folder, as save_pretrained wrote it (the names a checkpoint has)."""
    model, _, _ = load_for_training(str(tiny_models["qwen2.5-vl"]))
    folder = tmp_path / "checkpoint-3"
    shutil.copytree(tiny_models["qwen2.5-vl"], folder)
    return model, folder


def test_saved_weights_are_read_by_save_pretrained_names(saved_checkpoint):
    model, folder = saved_checkpoint
    on_disk = load_file(folder / "model.safetensors")
    assert "model.visual.patch_embed.proj.weight" not in on_disk and "visual.patch_embed.proj.weight" in on_disk
    restored = saved_weights(model, folder)
    assert restored.keys() == model.state_dict().keys()
    assert torch.equal(restored["model.visual.patch_embed.proj.weight"], on_disk["visual.patch_embed.proj.weight"])


def test_a_checkpoint_without_weights_that_fit_refuses(saved_checkpoint, tmp_path):
    model, folder = saved_checkpoint
    on_disk = load_file(folder / "model.safetensors")
    save_file({f"renamed.{k}": v for k, v in on_disk.items()}, folder / "model.safetensors")
    with pytest.raises(ResumeError, match=r"do not fit the model: \d+ missing_keys .* unexpected_keys"):
        saved_weights(model, folder)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ResumeError, match="cannot read the weights of"):
        saved_weights(model, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ResumeError, match="holds no model weights") as error:
        saved_weights(model, folder)
    assert "\n" not in str(error.value)


def test_a_resume_that_cannot_restore_the_weights_trains_nothing(tiny_models, data, tmp_path):
    config = write_config(tmp_path / "config.yaml", "sft", tiny_models["qwen2.5-vl"], data, lora=True)
    out = tmp_path / "run"
    checkpoint = out / f"checkpoint-{SAVE}"
    shutil.copytree(tiny_models["qwen2.5-vl"], checkpoint)  # full weights, no adapter: a LoRA run cannot use it
    (checkpoint / COMPLETE).write_text(str(SAVE))
    result = run_cli("sft", str(config), f"output_dir={out}", "--resume")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"groundrl: error: resume: {checkpoint} holds no LoRA adapter weights (adapter_model.safetensors or "
        "adapter_model.bin); move it aside to resume from an earlier checkpoint"
    )
    assert not (out / "metrics.jsonl").exists() and not (out / f"checkpoint-{STEPS}").exists()


def test_an_adapter_of_another_shape_refuses(tiny_models, tmp_path):
    base, _, _ = load_for_training(str(tiny_models["qwen2.5-vl"]))
    get_peft_model(base, peft_config(LoraOptions(enabled=True, r=8))).save_pretrained(tmp_path / "checkpoint-3")
    base, _, _ = load_for_training(str(tiny_models["qwen2.5-vl"]))
    model = get_peft_model(base, peft_config(LoraOptions(enabled=True, r=4)))
    with pytest.raises(ResumeError, match=r"does not fit the model: \d+ mismatched_keys \(e\.g\. base_model\."):
        saved_weights(model, tmp_path / "checkpoint-3")


@pytest.mark.parametrize("content", ["{not json", '{"tokens": 3}', '{"num_tokens": "many"}'])
def test_an_unreadable_token_count_is_logged_and_the_resume_goes_on(tmp_path, caplog, content):
    """The token count is a metric: a damaged one restarts it at 0 with a warning naming the file."""
    from types import SimpleNamespace

    from groundrl.train.common import TOKENS, keep_token_count

    (tmp_path / TOKENS).write_text(content)
    trainer = SimpleNamespace(_total_train_tokens=0, callback_handler=SimpleNamespace(callbacks=[]))
    with caplog.at_level("WARNING"):
        keep_token_count(trainer, str(tmp_path))
    assert trainer._total_train_tokens == 0
    assert f"{tmp_path / TOKENS} is unreadable" in caplog.text


@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_resuming_a_finished_run_trains_nothing_more(tiny_models, data, tmp_path, kind):
    """transformers trains one step before it checks max_steps: a run resumed from its last checkpoint went on to
    step 7 of 6 (seen on 100k zoom chains). Now it saves the final model and stops."""
    config = write_config(tmp_path / "config.yaml", kind, tiny_models["qwen2.5-vl"], data, lora=False)
    out = tmp_path / "run"
    run(kind, config, out)
    before, logged = weights(out), metrics(out)
    (out / "model.safetensors").unlink()  # as if killed after the last checkpoint, before the final save
    trainer = run(kind, config, out, "resume=true")
    assert trainer.state.global_step == STEPS  # what the CLI reports
    assert not (out / f"checkpoint-{STEPS + 1}").exists()
    assert metrics(out) == logged
    assert max_abs_difference(weights(out), before) == 0.0

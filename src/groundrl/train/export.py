"""Export a LoRA run: merge the adapter into its base model and save a plain checkpoint folder."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoModelForImageTextToText, AutoProcessor


def merge_adapter(run_dir: str | Path, out: str | Path, base: str | None = None) -> Path:
    """Load the adapter in `run_dir` onto its base model (adapter_config's, unless `base` is given),
    merge it, and save model and processor to `out`.

    Raises:
        FileNotFoundError: `run_dir` holds no adapter.
    """
    from peft import PeftModel

    run_dir, out = Path(run_dir), Path(out)
    config_path = run_dir / "adapter_config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir}: no adapter_config.json (was this a LoRA run?)")
    base = base or json.loads(config_path.read_text())["base_model_name_or_path"]
    model = AutoModelForImageTextToText.from_pretrained(base)
    merged = PeftModel.from_pretrained(model, run_dir).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    AutoProcessor.from_pretrained(run_dir if (run_dir / "processor_config.json").exists() else base).save_pretrained(
        out
    )
    return out

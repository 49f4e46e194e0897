"""The vLLM engine: offline `LLM.generate` with `multi_modal_data`. vLLM is imported only when this engine
is chosen (`pip install groundrl[vllm]`, on a machine with a GPU)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from groundrl.engines.base import Generation, Prompt, Sampling


def saved_dtype(model_dir: str | Path) -> str:
    """The dtype a checkpoint was saved in (config.json), "auto" when it does not say.

    On CPU the vLLM engine runs in it, as the transformers engine does: vLLM's own `dtype="auto"` downcasts a
    float32 checkpoint to bfloat16 there, and greedy answers then part from the transformers engine's at
    near-ties (benchmarks/engine_parity.py: in float32 both give the same tokens on every record).
    """
    config = json.loads((Path(model_dir) / "config.json").read_text())
    dtype = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype")
    return dtype if isinstance(dtype, str) else "auto"


class VLLMEngine:
    """Args: model_dir: a checkpoint folder; max_images: images per prompt; engine_kwargs: passed to `vllm.LLM`
    (on CPU, `dtype` defaults to the checkpoint's own: `saved_dtype`)."""

    def __init__(self, model_dir: str | Path, max_images: int = 4, **engine_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm engine needs vLLM: pip install 'groundrl[vllm]' (GPU machines)") from e
        import torch
        from transformers import AutoProcessor

        if not torch.cuda.is_available():
            engine_kwargs.setdefault("dtype", saved_dtype(model_dir))
        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.llm = LLM(model=str(model_dir), limit_mm_per_prompt={"image": max_images}, **engine_kwargs)

    def generate(self, prompts: list[Prompt], sampling: Sampling | None = None) -> list[list[Generation]]:
        from vllm import SamplingParams

        sampling = sampling or Sampling()
        if sampling.max_thinking_tokens is not None:
            raise ValueError("--max-thinking-tokens needs the transformers engine (budget forcing)")
        params = SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
            include_stop_str_in_output=True,
            seed=sampling.seed,
        )
        if any(p.seed is not None for p in prompts):  # each prompt's own seed: answers independent of the batch
            params = [params.clone() for _ in prompts]
            for p, own in zip(prompts, params, strict=True):
                own.seed = sampling.seed if p.seed is None else p.seed
        inputs = [
            {
                "prompt": self.processor.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False),
                "multi_modal_data": {"image": p.images} if p.images else {},
            }
            for p in prompts
        ]
        started = time.perf_counter()
        outputs = self.llm.generate(inputs, params)
        latency = time.perf_counter() - started
        return [[Generation(c.text, len(c.token_ids), latency) for c in out.outputs] for out in outputs]

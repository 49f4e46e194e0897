"""The transformers engine: batched `generate` with left padding and the KV cache, on CPU or GPU."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from groundrl.engines.base import Generation, Prompt


class TransformersEngine:
    """Greedy batched generation with a checkpoint folder's own processor and chat template.

    Args:
        model_dir: any folder `from_pretrained` loads (a real checkpoint or a tiny one).
        batch_size: prompts per `generate` call.
        device: "cpu", "cuda", ...; default: cuda when available.
    """

    def __init__(self, model_dir: str | Path, batch_size: int = 16, device: str | None = None) -> None:
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir).to(self.device).eval()
        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.processor.tokenizer.padding_side = "left"
        self.batch_size = batch_size

    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    @torch.inference_mode()
    def generate(self, prompts: list[Prompt], max_new_tokens: int = 128) -> list[Generation]:
        results: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            results.extend(self._generate_batch(prompts[start : start + self.batch_size], max_new_tokens))
        return results

    def _generate_batch(self, prompts: list[Prompt], max_new_tokens: int) -> list[Generation]:
        started = time.perf_counter()
        texts = [
            self.processor.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False) for p in prompts
        ]
        images = [image for p in prompts for image in p.images] or None
        batch = self.processor(text=texts, images=images, return_tensors="pt", padding=True).to(self.device)
        out_BT = self.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        new_BT = out_BT[:, batch["input_ids"].shape[1] :]
        pad_id = self.processor.tokenizer.pad_token_id
        lengths = (new_BT != pad_id).sum(dim=1).tolist()
        decoded = self.processor.batch_decode(new_BT, skip_special_tokens=True)
        latency = time.perf_counter() - started
        return [Generation(text, n, latency) for text, n in zip(decoded, lengths, strict=True)]

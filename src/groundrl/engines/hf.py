"""The transformers engine: batched `generate` with left padding and the KV cache, on CPU or GPU."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from groundrl.engines.base import Generation, Prompt, Sampling, cut_at_stop

THINK_END = "</think>"


class TransformersEngine:
    """Batched generation with a checkpoint folder's own processor and chat template.

    Args:
        model_dir: any folder `from_pretrained` loads (a real checkpoint or a tiny one).
        batch_size: prompts per `generate` call.
        device: "cpu", "cuda", ...; default: cuda when available.
        dtype: torch dtype name for the weights ("auto": as saved, bfloat16 on GPU).
    """

    def __init__(
        self, model_dir: str | Path, batch_size: int = 16, device: str | None = None, dtype: str = "auto"
    ) -> None:
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = torch.bfloat16 if dtype == "auto" and self.device.startswith("cuda") else dtype
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch_dtype).to(self.device).eval()
        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.processor.tokenizer.padding_side = "left"
        self.batch_size = batch_size

    @property
    def model_type(self) -> str:
        return self.model.config.model_type

    @torch.inference_mode()
    def generate(self, prompts: list[Prompt], sampling: Sampling | None = None) -> list[list[Generation]]:
        sampling = sampling or Sampling()
        results: list[list[Generation]] = []
        for start in range(0, len(prompts), self.batch_size):
            results.extend(self._generate_batch(prompts[start : start + self.batch_size], sampling))
        return results

    def _texts(self, prompts: list[Prompt]) -> list[str]:
        return [
            self.processor.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False) for p in prompts
        ]

    def _run(
        self, texts: list[str], images: list, sampling: Sampling, max_new_tokens: int, n: int, stop: tuple[str, ...]
    ):
        batch = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True).to(self.device)
        kwargs = {"max_new_tokens": max_new_tokens, "num_return_sequences": n}
        if sampling.temperature > 0:
            torch.manual_seed(sampling.seed)
            kwargs |= {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        else:
            kwargs |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if stop:
            kwargs |= {"stop_strings": list(stop), "tokenizer": self.processor.tokenizer}
        out_BT = self.model.generate(**batch, **kwargs)
        new_BT = out_BT[:, batch["input_ids"].shape[1] :]
        pad_id = self.processor.tokenizer.pad_token_id
        lengths = (new_BT != pad_id).sum(dim=1).tolist()
        texts_out = [cut_at_stop(t, stop) for t in self.processor.batch_decode(new_BT, skip_special_tokens=True)]
        return texts_out, lengths

    def _generate_batch(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        started = time.perf_counter()
        texts = self._texts(prompts)
        images = [image for p in prompts for image in p.images]
        n = sampling.n
        if sampling.max_thinking_tokens is None:
            outs, lengths = self._run(texts, images, sampling, sampling.max_new_tokens, n, sampling.stop)
        else:
            outs, lengths = self._budget_forced(texts, prompts, sampling)
        latency = time.perf_counter() - started
        return [
            [Generation(outs[i * n + k], lengths[i * n + k], latency) for k in range(n)] for i in range(len(prompts))
        ]

    def _budget_forced(
        self, texts: list[str], prompts: list[Prompt], sampling: Sampling
    ) -> tuple[list[str], list[int]]:
        """Think for at most `max_thinking_tokens`, then force `</think>` and generate the answer."""
        n = sampling.n
        images = [image for p in prompts for image in p.images]
        thoughts, think_lengths = self._run(texts, images, sampling, sampling.max_thinking_tokens, n, (THINK_END,))
        closed = [t if THINK_END in t else t + "\n" + THINK_END + "\n" for t in thoughts]
        continued = [texts[i // n] + closed[i] for i in range(len(closed))]
        answer_images = [image for i in range(len(closed)) for image in prompts[i // n].images]
        remaining = max(1, sampling.max_new_tokens - sampling.max_thinking_tokens)
        answers, answer_lengths = self._run(continued, answer_images, sampling, remaining, 1, sampling.stop)
        return [c + a for c, a in zip(closed, answers, strict=True)], [
            t + a for t, a in zip(think_lengths, answer_lengths, strict=True)
        ]

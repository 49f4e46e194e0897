"""The transformers engine: batched `generate` with left padding and the KV cache, on CPU or GPU."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, StoppingCriteriaList, StopStringCriteria

from groundrl.engines.base import Generation, Prompt, Sampling, cut_at_stop
from groundrl.engines.vision_cache import CachedImageProcessor, VisionCache

THINK_END = "</think>"


def row_seed(seed: int, k: int) -> int:
    """The seed of answer `k` of a prompt seeded with `seed` (answer 0 takes the seed itself)."""
    return seed if k == 0 else (seed * 1_000_003 + k) % 2**63


class RowSampler:
    """A logits processor that samples every row of a batch with its own generator, so that a row's answer
    depends on its prompt and seed only, never on its batch: temperature and top-p as `do_sample` applies
    them, then one uniform draw per row and step through the row's cumulative distribution (in float64).
    It leaves only the drawn token finite, so greedy decoding emits exactly the sampled tokens.

    Args:
        seeds: one per row, in the order of the batch.
        temperature: > 0; top_p: nucleus mass kept (1: all).
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float) -> None:
        self.seeds, self.temperature, self.top_p = seeds, temperature, top_p
        self.generators: list[torch.Generator] = []

    def __call__(self, input_ids_BT: torch.Tensor, scores_BV: torch.Tensor) -> torch.Tensor:
        if not self.generators:  # made lazily, on the device of the logits
            self.generators = [torch.Generator(scores_BV.device).manual_seed(s) for s in self.seeds]
        probs_BV = torch.softmax(scores_BV.float() / self.temperature, dim=-1).double()
        if self.top_p < 1.0:
            sorted_BV, order_BV = probs_BV.sort(dim=-1, descending=True)
            outside_BV = sorted_BV.cumsum(-1) - sorted_BV > self.top_p  # the top token always stays
            probs_BV = probs_BV.scatter(1, order_BV, sorted_BV.masked_fill(outside_BV, 0.0))
        cdf_BV = probs_BV.cumsum(-1)
        draws = [torch.rand((), generator=g, device=scores_BV.device, dtype=torch.float64) for g in self.generators]
        u_B1 = torch.stack(draws)[:, None] * cdf_BV[:, -1:]
        token_B1 = torch.searchsorted(cdf_BV, u_B1, right=True).clamp(max=scores_BV.shape[-1] - 1)
        return torch.full_like(scores_BV, float("-inf")).scatter(1, token_B1, 0.0)


class TransformersEngine:
    """Batched generation with a checkpoint folder's own processor and chat template.

    Args:
        model_dir: any folder `from_pretrained` loads (a real checkpoint or a tiny one).
        batch_size: prompts per `generate` call.
        device: "cpu", "cuda", ...; default: cuda when available.
        dtype: torch dtype name for the weights ("auto": as saved, bfloat16 on GPU).
        vision_cache_mib: bound of the cache of images already seen (each one's grid and vision embeddings:
            it is neither preprocessed nor encoded again, see `vision_cache`), in MiB; 0 turns it off. A
            multi-turn round's images (each trajectory's full image and crops) should fit, or the least
            recently used are encoded again. Off by default: a single pass over a data set shows each image
            once, so the cache would only cost hashing and memory; multi-turn evaluation and tree search,
            which show the same images round after round, turn it on (`eval.runner.open_engine`).
    """

    def __init__(
        self,
        model_dir: str | Path,
        batch_size: int = 16,
        device: str | None = None,
        dtype: str = "auto",
        vision_cache_mib: int = 0,
    ) -> None:
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = torch.bfloat16 if dtype == "auto" and self.device.startswith("cuda") else dtype
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch_dtype).to(self.device).eval()
        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.processor.tokenizer.padding_side = "left"
        self.batch_size = batch_size
        self.vision_cache = VisionCache(vision_cache_mib * 2**20) if vision_cache_mib > 0 else None
        self._stop_criteria: dict[tuple[str, ...], StopStringCriteria] = {}
        if self.vision_cache is not None:
            self.processor.image_processor = CachedImageProcessor(self.processor.image_processor, self.vision_cache)

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

    def stop_criteria(self, stop: tuple[str, ...]) -> StopStringCriteria:
        """`generate`'s stop-string check for `stop`, built once per engine and reused (it holds no state
        between calls). Passing `stop_strings` instead rebuilds it on every call from the whole vocabulary:
        0.24 s a call for a 151,643-token one (Qwen's size), the first 0.77 s (benchmarks/stop_strings.py)."""
        if stop not in self._stop_criteria:
            self._stop_criteria[stop] = StopStringCriteria(self.processor.tokenizer, list(stop))
        return self._stop_criteria[stop]

    def _texts(self, prompts: list[Prompt]) -> list[str]:
        return [
            self.processor.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False) for p in prompts
        ]

    def _run(
        self,
        texts: list[str],
        images: list[list],
        sampling: Sampling,
        max_new_tokens: int,
        n: int,
        stop: tuple[str, ...],
        seeds: list[int | None],
    ):
        """Generate `n` answers for each text (its images in `images`); `seeds` holds each text's own seed
        (None for none), and any seed makes every row sample with its own generator (see `RowSampler`)."""
        kwargs = {"max_new_tokens": max_new_tokens, "num_return_sequences": n}
        own_seeds = sampling.temperature > 0 and any(s is not None for s in seeds)
        if own_seeds:  # rows expanded here: one generator per answer, greedy picks what each one sampled
            row_seeds = [row_seed(sampling.seed if s is None else s, k) for s in seeds for k in range(n)]
            texts, images = [t for t in texts for _ in range(n)], [i for i in images for _ in range(n)]
            kwargs |= {"num_return_sequences": 1, "do_sample": False, "temperature": None, "top_p": None}
            kwargs |= {"top_k": None, "logits_processor": [RowSampler(row_seeds, sampling.temperature, sampling.top_p)]}
        elif sampling.temperature > 0:
            torch.manual_seed(sampling.seed)
            kwargs |= {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        else:
            kwargs |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        flat = [image for row in images for image in row]
        batch = self.processor(text=texts, images=flat or None, return_tensors="pt", padding=True).to(self.device)
        if self.vision_cache is not None and flat:
            batch = self.vision_cache.encode(self.model, batch)
        if stop:
            kwargs["stopping_criteria"] = StoppingCriteriaList([self.stop_criteria(stop)])
        out_BT = self.model.generate(**batch, **kwargs)
        new_BT = out_BT[:, batch["input_ids"].shape[1] :]
        pad_id = self.processor.tokenizer.pad_token_id
        lengths = (new_BT != pad_id).sum(dim=1).tolist()
        texts_out = [cut_at_stop(t, stop) for t in self.processor.batch_decode(new_BT, skip_special_tokens=True)]
        return texts_out, lengths

    def _generate_batch(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        started = time.perf_counter()
        texts = self._texts(prompts)
        images, seeds = [p.images for p in prompts], [p.seed for p in prompts]
        n = sampling.n
        if sampling.max_thinking_tokens is None:
            outs, lengths = self._run(texts, images, sampling, sampling.max_new_tokens, n, sampling.stop, seeds)
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
        images, seeds = [p.images for p in prompts], [p.seed for p in prompts]
        thoughts, think_lengths = self._run(
            texts, images, sampling, sampling.max_thinking_tokens, n, (THINK_END,), seeds
        )
        closed = [t if THINK_END in t else t + "\n" + THINK_END + "\n" for t in thoughts]
        continued = [texts[i // n] + closed[i] for i in range(len(closed))]
        answer_images = [prompts[i // n].images for i in range(len(closed))]
        answer_seeds = [
            None if seeds[i // n] is None else row_seed(seeds[i // n], i % n + n) for i in range(len(closed))
        ]
        remaining = max(1, sampling.max_new_tokens - sampling.max_thinking_tokens)
        answers, answer_lengths = self._run(
            continued, answer_images, sampling, remaining, 1, sampling.stop, answer_seeds
        )
        return [c + a for c, a in zip(closed, answers, strict=True)], [
            t + a for t, a in zip(think_lengths, answer_lengths, strict=True)
        ]

"""Per-prompt seeds in the transformers engine: a sampled answer depends on its prompt and seed only, not
on the batch it shares, its place in it, or the engine's batch size (what tree search relies on)."""

from __future__ import annotations

import torch
from PIL import Image

from groundrl.engines import Prompt, Sampling
from groundrl.engines.hf import RowSampler, TransformersEngine


def prompt(i: int, seed: int | None) -> Prompt:
    text = f"question {i} " + "x" * (3 * i)  # prompts of different lengths: left padding differs per batch
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    return Prompt(messages, [Image.new("RGB", (56 + 28 * (i % 2), 56), (40 * i, 90, 0))], seed=seed)


def texts(generations) -> list[list[str]]:
    return [[g.text for g in row] for row in generations]


def test_answers_do_not_depend_on_the_batch(tiny_models):
    engine = TransformersEngine(tiny_models["qwen2.5-vl"], batch_size=8, device="cpu")
    prompts = [prompt(i, 100 + i) for i in range(3)]
    sampling = Sampling(max_new_tokens=6, temperature=1.0, n=2)
    together = texts(engine.generate(prompts, sampling))
    engine.batch_size = 1
    alone = texts(engine.generate(prompts, sampling))
    engine.batch_size = 2
    reversed_ = texts(engine.generate(prompts[::-1], sampling))[::-1]
    assert together == alone == reversed_
    assert all(a != b for a, b in together)  # the n answers of a prompt are different samples
    reseeded = texts(engine.generate([prompt(0, 7)], sampling))
    assert reseeded[0] != together[0]


def test_the_row_sampler_draws_from_the_tempered_nucleus():
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(4000, 1)
    picked = RowSampler(list(range(4000)), 1.0, 1.0)(None, scores).argmax(-1)
    freq = torch.bincount(picked, minlength=4).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.03)
    nucleus = RowSampler(list(range(4000)), 1.0, 0.7)(None, scores).argmax(-1)
    assert set(nucleus.tolist()) == {0, 1}  # 0.5 + 0.3 >= 0.7: the tail is cut
    out = RowSampler([1], 0.5, 1.0)(None, scores[:1])
    assert torch.isfinite(out).sum() == 1 and out.max() == 0.0


def test_the_openai_engine_sends_each_prompt_its_own_seed():
    import asyncio
    from types import SimpleNamespace

    from groundrl.engines.openai_engine import OpenAIEngine

    sent = []

    async def create(**kwargs):
        sent.append(kwargs["seed"])
        choice = SimpleNamespace(message=SimpleNamespace(content="ok"))
        return SimpleNamespace(choices=[choice], usage=None)

    client = SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(create=create)))
    engine = OpenAIEngine("m", ["http://127.0.0.1:1/v1"])
    sampling = Sampling(temperature=1.0, seed=5)

    async def both():
        gate = asyncio.Semaphore(2)
        return [await engine._one(client, prompt(i, s), sampling, gate) for i, s in enumerate((11, None))]

    asyncio.run(both())
    assert sent == [11, 5]

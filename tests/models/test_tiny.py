"""Tiny models load through the Auto classes exactly as real checkpoints do, and generate with images."""

import json

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from groundrl.engines.base import Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.models.families import get_family
from groundrl.models.tiny import TinySpec, build_tiny, sincos_table

EXPECTED = {
    "qwen2-vl": ("qwen2_vl", "Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
    "qwen2.5-vl": ("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor"),
    "qwen3-vl": ("qwen3_vl", "Qwen3VLForConditionalGeneration", "Qwen3VLProcessor"),
}


@pytest.mark.parametrize("family", list(EXPECTED))
def test_round_trip_through_auto_classes(tiny_models, family):
    model_type, model_cls, processor_cls = EXPECTED[family]
    path = tiny_models[family]
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    assert model.config.model_type == model_type
    assert type(model).__name__ == model_cls
    assert type(processor).__name__ == processor_cls
    assert type(processor.tokenizer).__name__ == "Qwen2Tokenizer"
    assert get_family(model.config.model_type).name == family
    # the family's vision tower names point at real modules
    for name in get_family(family).vision_modules + get_family(family).projector_modules:
        assert isinstance(model.get_submodule(name), torch.nn.Module)
    # image tokens of the config are the tokenizer's
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    # saved weights reload bit-identically
    from groundrl.models.tiny import TinySpec, build_tiny

    rebuilt, _ = build_tiny(family, TinySpec())
    for (name, a), (_, b) in zip(model.state_dict().items(), rebuilt.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    config = json.loads((path / "config.json").read_text())
    assert "tiny" not in json.dumps(config).lower()


def test_digits_are_single_tokens(tiny_models):
    tokenizer = AutoProcessor.from_pretrained(tiny_models["qwen2.5-vl"]).tokenizer
    tokens = tokenizer.tokenize('{"bbox_2d": [1234, 56, 7, 890]}')
    digits = [t for t in tokens if any(c.isdigit() for c in t)]
    assert all(len(t.strip("Ġ")) == 1 for t in digits), digits
    assert len(digits) == 11  # 4 + 2 + 1 + 3 coordinate digits and the 2 of bbox_2d


@pytest.mark.parametrize("family", list(EXPECTED))
def test_batched_generate_with_images(tiny_models, family):
    engine = TransformersEngine(tiny_models[family], batch_size=4)
    prompts = [
        Prompt(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"Locate shape {i}"}]}],
            [Image.new("RGB", (112 + 28 * i, 112), (40 * i, 0, 0))],
        )
        for i in range(3)
    ]
    prompts.append(
        Prompt(
            [{"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "two"}]}],
            [Image.new("RGB", (96, 96)), Image.new("RGB", (140, 84))],
        )
    )
    results = [g[0] for g in engine.generate(prompts, Sampling(max_new_tokens=8))]
    assert len(results) == 4
    assert all(0 < r.num_tokens <= 8 and isinstance(r.text, str) and r.latency_s > 0 for r in results)
    # batching and left padding do not change a greedy answer
    alone = engine.generate(prompts[1:2], Sampling(max_new_tokens=8))[0][0]
    assert alone.text == results[1].text


def test_sampling_n_stop_and_thinking_budget(tiny_models):
    engine = TransformersEngine(tiny_models["qwen2.5-vl"], batch_size=2)
    prompts = [
        Prompt(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"shape {i}"}]}],
            [Image.new("RGB", (56, 56), (90 * i, 0, 0))],
        )
        for i in range(3)
    ]
    sampled = engine.generate(prompts, Sampling(max_new_tokens=6, temperature=1.0, n=4, seed=1))
    assert [len(s) for s in sampled] == [4, 4, 4]
    assert len({g.text for g in sampled[0]}) > 1  # a random tiny model samples different answers
    again = engine.generate(prompts, Sampling(max_new_tokens=6, temperature=1.0, n=4, seed=1))
    assert [g.text for g in again[0]] == [g.text for g in sampled[0]]  # seeded
    greedy = engine.generate(prompts, Sampling(max_new_tokens=12))
    token = greedy[0][0].text[:1]
    if token:
        stopped = engine.generate(prompts[:1], Sampling(max_new_tokens=12, stop=(token,)))[0][0]
        assert stopped.text == token  # cut right after the first stop string
    forced = engine.generate(prompts, Sampling(max_new_tokens=10, max_thinking_tokens=4))
    for (g,) in forced:
        assert "</think>" in g.text and g.num_tokens <= 10


def test_stop_strings_are_prepared_once_per_engine(tiny_models, monkeypatch):
    """The stop-string check is built once per stop tuple and reused: `generate(stop_strings=...)` would
    rebuild it from the whole vocabulary on every call (0.24 s each for a Qwen-sized one). Answers still end
    right after the first stop string."""
    from groundrl.engines import hf

    built = []
    real = hf.StopStringCriteria
    monkeypatch.setattr(hf, "StopStringCriteria", lambda tok, stops: built.append(tuple(stops)) or real(tok, stops))
    engine = TransformersEngine(tiny_models["qwen2.5-vl"], batch_size=2)
    prompt = Prompt(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "shape"}]}],
        [Image.new("RGB", (56, 56), (90, 0, 0))],
    )
    full = engine.generate([prompt], Sampling(max_new_tokens=12))[0][0].text
    assert len(full) >= 4, "the check needs an answer with a string to stop at"
    stop = (full[2:4],)
    first, again = (engine.generate([prompt], Sampling(max_new_tokens=12, stop=stop))[0][0].text for _ in range(2))
    assert first == again == full[: full.index(stop[0]) + len(stop[0])]
    assert built == [stop]


def test_sincos_position_table_tells_a_token_where_it_is():
    table = sincos_table(8, 32)
    assert table.shape == (64, 32)
    # row-major: neighbours along x differ in the x columns only, neighbours along y in the y columns only
    assert torch.equal(table[0, 16:], table[1, 16:]) and not torch.equal(table[0, :16], table[1, :16])
    assert torch.equal(table[0, :16], table[8, :16]) and not torch.equal(table[0, 16:], table[8, 16:])
    assert len({tuple(row.tolist()) for row in table}) == 64  # every cell distinct


def test_sincos_init_sets_qwen3_vl_position_table_and_refuses_others():
    spec = TinySpec(vision_position_init="sincos", vision_position_scale=2.0)
    model, _ = build_tiny("qwen3-vl", spec)
    weight = model.model.visual.pos_embed.weight
    side = int(weight.shape[0] ** 0.5)
    assert torch.allclose(weight, 2.0 * sincos_table(side, weight.shape[1]))
    with pytest.raises(ValueError, match="no vision position table"):
        build_tiny("qwen2.5-vl", spec)
    with pytest.raises(ValueError, match="is not 'random' or 'sincos'"):
        build_tiny("qwen3-vl", TinySpec(vision_position_init="learned"))

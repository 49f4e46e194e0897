"""The transformers engine's cache of images already seen: same greedy answers as without it, no image
through the vision tower twice, bounded by bytes."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from groundrl.engines.base import Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.engines.vision_cache import CachedImageProcessor, VisionCache

GREEDY = Sampling(max_new_tokens=12)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a loaded machine two threads wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def noise(seed: int, size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def conversations(turns: int) -> list[list[Image.Image]]:
    """Each trajectory's images after `turns` turns: its full image, then a crop of it per turn."""
    fulls = [noise(1, (168, 140)), noise(2, (140, 196)), noise(1, (168, 140))]  # the third repeats the first
    crops = [[full.crop((10 * t, 0, 84 + 10 * t, 84)).resize((112, 112)) for t in range(turns)] for full in fulls]
    return [[full, *own] for full, own in zip(fulls, crops, strict=True)]


def prompt(images: list[Image.Image], answers: list[str]) -> Prompt:
    """A conversation: the question with the full image, then (answer, crop) pairs."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is it?"}]}]
    for answer in answers:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Crop."}]})
    return Prompt(messages, images)


def count_encoded(engine: TransformersEngine) -> list[int]:
    """A list that gets, per vision tower call, the number of images it encodes."""
    counts: list[int] = []
    engine.model.model.visual.register_forward_pre_hook(
        lambda _, args, kwargs: counts.append(len(kwargs["grid_thw"])), with_kwargs=True
    )
    return counts


def run_turns(engine: TransformersEngine, turns: int, sampling: Sampling = GREEDY) -> list[list[list[str]]]:
    """Turn by turn, each trajectory's first answers so far sent back with its images so far; every text of
    every turn, by trajectory."""
    texts: list[list[list[str]]] = [[] for _ in range(3)]
    for turn in range(turns):
        images = conversations(turn)
        answers = [[t[0] for t in texts[i]] for i in range(3)]
        out = engine.generate([prompt(images[i], answers[i]) for i in range(3)], sampling)
        for i, generations in enumerate(out):
            texts[i].append([g.text for g in generations])
    return texts


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_same_greedy_turns_and_each_image_encoded_once(tiny_models, family):
    plain = TransformersEngine(tiny_models[family], batch_size=4, device="cpu", vision_cache_mib=0)
    cached = TransformersEngine(tiny_models[family], batch_size=4, device="cpu", vision_cache_mib=1024)
    plain_counts, cached_counts = count_encoded(plain), count_encoded(cached)
    expected = run_turns(plain, 3)
    assert run_turns(cached, 3) == expected
    assert expected[0] == expected[2] and expected[0] != expected[1]  # the images decide the answers
    assert plain_counts == [3, 6, 9]  # every image of every prompt, every turn
    assert cached_counts == [2, 2, 2]  # the two distinct full images, then each turn's two new crops
    assert cached.vision_cache.encoded == 6 and len(cached.vision_cache.entries) == 6


def test_sampled_answers_and_several_per_prompt_match(tiny_models):
    model = tiny_models["qwen2.5-vl"]
    plain = TransformersEngine(model, batch_size=4, device="cpu", vision_cache_mib=0)
    cached = TransformersEngine(model, batch_size=4, device="cpu", vision_cache_mib=1024)
    sampled = Sampling(max_new_tokens=8, temperature=1.0, n=2, seed=5)
    assert run_turns(cached, 2, sampled) == run_turns(plain, 2, sampled)


def test_an_image_larger_than_the_bound_is_encoded_every_time(tiny_models):
    plain = TransformersEngine(tiny_models["qwen2.5-vl"], batch_size=4, device="cpu", vision_cache_mib=0)
    cached = TransformersEngine(tiny_models["qwen2.5-vl"], batch_size=4, device="cpu", vision_cache_mib=1024)
    cached.vision_cache.max_bytes = 1000  # below one image's embeddings: nothing is kept
    counts = count_encoded(cached)
    assert run_turns(cached, 2) == run_turns(plain, 2)
    assert counts == [2, 4] and cached.vision_cache.size == 0 and not cached.vision_cache.entries


def entry(n: int) -> tuple[type, dict]:
    return dict, {"pooler_output": torch.zeros(n, dtype=torch.uint8)}


def test_the_cache_drops_the_least_recently_used_to_stay_in_its_bytes():
    cache = VisionCache(max_bytes=300)
    grid = torch.tensor([1, 2, 2])
    for key in (b"a", b"b", b"c"):
        cache.put(key, grid, entry(100))
    assert cache.grid(b"a") is grid  # a is now the most recently used
    cache.put(b"d", grid, entry(100))
    assert list(cache.entries) == [b"c", b"a", b"d"] and cache.size == 300
    cache.put(b"e", grid, entry(301))  # larger than the bound: not kept, nothing dropped
    assert list(cache.entries) == [b"c", b"a", b"d"]
    cache.put(b"f", grid, entry(250))
    assert list(cache.entries) == [b"f"] and cache.size == 250
    assert (cache.hits, cache.misses) == (1, 0)


def test_the_stand_in_gives_the_processors_tokens_and_new_rows_only(tiny_models):
    processor = AutoProcessor.from_pretrained(tiny_models["qwen3-vl"])
    images = conversations(1)[0] + [noise(1, (168, 140))]  # full, crop, full again
    text = "<|vision_start|><|image_pad|><|vision_end|>" * 3
    expected = processor(text=[text], images=images, return_tensors="pt")
    cache = VisionCache(max_bytes=2**30)
    processor.image_processor = CachedImageProcessor(processor.image_processor, cache)
    got = processor(text=[text], images=images, return_tensors="pt")
    for name in ("input_ids", "attention_mask", "mm_token_type_ids", "image_grid_thw"):
        assert torch.equal(got[name], expected[name]), name
    first_two = expected["image_grid_thw"][:2].prod(-1).sum()
    assert torch.equal(got["pixel_values"], expected["pixel_values"][:first_two])  # the repeat: no rows
    assert got["image_new"].tolist() == [True, True, False]
    assert torch.equal(got["image_digests"][0], got["image_digests"][2])

"""Images already seen by one transformers engine, kept across its `generate` calls: each image's grid and
the vision tower's embeddings of it, so that it is neither preprocessed nor encoded again.

A multi-turn trajectory sends its whole conversation on every turn (the engines are stateless), so
without this the full image and every crop so far go through the image processor and the vision tower
on every turn. `CachedImageProcessor` stands in for the processor's `image_processor`: it keys each
image by a hash of its mode, size, pixels and processing options, and processes only the images the
cache lacks; the engine then calls `VisionCache.encode`, which runs the vision tower on those alone and
hands `generate` every image's embeddings as `mm_encoder_outputs` (transformers' own argument for
pre-encoded images). The tokenizer and the language model's prefill still run on every call. Greedy
outputs are the same with and without the cache (tests/engines/test_vision_cache.py).

Works for processors that give one `image_grid_thw` row per image and its `pixel_values` rows (Qwen2-VL,
Qwen2.5-VL, Qwen3-VL); the stand-in's output (new images' rows only) is for the engine, not other callers.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image
from transformers import BatchFeature, PreTrainedModel

DIGEST_BYTES = 16
Entry = tuple[type, dict[str, Any]]  # the output class of `get_image_features`, one image's fields


def nbytes(value: Any) -> int:
    """The bytes of the tensors in `value` (a tensor, or lists, tuples and dicts of them)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(v) for v in value)
    return 0


def image_digest(image: Image.Image, options: str = "") -> bytes:
    """A hash of a PIL image's mode, size and pixels, and of the options it is processed with (SHA-256, the
    fastest of hashlib's here: CPUs hash it in hardware; 0.6 ms for a 640 x 600 RGB image)."""
    digest = hashlib.sha256(f"{options}{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.digest()[:DIGEST_BYTES]


def per_image(output: Any, count: int) -> list[dict[str, Any]]:
    """Split a `get_image_features` output into one dict per image: the fields that hold one tensor per
    image (`pooler_output`) or a list of such, one per layer (Qwen3-VL's `deepstack_features`). Fields over
    all patches at once (`last_hidden_state`) are left out: the model's forward reads the per-image ones."""
    images: list[dict[str, Any]] = [{} for _ in range(count)]
    for name, value in output.items():
        if isinstance(value, tuple | list) and len(value) == count and all(torch.is_tensor(v) for v in value):
            for i in range(count):
                images[i][name] = value[i]
        elif isinstance(value, list) and all(isinstance(v, tuple | list) and len(v) == count for v in value):
            for i in range(count):
                images[i][name] = [layer[i] for layer in value]
    return images


def joined(entries: list[Entry]) -> Any:
    """The output `get_image_features` gives for these images, rebuilt from their `per_image` fields."""
    output_type, first = entries[0]
    fields: dict[str, Any] = {}
    for name, value in first.items():
        if isinstance(value, list):  # one tensor per layer
            fields[name] = [tuple(e[name][layer] for _, e in entries) for layer in range(len(value))]
        else:
            fields[name] = tuple(e[name] for _, e in entries)
    return output_type(**fields)


@dataclass
class VisionCache:
    """Each seen image's grid and vision embeddings, least recently used dropped first, bounded by bytes.
    A lock guards the entries: a server counts a prompt's tokens with the processor in another thread.

    Attributes:
        max_bytes: the bound; an image whose embeddings are larger is not kept.
        hits, misses: images found / not found (each distinct image once per call).
        encoded: images run through the vision tower.
    """

    max_bytes: int
    entries: OrderedDict[bytes, tuple[torch.Tensor, Entry, int]] = field(default_factory=OrderedDict)
    size: int = 0
    hits: int = 0
    misses: int = 0
    encoded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def grid(self, key: bytes) -> torch.Tensor | None:
        """The (t, h, w) grid of a cached image (now the most recently used), or None."""
        with self.lock:
            if key not in self.entries:
                self.misses += 1
                return None
            self.hits += 1
            self.entries.move_to_end(key)
            return self.entries[key][0]

    def clear(self) -> None:
        """Forget every image (the counters stay)."""
        with self.lock:
            self.entries.clear()
            self.size = 0

    def put(self, key: bytes, grid: torch.Tensor, entry: Entry) -> None:
        """Keep an image's grid and embeddings, dropping the least recently used images until they fit."""
        size = nbytes(entry[1])
        with self.lock:
            if size > self.max_bytes or key in self.entries:
                return
            while self.size + size > self.max_bytes:
                _, (_, _, dropped) = self.entries.popitem(last=False)
                self.size -= dropped
            self.entries[key] = (grid, entry, size)
            self.size += size

    def encode(self, model: PreTrainedModel, batch: BatchFeature) -> BatchFeature:
        """Turn a batch from the processor with a `CachedImageProcessor` into one for `generate`: the new
        images' `pixel_values` go through the vision tower (one call), the others' embeddings come from the
        cache, and all of them, in order, become `mm_encoder_outputs`."""
        keys = [bytes(row) for row in batch.pop("image_digests").cpu().numpy()]
        new = batch.pop("image_new").tolist()
        with self.lock:
            entries = {key: self.entries[key][1] for key in dict.fromkeys(keys) if key in self.entries}
        fresh = [i for i, is_new in enumerate(new) if is_new]
        grids = batch["image_grid_thw"]
        if fresh:
            output = model.get_image_features(batch.pop("pixel_values"), grids[fresh], return_dict=True)
            images = per_image(output, len(fresh))
            if not all(images):
                raise ValueError(f"vision cache: {type(output).__name__} has no per-image fields")
            entries |= {keys[i]: (type(output), image) for i, image in zip(fresh, images, strict=True)}
            self.encoded += len(fresh)
        batch["mm_encoder_outputs"] = {"image": joined([entries[key] for key in keys])}
        for i in fresh:  # after every cached entry was read: a put may drop one
            self.put(keys[i], grids[i].cpu(), entries[keys[i]])
        return batch


class CachedImageProcessor:
    """Stands in for a processor's `image_processor`: every image's `image_grid_thw` row (the processor
    sizes each image's placeholder tokens from it), `pixel_values` rows for the images the cache lacks
    only (each once), and two columns for `VisionCache.encode`: `image_digests` (N, 16) uint8 and
    `image_new` (N,) bool. Any other attribute is the wrapped image processor's.

    Args:
        inner: the image processor.
        cache: the engine's cache.
    """

    def __init__(self, inner: Any, cache: VisionCache) -> None:
        self.inner, self.cache = inner, cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, images: list[Image.Image], **kwargs: Any) -> BatchFeature:
        options = repr(sorted(kwargs.items()))
        keys = [image_digest(image, options) for image in images]
        grids = {key: grid for key in dict.fromkeys(keys) if (grid := self.cache.grid(key)) is not None}
        first = {key: keys.index(key) for key in dict.fromkeys(keys) if key not in grids}
        data: dict[str, Any] = {}
        if first:
            out = self.inner([images[i] for i in first.values()], **kwargs)
            grids |= dict(zip(first, out["image_grid_thw"], strict=True))
            data["pixel_values"] = out["pixel_values"]
        data["image_grid_thw"] = torch.stack([grids[key] for key in keys])
        data["image_digests"] = torch.tensor([list(key) for key in keys], dtype=torch.uint8)
        data["image_new"] = torch.tensor([first.get(key) == i for i, key in enumerate(keys)])
        return BatchFeature(data)

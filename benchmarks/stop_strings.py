"""Benchmark: the cost, per `generate` call, of stop strings in the transformers engine, on a vocabulary of
Qwen's size. `generate(stop_strings=...)` builds transformers' `StopStringCriteria` from the whole
vocabulary on every call (its embedding cache still re-reads and hashes the vocabulary); the engine builds
it once per stop tuple (`TransformersEngine.stop_criteria`) and passes it as `stopping_criteria`.

The tokenizer is a byte-level BPE of 151,643 random tokens (Qwen2's vocabulary size; no real tokenizer can
be downloaded here). Multi-turn evaluation and tree search call `generate` with stop strings every round.

    python benchmarks/stop_strings.py [--vocab 151643] [--calls 7]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import string
import time

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, StopStringCriteria

from groundrl.engines.hf import TransformersEngine

STOP = ("</tool_call>", "</answer>")  # multi-turn evaluation's


def big_tokenizer(size: int) -> PreTrainedTokenizerFast:
    rng = random.Random(0)
    vocab: dict[str, int] = {}
    while len(vocab) < size:
        token = "".join(rng.choice(string.ascii_letters + "Ġ<>/_") for _ in range(rng.randint(1, 10)))
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer)


def seconds(work, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        work()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=151_643)
    parser.add_argument("--calls", type=int, default=7)
    args = parser.parse_args()
    tokenizer = big_tokenizer(args.vocab)
    # what generate(stop_strings=...) does on each call
    per_call = seconds(lambda: StopStringCriteria(tokenizer, list(STOP)), args.calls)
    # the engine's way: the same method on a stand-in holding only the processor and the criteria
    engine = TransformersEngine.__new__(TransformersEngine)
    engine.processor, engine._stop_criteria = type("P", (), {"tokenizer": tokenizer})(), {}
    cached = seconds(lambda: engine.stop_criteria(STOP), args.calls)
    print(f"machine: {platform.machine()}, transformers {transformers.__version__}, vocabulary {args.vocab:,}")
    print("| stop strings per generate call | first call, s | median of the rest, s |")
    print("| --- | ---: | ---: |")
    print(f"| built each call (`stop_strings=`) | {per_call[0]:.3f} | {statistics.median(per_call[1:]):.3f} |")
    print(f"| built once per engine (`stop_criteria`) | {cached[0]:.3f} | {statistics.median(cached[1:]):.6f} |")


if __name__ == "__main__":
    main()

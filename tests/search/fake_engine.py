"""A deterministic stand-in for a model: each answer is a function of its prompt's text and seed only,
so a tree search over it must come out the same for any batching. It thinks in points on a small grid
(so that some repeat and get pruned) and answers from a few options (so that some answers are right)."""

from __future__ import annotations

import hashlib
import random
import time

from groundrl.engines import Generation, Prompt, Sampling

ANSWERS = ("red", "green", "blue", "B", "(40, 30)", "[10, 10, 50, 40]")


def prompt_text(prompt: Prompt) -> str:
    return "\n".join(
        p.get("text", "") for m in prompt.messages for p in m["content"] if isinstance(p, dict) and "text" in p
    )


class FakeEngine:
    """Args: answer_rate: chance that a free step answers; delay_s: seconds per generate call (for kills);
    answers: what it answers, at random."""

    def __init__(self, answer_rate: float = 0.3, delay_s: float = 0.0, answers: tuple[str, ...] = ANSWERS) -> None:
        self.answer_rate, self.delay_s, self.answers = answer_rate, delay_s, answers
        self.batches: list[int] = []

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        self.batches.append(len(prompts))
        time.sleep(self.delay_s)
        return [[Generation(self.one(p), 8, 0.0)] for p in prompts]

    def one(self, prompt: Prompt) -> str:
        text = prompt_text(prompt)
        digest = hashlib.blake2b(f"{text}|{prompt.seed}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "big"))
        point = f"({rng.randrange(0, 60, 10)}, {rng.randrange(0, 50, 10)})"
        if "final answer now" in text or rng.random() < self.answer_rate:
            return f"So it is at {point}. <answer> {rng.choice(self.answers)} </answer>"
        return f"I look at {point} next."

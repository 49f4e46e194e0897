"""One tree's search as a coroutine: it yields the calls it needs (an expansion's children, one step of
every live rollout) and is sent their texts, so that a scheduler can batch the calls of many trees.

Every call carries its own seed, derived from the tree's seed and the call's place in the tree (what it
expands or rolls out, the simulation, the index), never from its position in a batch: a tree comes out
the same for any batch size, number of trees in flight or server concurrency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import dataclass

from PIL import Image

from groundrl.models.families import Family
from groundrl.search.config import MCTSConfig
from groundrl.search.steps import Target, parse_thought, reward, same_point
from groundrl.search.tree import Node, Rollout, add_children, backup, select, thoughts, used_points

SEED_BITS = 31  # every engine takes a seed this large (vLLM, SGLang, OpenAI, torch)


def derive_seed(*parts: object) -> int:
    """A seed from any parts, stable across runs and machines (not Python's salted `hash`).

    >>> derive_seed(0, "tree-1") == derive_seed(0, "tree-1") != derive_seed(0, "tree-2")
    True
    """
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 2**SEED_BITS


@dataclass
class Problem:
    """What one tree searches: the question, the image as the model sees it, and how answers are judged.

    Attributes:
        id: the record's id.
        question: the user text.
        image: the record's target image.
        system: the tree's system prompt (with its "at least K thoughts").
        target: the judge and the ground truth.
        family: the model family (coordinate convention).
        seed: the tree's seed.
    """

    id: str
    question: str
    image: Image.Image
    system: str
    target: Target
    family: Family
    seed: int


@dataclass(frozen=True)
class Call:
    """One model call: the thoughts so far, whether to answer now, and the call's own seed."""

    thoughts: tuple[str, ...]
    answer_now: bool
    seed: int


Search = Generator[list[Call], list[str], Node]


def search_tree(problem: Problem, cfg: MCTSConfig) -> Search:
    """MCTS over one problem: `cfg.simulations` rounds of select -> expand -> evaluate -> backup.

    Each new child is backed up along its path with its value (a terminal child's judgement, else the
    mean reward of its rollouts), so every node on the path gets one visit per new child.

    Yields:
        the calls a step needs; is sent their generated texts, in the same order.

    Returns:
        the root of the searched tree.
    """
    root = Node()
    for sim in range(cfg.simulations):
        path = select(root, cfg.c_uct)
        leaf = path[-1]
        if leaf.terminal:
            backup(path, leaf.reward or 0.0)
            continue
        forced = leaf.depth + 1 >= cfg.max_depth
        context = tuple(thoughts(path))
        calls = [
            Call(context, forced, derive_seed(problem.seed, "expand", leaf.path, sim, k)) for k in range(cfg.width)
        ]
        texts = yield calls
        children = add_children(path, texts, forced, cfg.dedup_points)
        values = yield from evaluate(problem, path, children, cfg)
        for child, value in zip(children, values, strict=True):
            backup([*path, child], value)
    return root


def evaluate(
    problem: Problem, path: list[Node], children: list[Node], cfg: MCTSConfig
) -> Generator[list[Call], list[str], list[float]]:
    """The value of each new child: a terminal child's judgement, else `cfg.rollouts` rollouts of at most
    `cfg.rollout_len` thoughts (the last told to answer), all children's rollouts stepped together."""
    runs: list[tuple[Node, int, list[str]]] = []
    for child in children:
        if child.terminal:
            child.reward = reward(child.answer, problem.target, problem.family)
        else:
            runs += [(child, r, []) for r in range(cfg.rollouts)]
    answers: dict[tuple[tuple[int, ...], int], str | None] = {}
    for step in range(cfg.rollout_len):
        live = [(child, r, steps) for child, r, steps in runs if (child.path, r) not in answers]
        if not live:
            break
        last = step == cfg.rollout_len - 1
        calls = [
            Call(
                (*thoughts(path), child.text, *steps),
                last,
                derive_seed(problem.seed, "rollout", child.path, r, step),
            )
            for child, r, steps in live
        ]
        texts = yield calls
        for (child, r, steps), text in zip(live, texts, strict=True):
            steps.append(text.strip())
            thought = parse_thought(text)
            if thought.terminal or last:
                answers[(child.path, r)] = thought.answer
    for child, r, steps in runs:
        child.rollouts.append(_rollout(problem, [*path, child], steps, answers.get((child.path, r))))
    return [child.reward if child.terminal else _mean([r.reward for r in child.rollouts]) or 0.0 for child in children]


def _rollout(problem: Problem, path: list[Node], steps: list[str], answer: str | None) -> Rollout:
    used = used_points(path)
    points = [p for s in steps for p in parse_thought(s).points]
    same = sum(1 for p in points if any(same_point(p, q) for q in used))
    score = reward(answer, problem.target, problem.family)
    return Rollout(steps, answer, score, same, len(points) - same)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None

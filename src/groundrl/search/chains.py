"""Single-turn chains from a searched tree (ViGoRL's linearisation, ../shared/VIGORL.md section 2).

For every node: each correct rollout is a chain (the path's thoughts, then the rollout's); each wrong x
correct pair of its rollouts is a chain with a correction between the two; a correct terminal node's path
is a chain too. Chains are deduplicated by text and capped per tree, in the tree's depth-first order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from groundrl.search.prompts import CORRECTION
from groundrl.search.steps import parse_thought
from groundrl.search.tree import Node


@dataclass(frozen=True)
class Chain:
    """A linear chain of reasoning: its thoughts (without answers) and the final answer it ends with."""

    steps: tuple[str, ...]
    answer: str

    def text(self) -> str:
        """ViGoRL's single-turn text: the thoughts joined by spaces in <think>, then the answer.

        >>> Chain(("Look at (1, 2).", "It is red."), "red").text()
        '<think>\\nLook at (1, 2). It is red.\\n</think>\\n<answer> red </answer>'
        """
        return f"<think>\n{' '.join(self.steps)}\n</think>\n<answer> {self.answer} </answer>"


def _reasoning(texts: list[str]) -> list[str]:
    return [r for r in (parse_thought(t).text for t in texts) if r]


def _walk(node: Node, above: list[str]) -> Iterator[Chain]:
    path = [*above, node.text] if node.text else above
    if node.terminal and node.reward == 1.0 and node.answer is not None:
        yield Chain(tuple(_reasoning(path)), node.answer)
    right = [r for r in node.rollouts if r.reward == 1.0 and r.answer is not None]
    wrong = [r for r in node.rollouts if r.reward != 1.0]
    prefix = _reasoning(path)
    for good in right:
        yield Chain(tuple(prefix + _reasoning(good.steps)), good.answer)
    for bad in wrong:
        for good in right:
            steps = prefix + _reasoning(bad.steps) + [CORRECTION] + _reasoning(good.steps)
            yield Chain(tuple(steps), good.answer)
    for child in node.children:
        yield from _walk(child, path)


def tree_chains(root: Node, cap: int = 10_000) -> list[Chain]:
    """The tree's single-turn chains, deduplicated by text, at most `cap`.

    >>> from groundrl.search.tree import Rollout
    >>> child = Node("Look at (1, 2).", (0,), rollouts=[Rollout(["It is red. <answer> red </answer>"], "red", 1.0),
    ...                                                  Rollout(["Blue? <answer> blue </answer>"], "blue", 0.0)])
    >>> right, pair = tree_chains(Node(children=[child]))
    >>> right.steps, pair.steps[1:]
    (('Look at (1, 2).', 'It is red.'), ('Blue?', "Wait, this seems off. Let's try something else.", 'It is red.'))
    """
    seen: set[str] = set()
    chains = []
    for chain in _walk(root, []):
        text = chain.text()
        if text in seen:
            continue
        seen.add(text)
        chains.append(chain)
        if len(chains) >= cap:
            break
    return chains

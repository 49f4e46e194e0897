"""The search tree and MCTS's pure steps: select (UCT), add children (duplicate points pruned), backup.

A node is one thought; the root holds no text (the question and image belong to the tree). A node's
`path` is the child indices from the root, so `()` is the root and `(2, 0)` the first child of its third.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from groundrl.search.steps import parse_thought, same_point


@dataclass
class Rollout:
    """One rollout from a node (its thoughts are not nodes of the tree).

    Attributes:
        steps: the rollout's own thoughts, as generated.
        answer: its final answer, or None when it never answered.
        reward: the judge's 0 or 1.
        same_points: points of the rollout already named on its path; new_points: the others.
    """

    steps: list[str]
    answer: str | None
    reward: float
    same_points: int = 0
    new_points: int = 0


@dataclass
class Node:
    """One thought and its statistics.

    Attributes:
        text: the thought as generated ("" for the root).
        path: child indices from the root.
        terminal: the thought gave the final answer (or was told to).
        answer: the final answer of a terminal node.
        points: the inline points it names, in the family's convention.
        value: mean reward of the simulations through it (Q); visits: their number (N).
        reward: a terminal node's own judgement.
        children, rollouts: as the names say.
    """

    text: str = ""
    path: tuple[int, ...] = ()
    terminal: bool = False
    answer: str | None = None
    points: list[list[float]] = field(default_factory=list)
    value: float = 0.0
    visits: int = 0
    reward: float | None = None
    children: list[Node] = field(default_factory=list)
    rollouts: list[Rollout] = field(default_factory=list)

    @property
    def depth(self) -> int:
        return len(self.path)

    def to_dict(self) -> dict[str, Any]:
        """The node and its subtree as plain JSON data."""
        return {
            "text": self.text,
            "path": list(self.path),
            "terminal": self.terminal,
            "answer": self.answer,
            "points": self.points,
            "value": self.value,
            "visits": self.visits,
            "reward": self.reward,
            "rollouts": [vars(r) for r in self.rollouts],
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        """A node (and its subtree) from `to_dict`'s data."""
        node = cls(**{k: v for k, v in data.items() if k not in ("children", "rollouts", "path")})
        node.path = tuple(data["path"])
        node.rollouts = [Rollout(**r) for r in data["rollouts"]]
        node.children = [cls.from_dict(c) for c in data["children"]]
        return node


def uct(child: Node, parent_visits: int, c: float) -> float:
    """`Q + c * sqrt(ln(N_parent + 1) / (N_child + 1))`, no prior (ViGoRL's UCT)."""
    return child.value + c * math.sqrt(math.log(parent_visits + 1) / (child.visits + 1))


def select(root: Node, c: float) -> list[Node]:
    """The path from the root down to the node to expand or re-judge: descend until a terminal node, a
    leaf, or a node with an unvisited child (that child ends the path); else take the child of highest
    UCT (the first on ties)."""
    path = [root]
    node = root
    while node.children and not node.terminal:
        unvisited = [child for child in node.children if child.visits == 0]
        node = unvisited[0] if unvisited else max(node.children, key=lambda ch: uct(ch, node.visits, c))
        path.append(node)
        if unvisited:
            break
    return path


def thoughts(path: list[Node]) -> list[str]:
    """The thoughts along a path (the root has none), as they go into the next call's prompt."""
    return [node.text for node in path[1:]]


def used_points(path: list[Node]) -> list[list[float]]:
    """Every point named along a path."""
    return [p for node in path for p in node.points]


def add_children(path: list[Node], texts: list[str], forced: bool, dedup_points: bool) -> list[Node]:
    """Turn an expansion's generated texts into children of the path's last node; returns the new ones.

    Args:
        path: root .. the node being expanded.
        texts: the generated thoughts.
        forced: the call was told to answer now; its children are terminal whatever they say.
        dedup_points: drop a child that names a point already used on the path.
    """
    leaf, used = path[-1], used_points(path)
    added = []
    for raw in texts:
        thought = parse_thought(raw)
        if dedup_points and any(same_point(p, q) for p in thought.points for q in used):
            continue
        if not thought.text and thought.answer is None:
            continue  # nothing said at all
        child = Node(
            text=raw.strip(),
            path=(*leaf.path, len(leaf.children)),
            terminal=thought.terminal or forced,
            answer=thought.answer,
            points=thought.points,
        )
        leaf.children.append(child)
        added.append(child)
    return added


def backup(path: list[Node], reward: float) -> None:
    """Every node of the path gets one more visit and the reward in its running mean."""
    for node in path:
        node.visits += 1
        node.value += (reward - node.value) / node.visits


def count_nodes(root: Node) -> int:
    """Nodes of the tree, the root included."""
    return 1 + sum(count_nodes(c) for c in root.children)

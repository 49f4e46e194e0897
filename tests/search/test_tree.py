"""MCTS's pure steps and the judges, by the numbers."""

from __future__ import annotations

import math

import pytest

from groundrl.models.families import FAMILIES
from groundrl.search.mcts import derive_seed
from groundrl.search.steps import Target, judge_for, parse_thought, reward
from groundrl.search.tree import Node, add_children, backup, select, uct

QWEN25 = FAMILIES["qwen2.5-vl"]


def test_uct_is_the_published_formula_and_select_takes_its_maximum():
    child = Node(value=0.5, visits=3)
    assert uct(child, 10, 2.0) == pytest.approx(0.5 + 2.0 * math.sqrt(math.log(11) / 4))
    a, b = Node("a", (0,), value=0.9, visits=9), Node("b", (1,), value=0.1, visits=1)
    root = Node(visits=10, children=[a, b])
    assert select(root, 2.0)[-1] is b  # rarely visited: exploration wins at c = 2
    assert select(root, 0.1)[-1] is a  # little exploration: the best value wins
    fresh = Node("c", (2,))
    root.children.append(fresh)
    assert select(root, 0.1) == [root, fresh]  # an unvisited child ends the descent
    done = Node("d", (0,), terminal=True, visits=1, children=[Node("x", (0, 0))])
    assert select(Node(visits=1, children=[done]), 2.0)[-1] is done  # never below a terminal node


def test_backup_keeps_a_running_mean_on_every_node_of_the_path():
    path = [Node(), Node("a", (0,))]
    for r in (1.0, 0.0, 0.0, 1.0):
        backup(path, r)
    assert [(n.visits, n.value) for n in path] == [(4, 0.5), (4, 0.5)]
    backup(path[:1], 1.0)
    assert (path[0].visits, path[0].value) == (5, pytest.approx(0.6))


def test_children_repeating_a_point_of_their_path_are_pruned_by_number():
    root = Node()
    parent = Node("At (12, 30).", (0,), points=[[12.0, 30.0]])
    root.children.append(parent)
    texts = ["Back to (12.0, 30).", "Now (12, 31).", "", "<answer> B </answer>"]
    added = add_children([root, parent], texts, forced=False, dedup_points=True)
    assert [c.text for c in added] == ["Now (12, 31).", "<answer> B </answer>"]
    assert [c.path for c in added] == [(0, 0), (0, 1)] and [c.terminal for c in added] == [False, True]
    kept = add_children([root, parent], ["Back to (12.0, 30)."], forced=True, dedup_points=False)
    assert kept[0].terminal and kept[0].answer is None  # told to answer: terminal whatever it says


def test_a_thought_is_taken_apart():
    t = parse_thought("<think>First (1, 2) then ( 3.5 , -4 ).</think>\n<answer> (B) green </answer>")
    assert (t.text, t.points, t.answer) == ("First (1, 2) then ( 3.5 , -4 ).", [[1, 2], [3.5, -4]], "(B) green")
    assert parse_thought("<answer>unclosed").answer == "unclosed"


@pytest.mark.parametrize(
    ("target", "answer", "expected"),
    [
        (Target("qa", answer="Red car"), "It is the red  car.", 1.0),
        (Target("qa", answer="red car"), "a blue car", 0.0),
        (Target("choice", answer="green", choices=["red", "green"]), "(B) green", 1.0),
        (Target("choice", answer="green", choices=["red", "green"]), "A", 0.0),
        # a 640 x 480 image: Qwen2.5-VL sees 644 x 476, so (322, 238) is the original (320, 240)
        (Target("point", box=[300, 230, 330, 250], width=640, height=480), "(322, 238)", 1.0),
        (Target("point", box=[300, 230, 330, 250], width=640, height=480), "(10, 10)", 0.0),
        (Target("iou", box=[0, 0, 100, 100], width=640, height=480), "[0, 0, 101, 99]", 1.0),
        (Target("iou", box=[0, 0, 100, 100], width=640, height=480), "[0, 0, 40, 100]", 0.0),
        (Target("qa", answer="red"), None, 0.0),
    ],
)
def test_judges(target, answer, expected):
    assert reward(answer, target, QWEN25) == expected


def test_the_judge_follows_the_task_unless_set():
    assert [judge_for(t, c) for t, c in [("qa", ["a"]), ("qa", None), ("point", None), ("rec", None)]] == [
        "choice",
        "qa",
        "point",
        "iou",
    ]
    assert judge_for("rec", None, "point") == "point"
    with pytest.raises(ValueError, match="detection"):
        judge_for("detection", None)


def test_seeds_are_stable_across_processes():
    assert derive_seed(0, "tree-1") == 1335735803  # blake2b, not Python's salted hash
    assert derive_seed(0, "expand", (0, 1), 2, 0) != derive_seed(0, "expand", (0, 1), 2, 1)

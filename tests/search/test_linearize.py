"""`groundrl linearize`: single-turn chains (correct rollouts, wrong x correct pairs, dedup, cap) and
multi-turn zoom-in chains in exactly ViGoRL's SFT format, the three published bugs avoided, and
search -> linearize -> sft end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageChops

from groundrl.data.pipeline import Source, read_sources
from groundrl.models.families import FAMILIES
from groundrl.search.chains import tree_chains
from groundrl.search.config import MCTSConfig, SearchConfig
from groundrl.search.linearize import LinearizeConfig, _cuts, linearize
from groundrl.search.prompts import CORRECTION, FINAL_THINK
from groundrl.search.run import run_search
from groundrl.search.tree import Node, Rollout
from groundrl.tools.zoom import PRESETS, zoom
from helpers import run_cli, write_jsonl
from search.fake_engine import FakeEngine

# the chain frame of a 112 x 84 image: twice its size (sides multiples of 28)
SMALL_FRAME = {"min_pixels": 37_000, "max_pixels": 38_000}
OBSERVATION = "<observation>\nHere is the crop of the image centered on the coordinate:\n<image>\n</observation>"


def rollout(steps: list[str], answer: str | None, reward: float) -> Rollout:
    return Rollout(steps, answer, reward)


def tree_line(tmp_path: Path, tree_id: str, root: Node, task: str = "qa", **fields) -> dict:
    image = tmp_path / f"{tree_id}.png"
    Image.effect_noise((112, 84), 60).convert("RGB").save(image)
    row = {"id": tree_id, "question": "Which colour?", "image": str(image), "task": task, "answer": "red"}
    row |= {"boxes": None, "choices": None, "image_size": [112, 84], "family": "qwen2.5-vl", "judge": "qa"}
    return row | {"system_prompt": "Think.", "tree": root.to_dict()} | fields


def small_tree() -> Node:
    first = Node(
        "I look at (20, 16).",
        (0,),
        rollouts=[
            rollout(["It is red there. <answer> red </answer>"], "red", 1.0),
            rollout(["Blue at (50, 40). <answer> blue </answer>"], "blue", 0.0),
            rollout(["It is red there. <answer> red </answer>"], "red", 1.0),  # a duplicate chain
        ],
    )
    second = Node("<answer> red </answer>", (1,), terminal=True, answer="red", reward=1.0)
    return Node(children=[first, second])


def test_single_turn_chains_are_correct_rollouts_pairs_and_correct_answers_deduplicated():
    chains = tree_chains(small_tree())
    assert [c.steps for c in chains] == [
        ("I look at (20, 16).", "It is red there."),
        ("I look at (20, 16).", "Blue at (50, 40).", CORRECTION, "It is red there."),
        (),
    ]
    assert [c.answer for c in chains] == ["red"] * 3
    assert len(tree_chains(small_tree(), cap=2)) == 2


def test_single_turn_output_is_vigorl_sft(tmp_path):
    trees = write_jsonl(tmp_path / "trees.jsonl", [tree_line(tmp_path, "t1", small_tree())])
    out = tmp_path / "single.jsonl"
    assert linearize(trees, out, LinearizeConfig()) == 3
    first = json.loads(out.read_text().splitlines()[0])
    assert first["messages"][2]["content"] == (
        "<think>\nI look at (20, 16). It is red there.\n</think>\n<answer> red </answer>"
    )
    assert (first["images"], first["gt_answer"], first["id"]) == (["t1.png"], "red", "t1-0")
    records = list(read_sources([Source(out, "vigorl-sft", tmp_path)]))
    assert [r.task for r in records] == ["qa"] * 3


def test_multi_turn_chain_is_exactly_the_zoom_format_with_points_in_the_resized_frame(tmp_path):
    trees = write_jsonl(tmp_path / "trees.jsonl", [tree_line(tmp_path, "t1", small_tree())])
    out = tmp_path / "multi.jsonl"
    cfg = LinearizeConfig(mode="multi", move_first_call=0.0, **SMALL_FRAME)
    assert linearize(trees, out, cfg) == 3
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [m["role"] for m in rows[1]["messages"]] == ["system", "user", "assistant", "user"] * 1 + [
        "assistant",
        "user",
        "assistant",
    ]
    call = '<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [%d, %d]}}\n</tool_call>'
    assert [m["content"] for m in rows[1]["messages"][2:]] == [
        "<think>\nI look at (40, 32).\n</think>\n" + call % (40, 32),  # (20, 16) in a frame twice as large
        OBSERVATION,
        "<think>\nBlue at (100, 80).\n</think>\n" + call % (100, 80),
        OBSERVATION,
        f"<think>\n{CORRECTION} It is red there. {FINAL_THINK}\n</think>\n<answer> red </answer>",
    ]
    full = Image.open(tmp_path / rows[1]["images"][0])
    assert full.size == (224, 168) and len(rows[1]["images"]) == 3
    assert "(224 x 168)" in rows[1]["messages"][0]["content"]
    records = list(read_sources([Source(out, "vigorl-sft", tmp_path)]))
    assert records[1].image_token_count() == 3 and "<tool_response>" in records[1].messages[3]["content"]
    assert rows[2]["messages"][2]["content"] == f"<think>\n{FINAL_THINK}\n</think>\n<answer> red </answer>"


def test_bug_coordinate_answers_are_rescaled_not_a_crash(tmp_path):
    """ViGoRL's multi-turn builder crashed on coordinate answers (web grounding)."""
    child = Node("Click (30, 20).", (0,), rollouts=[rollout(["<answer> (30, 20) </answer>"], "(30, 20)", 1.0)])
    row = tree_line(tmp_path, "web", Node(children=[child]), task="point", answer=None, boxes=[[25, 15, 40, 30]])
    trees = write_jsonl(tmp_path / "trees.jsonl", [row])
    out = tmp_path / "multi.jsonl"
    assert linearize(trees, out, LinearizeConfig(mode="multi", **SMALL_FRAME)) == 1
    written = json.loads(out.read_text())
    assert written["messages"][-1]["content"].endswith("<answer> (60, 40) </answer>")
    assert written["gt_answer"] == "(50, 30, 80, 60)"  # the target box in the resized image's pixels
    (record,) = read_sources([Source(out, "vigorl-sft", tmp_path)])
    assert record.task == "point" and record.boxes == [[50, 30, 80, 60]]


def test_bug_every_crop_has_its_own_file_and_shows_its_own_point(tmp_path):
    """ViGoRL overwrote the image indices of earlier chains with the last partial batch's."""
    lines = []
    for t in range(3):
        steps = [f"Then ({10 * k + t}, {5 * k + 3}). It is red. <answer> red </answer>" for k in range(4)]
        child = Node(f"Start at ({t + 1}, 2).", (0,), rollouts=[rollout([s], "red", 1.0) for s in steps])
        lines.append(tree_line(tmp_path, f"t{t}", Node(children=[child])))
    trees = write_jsonl(tmp_path / "trees.jsonl", lines)
    out = tmp_path / "multi.jsonl"
    assert linearize(trees, out, LinearizeConfig(mode="multi", move_first_call=0.0, **SMALL_FRAME)) == 12
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    crops = [(row, k, path) for row in rows for k, path in enumerate(row["images"][1:])]
    assert len(crops) == 24 and len({path for *_, path in crops}) == 24
    family = FAMILIES["qwen2.5-vl"]
    for row, k, path in crops:
        call = [m["content"] for m in row["messages"] if m["role"] == "assistant" and "<tool_call>" in m["content"]][k]
        x, y = json.loads(call.split("<tool_call>\n")[1].split("\n</tool_call>")[0])["arguments"]["coordinate"]
        full = Image.open(tmp_path / row["images"][0]).convert("RGB")
        expected = zoom(full, (x, y), family, PRESETS["qa"]).image
        assert not ImageChops.difference(Image.open(tmp_path / path).convert("RGB"), expected).getbbox()


def test_bug_reasoning_after_the_last_tool_call_is_kept(tmp_path):
    """ViGoRL dropped what the chain said after its last tool call."""
    steps = ["At (10, 10) there is a cup.", "At (30, 30) a plate.", "So the cup is left of the plate, and red."]
    child = Node(steps[0], (0,), rollouts=[rollout([*steps[1:], "<answer> red </answer>"], "red", 1.0)])
    trees = write_jsonl(tmp_path / "trees.jsonl", [tree_line(tmp_path, "t", Node(children=[child]))])
    out = tmp_path / "multi.jsonl"
    linearize(trees, out, LinearizeConfig(mode="multi", move_first_call=0.0, max_calls=1, **SMALL_FRAME))
    final = json.loads(out.read_text())["messages"][-1]["content"]
    assert final.startswith("<think>\nthere is a cup. At (60, 60) a plate. So the cup is left of the plate, and red.")


def test_calls_at_first_mentions_up_to_the_cap_and_the_order_augmentation():
    text = "See (1, 2). Again (1, 2). Now (3, 4). Then (5, 6). Last (7, 8)."
    assert _cuts(text, 3, False) == [(11, [1, 2]), (37, [3, 4]), (50, [5, 6])]
    assert _cuts(text, 3, True)[0] == (25, [1.0, 2.0])  # the first call moves to the next sentence's end
    moved = sum(random.Random(k).random() < 0.2 for k in range(1000))
    assert 150 < moved < 250


def test_search_then_linearize_then_sft_trains_on_the_chains(tiny_models, tmp_path):
    (tmp_path / "img").mkdir()
    records = []
    for k in range(3):
        Image.effect_noise((112, 84), 40 + k).convert("RGB").save(tmp_path / "img" / f"{k}.png")
        records.append({"id": f"r{k}", "images": [f"img/{k}.png"], "image_sizes": [[112, 84]], "task": "point"})
        records[-1] |= {"question": "click the button", "boxes": [[30, 20, 60, 45]]}  # the fake's (40, 30) is right
    data = write_jsonl(tmp_path / "records.jsonl", records)
    mcts = MCTSConfig(simulations=3, rollout_len=3)
    run_search(
        SearchConfig(model="fake", family="qwen2.5-vl", data=str(data), mcts=mcts),
        tmp_path / "s",
        FakeEngine(answers=("(40, 30)", "(9, 9)")),
    )
    chains = tmp_path / "chains.jsonl"
    args = ["--mode", "multi", "--out", str(chains), *(f"{k}={v}" for k, v in SMALL_FRAME.items())]
    result = run_cli("linearize", str(tmp_path / "s" / "trees.jsonl"), *args, "cap=2", "crop_size=56", check=True)
    n = int(result.stdout.split()[0])
    assert 3 <= n <= 6 and len(chains.read_text().splitlines()) == n
    sft = run_cli(
        "sft",
        f"model={tiny_models['qwen2.5-vl']}",
        f"data={chains}",
        "format=vigorl-sft",
        f"output_dir={tmp_path / 'sft'}",
        "trl.max_steps=1",
        "trl.per_device_train_batch_size=2",
        check=True,
    )
    assert "model:" in sft.stdout
    logged = [json.loads(x) for x in (tmp_path / "sft" / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in logged if "loss" in row]
    assert len(losses) == 1 and 0 < losses[0] < 100  # one step on the chains, a finite loss


def test_bad_linearize_settings_are_one_line_errors(tmp_path):
    trees = write_jsonl(tmp_path / "trees.jsonl", [tree_line(tmp_path, "t1", small_tree())])
    bad = run_cli("linearize", str(trees), "--mode", "double", "--out", str(tmp_path / "x.jsonl"))
    assert bad.returncode == 2 and "--mode 'double': expected one of single, multi" in bad.stderr
    bad = run_cli("linearize", str(trees), "--out", str(tmp_path / "x.jsonl"), "caps=3")
    assert bad.returncode == 2 and "cap" in bad.stderr and not (tmp_path / "x.jsonl").exists()


def test_points_move_through_the_frame_of_the_processor_the_search_used(tmp_path):
    child = Node("Centre (28, 28).", (0,), rollouts=[rollout(["<answer> red </answer>"], "red", 1.0)])
    for pixels, expected in ((None, "(56, 56)"), ([3136, 4704], "(28, 28)")):
        # default bounds: the model saw 112 x 84 as is; at most 4704 px it saw 56 x 56, and sees the
        # 224 x 168 chain image as 56 x 56 too: the centre stays (28, 28)
        row = tree_line(tmp_path, "t", Node(children=[child]), family_pixels=pixels)
        trees = write_jsonl(tmp_path / "trees.jsonl", [row])
        out = tmp_path / "multi.jsonl"
        linearize(trees, out, LinearizeConfig(mode="multi", move_first_call=0.0, **SMALL_FRAME))
        assert f"Centre {expected}." in json.loads(out.read_text())["messages"][2]["content"]

"""Files hold items as a JSON array or one per line whatever their format; arrays tolerate a trailing
comma (with a warning) and nothing else; a file read in the wrong format gets a hint of the right one."""

import json
import logging
import shutil
from pathlib import Path

import pytest

from groundrl.data.containers import is_json_array, load_json_array
from groundrl.data.pipeline import Source, read_sources
from groundrl.errors import InputError

FIX = Path(__file__).parent / "fixtures"
IMG = FIX / "img"


def first_error(path: Path, fmt: str, root: Path = IMG) -> str:
    with pytest.raises(InputError) as info:
        list(read_sources([Source(path, fmt, root)]))
    return str(info.value)


def test_sniffing(tmp_path):
    cases = {"a.json": "\ufeff \n\n [1]", "b.jsonl": '{"a": 1}\n', "c.json": "", "d.json": " " * 10_000 + "[]"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert [is_json_array(tmp_path / name) for name in cases] == [True, False, False, True]


def test_array_formats_read_jsonl_and_jsonl_formats_read_arrays(tmp_path):
    rows = json.loads((FIX / "sharegpt.json").read_text())
    (tmp_path / "sharegpt.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    as_lines = list(read_sources([Source(tmp_path / "sharegpt.jsonl", "sharegpt", IMG)]))
    as_array = list(read_sources([Source(FIX / "sharegpt.json", "sharegpt", IMG)]))
    assert [r.messages for r in as_lines] == [r.messages for r in as_array] and len(as_lines) == 2
    vlmr1 = [json.loads(line) for line in (FIX / "vlm-r1.jsonl").read_text().splitlines()]
    (tmp_path / "vlm-r1.json").write_text(json.dumps(vlmr1, indent=2))
    records = list(read_sources([Source(tmp_path / "vlm-r1.json", "vlm-r1", IMG)]))
    assert [r.id for r in records] == [1, 2, 3] and records[0].boxes == [[4.5, 6, 30, 40.25]]


def test_trailing_commas_are_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "t.json"
    path.write_text('[\n  {"a": ",]", "b": [1, 2,],\n  },\n]\n')
    with caplog.at_level(logging.WARNING):
        data = load_json_array(path)
    assert data == [{"a": ",]", "b": [1, 2]}]  # the comma inside the string is kept
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        f"warning: {path}:2: trailing comma before ']' ignored (not valid JSON)",
        f"warning: {path}:2: trailing comma before '}}' ignored (not valid JSON)",
        f"warning: {path}:3: trailing comma before ']' ignored (not valid JSON)",
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[\n{"a": 1},\n{"a": 2\n]', 4, "Expecting ',' delimiter"),
        ('[\n{"a": 1,},\n{"a" 2},\n]', 2, "Expecting property name"),  # tolerated only where all else is JSON
        ("[\n1,,\n]", 2, "Expecting value"),
        ('[\n{"a": "x,]"\n', 3, "Expecting ',' delimiter"),
    ],
)
def test_broken_arrays_keep_the_parsers_error(tmp_path, caplog, text, line, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING), pytest.raises(InputError) as info:
        load_json_array(path)
    assert str(info.value).startswith(f"{path}:{line}: not valid JSON ({message}")
    assert info.value.reason == "not_json" and not caplog.records


def test_not_an_array(tmp_path):
    path = tmp_path / "obj.json"
    path.write_text('[{"a": 1}]')
    assert load_json_array(path) == [{"a": 1}]
    path.write_text('  ["a"] ')
    assert first_error(path, "sharegpt") == f"{path}[0]: expected a JSON object, got str"


@pytest.mark.parametrize(
    ("fixture", "fmt", "hint"),
    [
        ("sharegpt.json", "groundrl", "looks like a JSON array of sharegpt items (messages, images): try -f sharegpt"),
        ("vlm-r1.jsonl", "groundrl", "looks like JSONL of vlm-r1 items (image, conversations): try -f vlm-r1"),
        ("qwen-vl.json", "sharegpt", "looks like a JSON array of qwen-vl items (image, conversations): try -f qwen-vl"),
        ("univg-rl.json", "vlm-r1", "try -f univg-rl"),
        ("screenspot.json", "sharegpt", "try -f screenspot"),
        ("egm-eval.jsonl", "vlm-r1", "try -f egm-eval"),
        ("vigorl-sft.jsonl", "groundrl", "try -f vigorl-sft"),
        ("groundrl.jsonl", "vlm-r1", "looks like JSONL of groundrl items (id, images): try -f groundrl"),
    ],
)
def test_wrong_format_hints_the_right_one(fixture, fmt, hint):
    message = first_error(FIX / fixture, fmt)
    assert message.endswith(hint) and "\n" not in message
    assert message.startswith(f"{FIX / fixture}[0]: " if fixture.endswith(".json") else f"{FIX / fixture}:1: ")


def test_no_hint_for_an_item_of_the_chosen_shape(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": 1, "image": "a.png", "conversations": [{"from": "gpt", "value": "x"}]}\n')
    assert (
        first_error(tmp_path / "a.jsonl", "vlm-r1") == f"{tmp_path / 'a.jsonl'}:1: field 'conversations': no human turn"
    )
    (tmp_path / "b.jsonl").write_text('{"id": 1}\n')
    assert first_error(tmp_path / "b.jsonl", "groundrl") == f"{tmp_path / 'b.jsonl'}:1: field 'images': missing"


def test_hint_only_for_the_first_item(tmp_path):
    rows = [json.loads(line) for line in (FIX / "groundrl.jsonl").read_text().splitlines()]
    rows[1] = {"messages": [{"role": "user", "content": "x"}], "images": ["img/a.png"]}
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert first_error(tmp_path / "g.jsonl", "groundrl", FIX) == f"{tmp_path / 'g.jsonl'}:2: field 'id': missing"


def test_a_json_document_read_as_jsonl(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"accuracy": 90.6, "results": []}, indent=2))
    assert first_error(path, "groundrl") == (
        f"{path}:1: not valid JSON (Expecting property name enclosed in double quotes at column 1); "
        "the file looks like one JSON document over several lines, not JSONL"
    )


def test_trailing_comma_file_converts(tmp_path):
    shutil.copy(FIX / "qwen-vl.json", tmp_path / "q.json")
    text = (tmp_path / "q.json").read_text().rstrip().removesuffix("]").rstrip() + ",\n]\n"
    (tmp_path / "q.json").write_text(text)
    records = list(read_sources([Source(tmp_path / "q.json", "qwen-vl", IMG)]))
    assert len(records) == 3


def test_undecodable_array_and_a_folder_are_one_line_errors(tmp_path):
    (tmp_path / "bad.json").write_bytes(b'[\n{"a": 1},\n\xff]')
    assert first_error(tmp_path / "bad.json", "sharegpt") == (
        f"{tmp_path / 'bad.json'}:3: not UTF-8 text (invalid start byte at byte 12)"
    )
    assert first_error(tmp_path, "vlm-r1") == f"{tmp_path}: a folder, not a vlm-r1 file"

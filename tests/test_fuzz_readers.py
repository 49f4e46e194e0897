"""Property-based fuzzing of the record readers of every format and of `groundrl score`'s line reader:
any line, any JSON value, yields records or an InputError, never another exception and never a hang."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groundrl.boxes.parse import parse_box, parse_detections, parse_point
from groundrl.data.formats import FORMATS
from groundrl.data.pipeline import Source, read_sources
from groundrl.data.records import Record
from groundrl.errors import InputError
from groundrl.eval.scoring import ScoredLine, iter_scored

# Bounded for CI; GROUNDRL_FUZZ_EXAMPLES=5000 searches harder locally.
EXAMPLES = int(os.environ.get("GROUNDRL_FUZZ_EXAMPLES", "60"))
# Derandomized at the default size, so CI runs the same examples every time; a deeper local run searches afresh.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    derandomize="GROUNDRL_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow],
)
FILE_FORMATS = sorted(name for name, f in FORMATS.items() if f.container in ("jsonl", "json"))
# The keys the readers and the scorer look up, so that generated items reach past the first missing field.
KEYS = [
    "id",
    "images",
    "image",
    "image_sizes",
    "image_index",
    "task",
    "question",
    "boxes",
    "labels",
    "point",
    "answer",
    "choices",
    "meta",
    "source",
    "messages",
    "conversations",
    "accu_reward_method",
    "problem",
    "gt_answer",
    "sent",
    "bbox",
    "height",
    "width",
    "img_filename",
    "img_size",
    "instruction",
    "ui_type",
    "output",
    "gt",
    "gt_labels",
    "family",
    "coords",
    "input_width",
    "input_height",
    "from",
    "value",
    "role",
    "content",
    "type",
    "text",
]

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e300, -1e300, 10**25]),
)
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from([*KEYS, "human", "gpt", "user", "assistant", "<image>", "rec", "qa", "detection", "abs"]),
    st.builds(lambda b: f"<answer>{json.dumps(b)}</answer>", st.lists(numbers, max_size=5)),
    st.builds(lambda b: f'```json\n[{{"bbox_2d": {json.dumps(b)}}}]\n```', st.lists(numbers, max_size=5)),
    st.builds(lambda b: f"<box>{json.dumps(b)}</box>", st.lists(numbers, max_size=5)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner)
    ),
    max_leaves=25,
)
items = st.dictionaries(st.sampled_from(KEYS), values, max_size=12)
lines = st.one_of(
    items.map(lambda item: json.dumps(item)),
    values.map(json.dumps),
    st.text(max_size=80).filter(lambda t: "\n" not in t and "\r" not in t),
    st.sampled_from(["[" * 5000, "[" * 3000 + "]" * 3000, '{"id": ' + "9" * 5000 + "}", "  ", '{"a": NaN}']),
)

_DIR = Path(tempfile.mkdtemp(prefix="groundrl-fuzz-"))
FIXTURES = Path(__file__).parent / "data" / "fixtures"
# The fixtures' images, where their items name them (`a.png` and `img/a.png`): readers that need an image's
# size get past it to the fields after.
shutil.copytree(FIXTURES / "img", _DIR, dirs_exist_ok=True)
shutil.copytree(FIXTURES / "img", _DIR / "img")


def _read(fmt: str, name: str, text: str) -> list[Record]:
    path = _DIR / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return _records_or_input_error(path, fmt)


def _records_or_input_error(path: Path, fmt: str) -> list[Record]:
    """The file's records, or [] for an InputError that a reader's own checks raised. A `malformed` error is
    the pipeline's safety net catching an exception no check anticipated (say a TypeError): a finding."""
    try:
        return list(read_sources([Source(path, fmt, _DIR)]))
    except InputError as e:
        assert e.reason != "malformed", str(e)
        return []


@FUZZ
@given(fmt=st.sampled_from(FILE_FORMATS), line=lines)
def test_any_jsonl_line_is_records_or_an_input_error(fmt, line):
    records = _read(fmt, "fuzz.jsonl", line + "\n")
    assert all(isinstance(r, Record) for r in records)


@FUZZ
@given(fmt=st.sampled_from(FILE_FORMATS), array=st.lists(st.one_of(items, values), max_size=4))
def test_any_json_array_is_records_or_an_input_error(fmt, array):
    records = _read(fmt, "fuzz.json", json.dumps(array))
    assert all(isinstance(r, Record) for r in records)


@FUZZ
@given(fmt=st.sampled_from(FILE_FORMATS), data=st.binary(max_size=200))
def test_any_bytes_are_records_or_an_input_error(fmt, data):
    path = _DIR / "fuzz.bin"
    path.write_bytes(data)
    assert all(isinstance(r, Record) for r in _records_or_input_error(path, fmt))


@FUZZ
@given(line=st.one_of(lines, st.dictionaries(st.sampled_from(KEYS), values, max_size=12).map(json.dumps)))
def test_any_score_line_is_scored_or_an_input_error(line):
    for item in iter_scored([line], "preds.jsonl"):
        assert isinstance(item, ScoredLine | InputError)


prediction = st.fixed_dictionaries(
    {"id": st.just("a"), "output": texts, "gt": st.one_of(st.lists(numbers, min_size=4, max_size=4), values)},
    optional={
        "width": numbers,
        "height": numbers,
        "task": st.sampled_from(["box", "point", "detection", "qa", "nope"]),
        "coords": st.sampled_from(["abs", "norm1000", "norm1", "resized", "nope"]),
        "family": st.sampled_from(["qwen2-vl", "qwen2.5-vl", "qwen3-vl", "nope"]),
        "input_width": numbers,
        "input_height": numbers,
        "choices": values,
        "gt_labels": values,
    },
)


@FUZZ
@given(row=prediction)
def test_near_valid_predictions_are_scored_or_an_input_error(row):
    for item in iter_scored([json.dumps(row)], "preds.jsonl"):
        assert isinstance(item, ScoredLine | InputError)


def _fixture_items() -> list[tuple[str, dict]]:
    """(format, item) for every item of the published-format fixtures: the seeds that mutations start from."""
    seeds = []
    for path in sorted(FIXTURES.glob("*.json*")):
        fmt = {"vlm-r1-ovd": "vlm-r1", "screenspot-pro": "screenspot"}.get(path.stem, path.stem)
        text = path.read_text()
        loaded = json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines() if x]
        seeds += [(fmt, item) for item in loaded]
    return seeds


SEEDS = _fixture_items()


@st.composite
def mutated(draw, value):
    """`value` with one place in it (any depth) replaced by an arbitrary value, or a key or item removed."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        if draw(st.integers(0, 4)) == 0:
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: draw(mutated(value[key]))}
    if isinstance(value, list) and value and draw(st.booleans()):
        k = draw(st.integers(0, len(value) - 1))
        return [*value[:k], draw(mutated(value[k])), *value[k + 1 :]]
    if isinstance(value, str) and draw(st.booleans()):  # a box text with odd numbers in it
        return draw(st.sampled_from(["[{}]", "({})", "<box>[{}]</box>", '{{"bbox_2d": [{}]}}'])).format(
            ", ".join(map(str, draw(st.lists(numbers, max_size=5))))
        )
    return draw(values)


@FUZZ
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_published_items_are_records_or_an_input_error(seed, data):
    fmt, item = seed
    records = _read(fmt, "fuzz.jsonl", json.dumps(data.draw(mutated(item))) + "\n")
    assert all(isinstance(r, Record) for r in records)


@FUZZ
@given(text=st.one_of(texts, st.text(max_size=200), lines))
def test_the_output_parsers_return_a_box_a_point_or_nothing(text):
    box, point = parse_box(text), parse_point(text)
    for parsed, n in ((box, 4), (point, 2)):
        assert parsed is None or (len(parsed) == n and all(isinstance(v, float) for v in parsed)), parsed
    assert isinstance(parse_detections(text), list)

"""report.md and report.html: the table, and a gallery that a real headless Chromium renders and filters."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from groundrl.eval.report import write_reports

IMG = Path(__file__).parents[1] / "data" / "fixtures" / "img"


def row(split, rid, *, hit, parsed=1, iou=0.0, images=("a.png",), pred=(4, 6, 30, 40)):
    return {
        "split": split,
        "id": rid,
        "task": "rec",
        "question": f"question {rid}",
        "images": [str(IMG / p) for p in images],
        "image_index": len(images) - 1,
        "image_sizes": [[64, 48]] * len(images),
        "gt": [4, 6, 30, 40],
        "outputs": ["answer"],
        "num_tokens": [7],
        "latency_s": 0.1,
        "batch_s": 0.2,
        "batch_n": 2,
        "pred": list(pred) if parsed else None,
        "iou": iou,
        "hit": hit,
        "center_hit": hit,
        "parsed": parsed,
        "groups": {},
    }


@pytest.fixture
def run_dir(tmp_path):
    rows = [
        row("val", "h1", hit=True, iou=0.9),
        row("val", "h2", hit=True, iou=0.8, images=("a.png", "b.png")),
        row("val", "m1", hit=False, iou=0.1, pred=(40, 30, 60, 44)),
        row("testA", "f1", hit=False, parsed=0),
    ]
    (tmp_path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_markdown_and_json(run_dir):
    metrics = write_reports(run_dir)
    assert metrics["splits"]["val"]["acc@0.5"] == pytest.approx(2 / 3)
    assert metrics["splits"]["testA"]["parse_failures"] == 1
    assert metrics["average"]["acc@0.5"] == pytest.approx((2 / 3 + 0) / 2)
    md = (run_dir / "report.md").read_text()
    assert "| val | 3 | 0.667 | 0.667 |" in md and "| **average** |" in md
    assert json.loads((run_dir / "metrics.json").read_text())["overall"]["n"] == 4


def chromium_dom(page: Path, fragment: str) -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (make test installs it)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={page.parent / 'chrome-profile'}",
        "--virtual-time-budget=3000",
        "--dump-dom",
    ]
    proc = subprocess.run([browser, *flags, page.as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.parametrize(
    ("fragment", "kind", "shown"),
    [("", "all", 4), ("#filter=miss", "miss", 1), ("#filter=hit", "hit", 2), ("#filter=fail", "fail", 1)],
)
def test_gallery_renders_and_filters_in_chromium(run_dir, fragment, kind, shown):
    write_reports(run_dir)
    dom = chromium_dom(run_dir / "report.html", fragment)
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-filter="{kind}"' in body and f'data-shown="{shown}"' in body
    assert 'data-images-decoded="5"' in body  # every gallery image decoded (the multi-image record shows both)
    cards = re.findall(r'<div class="card (\w+)" data-kind="\w+"( style="display: none;")?', dom)
    visible = [k for k, hidden in cards if not hidden]
    assert len(visible) == shown and (kind == "all" or set(visible) == {kind})


def _decoded(data: str):
    import base64
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_a_multiturn_card_shows_the_crops_in_order_and_the_points_on_the_image(tmp_path):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 200), (0, 160, 0))  # left half green, right half yellow
    ImageDraw.Draw(image).rectangle((200, 0, 400, 200), fill=(240, 220, 0))
    image.save(tmp_path / "full.png")
    looks = [  # first the yellow half, then the green one
        {"point": [750, 500], "original": [300, 100], "window": [250, 50, 350, 150]},
        {"point": [250, 500], "original": [100, 100], "window": [50, 50, 150, 150]},
    ]
    trajectory = {"turns": ["a", "b", "c"], "looks": looks, "tool_calls": 2, "errors": 0, "forced": False}
    multi = row("val", "z1", hit=True, images=(), pred=(1, 1, 2, 2)) | {"images": [str(tmp_path / "full.png")]}
    multi |= {"image_index": 0, "image_sizes": [[400, 200]], "trajectories": [trajectory]}
    (tmp_path / "predictions.jsonl").write_text(json.dumps(multi) + "\n")
    write_reports(tmp_path)
    page = (tmp_path / "report.html").read_text()
    crops = re.findall(r'<img class="crop" src="data:image/jpeg;base64,([^"]+)" alt="crop (\d)">', page)
    assert [n for _, n in crops] == ["1", "2"] and "2 tool call(s)" in page
    first, second = (_decoded(data) for data, _ in crops)
    assert first.getpixel((40, 40))[0] > 200 and second.getpixel((40, 40))[0] < 40  # yellow, then green
    full = _decoded(re.search(r'<img src="data:image/jpeg;base64,([^"]+)" alt="image 1">', page).group(1))
    scale = 256 / 400
    for look in looks:  # a blue dot at each point, blue window edges
        r, g, b = full.getpixel((round(look["original"][0] * scale), round(look["original"][1] * scale)))
        assert b > 150 and r < 120
        r, g, b = full.getpixel((round(look["window"][0] * scale), round(100 * scale)))
        assert b > 120 and g < 160
    single = row("val", "s1", hit=True)
    (tmp_path / "predictions.jsonl").write_text(json.dumps(single) + "\n")
    write_reports(tmp_path)
    assert 'class="crop"' not in (tmp_path / "report.html").read_text()

"""Reports of an evaluation run: metrics.json, report.md (splits x metrics), and report.html: one
self-contained page (plots and images embedded) with the table and a gallery of predictions drawn on
their images (ground truth green, prediction red), filterable by hits, misses and parse failures. A
multi-turn prediction (tools=zoom) also shows its first trajectory's zoom-ins: each window and point
numbered in blue on the full image, then the crops in the order the model asked for them."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from groundrl.data.images import ImageProblem, load_image
from groundrl.eval.metrics import compute_metrics, read_predictions

GREEN, RED, BLUE = (30, 170, 60), (230, 30, 30), (40, 90, 230)
TABLE_METRICS = (
    "n",
    "accuracy",
    "acc@0.5",
    "acc@0.3",
    "acc@0.7",
    "miou",
    "center_acc",
    "parse_failures",
    "tokens_mean",
    "latency_p50_s",
    "samples_per_s",
)
GALLERY = 60
THUMB = 256
CROP_THUMB = 80


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown_table(metrics: dict) -> str:
    lines = ["| split | " + " | ".join(TABLE_METRICS) + " |", "| --- |" + " ---: |" * len(TABLE_METRICS)]
    for name, m in metrics["splits"].items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m[k]) for k in TABLE_METRICS) + " |")
    avg = metrics["average"]
    lines.append("| **average** | " + " | ".join(_fmt(avg.get(k)) for k in TABLE_METRICS) + " |")
    return "\n".join(lines)


def groups_markdown(metrics: dict) -> str:
    parts = []
    for split, keys in metrics["groups"].items():
        for key, values in keys.items():
            parts.append(f"\n### {split} by {key}\n\n| {key} | n | accuracy | acc@0.5 |\n| --- | ---: | ---: | ---: |")
            for value, m in values.items():
                parts.append(f"| {value or '-'} | {m['n']} | {_fmt(m['accuracy'])} | {_fmt(m['acc@0.5'])} |")
    return "\n".join(parts)


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def plots(rows: list[dict], metrics: dict) -> list[str]:
    """Base64 PNGs: accuracy per split, IoU histogram, generated tokens histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = []
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(metrics["splits"])
    ax.bar(names, [metrics["splits"][n]["accuracy"] or 0 for n in names], color="#3a7")
    ax.set(ylim=(0, 1), ylabel="accuracy", title="accuracy per split")
    ax.tick_params(axis="x", rotation=30)
    images.append(_png(fig))
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].hist([r["iou"] for r in rows if r["iou"] is not None] or [0], bins=20, range=(0, 1), color="#37a")
    axes[0].set(title="IoU", xlabel="IoU", ylabel="answers")
    axes[1].hist([t for r in rows for t in r["num_tokens"]] or [0], bins=20, color="#a73")
    axes[1].set(title="generated tokens", xlabel="tokens", ylabel="answers")
    images.append(_png(fig))
    plt.close(fig)
    return images


def _jpeg(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def _thumb(image: Image.Image, side: int) -> tuple[Image.Image, float]:
    """The image resized so that its longer side is `side`, and the scale applied."""
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale)))), scale


def _looks(row: dict) -> list[dict]:
    """The zoom-ins of the row's first trajectory (none for a single-turn row)."""
    trajectories = row.get("trajectories") or [{}]
    return trajectories[0].get("looks", [])


def _draw(row: dict, k: int, path: str) -> str | None:
    try:
        image = load_image(path)
    except ImageProblem:
        return None
    image, scale = _thumb(image, THUMB)
    if k == row["image_index"]:
        draw = ImageDraw.Draw(image)
        if isinstance(row["gt"], list):
            draw.rectangle([v * scale for v in row["gt"]], outline=GREEN, width=3)
        pred = row["pred"]
        if isinstance(pred, list) and len(pred) == 4:
            draw.rectangle([v * scale for v in pred], outline=RED, width=3)
        elif isinstance(pred, list):
            x, y = pred[0] * scale, pred[1] * scale
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=RED, width=3)
        for n, look in enumerate(_looks(row), start=1):
            x, y = look["original"][0] * scale, look["original"][1] * scale
            draw.rectangle([v * scale for v in look["window"]], outline=BLUE, width=2)
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=BLUE)
            draw.text((x + 6, y - 6), str(n), fill=BLUE)
    return _jpeg(image)


def _crops(row: dict) -> list[str]:
    """The first trajectory's crops, in order, cut again from the full image by their windows."""
    looks = _looks(row)
    if not looks:
        return []
    try:
        image = load_image(row["images"][row["image_index"]])
    except ImageProblem:
        return []
    return [_jpeg(_thumb(image.crop(tuple(round(v) for v in look["window"])), CROP_THUMB)[0]) for look in looks]


def _card(row: dict) -> str:
    kind = "fail" if row["parsed"] == 0 else "hit" if row["hit"] else "miss"
    pictures = []
    for k, path in enumerate(row["images"]):
        data = _draw(row, k, path)
        if data:
            pictures.append(f'<img src="data:image/jpeg;base64,{data}" alt="image {k + 1}">')
    crops = "".join(
        f'<img class="crop" src="data:image/jpeg;base64,{data}" alt="crop {n}">'
        for n, data in enumerate(_crops(row), start=1)
    )
    if "trajectories" in row:
        t = row["trajectories"][0]
        forced = ", answer forced" if t["forced"] else ""
        crops = f'<div class="crops">{crops}</div><p class="a">{t["tool_calls"]} tool call(s){forced}</p>'
    score = f"IoU {row['iou']:.2f}" if row["iou"] is not None else ("hit" if row["hit"] else "miss")
    if kind == "fail":
        score = "parse failure"
    answer = html.escape(str(row["outputs"][0])[:160]) if row["outputs"] else ""
    return (
        f'<div class="card {kind}" data-kind="{kind}">{"".join(pictures)}{crops}'
        f'<p class="q">{html.escape(str(row["question"])[:160])}</p>'
        f'<p class="s {kind}">{html.escape(row["split"])} · {score}</p><p class="a">{answer}</p></div>'
    )


def filter_script(items: str) -> str:
    """The JavaScript of a gallery's filter buttons (`.filters button` with `data-f`): `show(f)` shows the
    elements matching the CSS selector `items` whose `data-kind` is f (every one for "all"), marks the
    button, counts them in `#shown`, and records the filter and count on the body (the browser test reads
    them); each button calls it."""
    return f"""function show(f) {{
  let n = 0;
  document.querySelectorAll('{items}').forEach(c => {{
    const on = f === 'all' || c.dataset.kind === f; c.style.display = on ? '' : 'none'; if (on) n++;
  }});
  document.querySelectorAll('.filters button').forEach(b => b.classList.toggle('on', b.dataset.f === f));
  document.getElementById('shown').textContent = n + ' shown';
  document.body.dataset.filter = f; document.body.dataset.shown = n;
}}
document.querySelectorAll('.filters button').forEach(b => b.addEventListener('click', () => show(b.dataset.f)));"""


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>GroundRL evaluation</title><style>
body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th:first-child,td:first-child{{text-align:left}}
.gallery{{display:flex;flex-wrap:wrap;gap:12px}} .card{{width:{thumb}px;border:1px solid #ddd;padding:6px}}
.card img{{max-width:100%;display:block;margin-bottom:4px}}
.crops{{display:flex;gap:4px}} .crops img.crop{{width:{crop}px;display:inline-block}} .q{{font-size:13px;margin:2px 0}}
.a{{font-size:11px;color:#666;margin:2px 0;word-break:break-all}} .s.hit{{color:#1a6}} .s.miss,.s.fail{{color:#c22}}
.filters button{{margin-right:6px}} .filters button.on{{font-weight:bold}}
</style></head><body>
<h1>GroundRL evaluation</h1><p>{summary}</p>
<table><tr><th>split</th>{head}</tr>{body}</table>
{plots}
<h2>Predictions</h2><p class="filters">
<button data-f="all">all</button><button data-f="hit">hits</button><button data-f="miss">misses</button>
<button data-f="fail">parse failures</button> <span id="shown"></span></p>
<div class="gallery">{cards}</div>
<script>
{filters}
window.addEventListener('load', () => {{
  const imgs = [...document.querySelectorAll('.card img')];
  document.body.dataset.imagesDecoded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const m = location.hash.match(/filter=(\\w+)/); show(m ? m[1] : 'all');
}});
</script></body></html>"""


def write_reports(out: Path) -> dict:
    """metrics.json, report.md and report.html in the run folder; returns the metrics."""
    rows = read_predictions(out / "predictions.jsonl")
    metrics = compute_metrics(rows)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    overall = metrics["overall"]
    summary = f"{overall['n']} answers; accuracy {_fmt(overall['accuracy'])}; acc@0.5 {_fmt(overall['acc@0.5'])}"
    (out / "report.md").write_text(
        f"# GroundRL evaluation\n\n{summary}\n\n{markdown_table(metrics)}\n{groups_markdown(metrics)}\n"
    )
    head = "".join(f"<th>{k}</th>" for k in TABLE_METRICS)
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_fmt(m.get(k))}</td>" for k in TABLE_METRICS) + "</tr>"
        for name, m in [*metrics["splits"].items(), ("average", metrics["average"])]
    )
    plot_html = "".join(f'<img src="data:image/png;base64,{p}" alt="plot">' for p in plots(rows, metrics))
    cards = "".join(_card(r) for r in rows[:GALLERY])
    page = PAGE.format(
        thumb=THUMB,
        crop=CROP_THUMB,
        summary=html.escape(summary),
        head=head,
        body=body,
        plots=plot_html,
        cards=cards,
        filters=filter_script(".card"),
    )
    (out / "report.html").write_text(page)
    return metrics

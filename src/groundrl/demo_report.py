"""What the demo shows a user: figures with 95% intervals, the training curves, and one page that puts the
same held-out scenes after SFT and after GRPO side by side.

Figures come from the evaluation's predictions files (the same rows `groundrl eval` scores), so the
summary's acc@0.5 and mean IoU equal those in each stage's metrics.json: both count answers with a box
(`Tally`); unparsed answers are reported as parse failures.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from groundrl.data.images import ImageProblem, load_image
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.report import GREEN, RED, filter_script

Z95 = 1.959964  # two-sided 95% normal quantile
SCALE = 3  # the demo's 64 px scenes are drawn 3x larger, pixel for pixel, so that boxes stay legible


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval."""

    value: float
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [round(self.low, 4), round(self.high, 4)]


def wilson(hits: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion (stays inside [0, 1], unlike the normal one near 0 or 1).

    >>> [round(v, 3) for v in (wilson(0, 512).low, wilson(0, 512).high)]
    [0.0, 0.007]
    """
    if n == 0:
        return Interval(0.0, 0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: list[float], z: float = Z95, bounds: tuple[float, float] = (-1.0, 1.0)) -> Interval:
    """Mean and normal-approximation interval (mean +- z * sd / sqrt(n)), clipped to `bounds` (the values'
    range: [0, 1] for IoU, [-1, 1] for paired differences of hits).

    >>> mean_interval([0.0, 1.0] * 50).as_list()
    [0.4015, 0.5985]
    """
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0, 0.0)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, n - 1))
    half = z * sd / math.sqrt(n)
    return Interval(mean, max(bounds[0], mean - half), min(bounds[1], mean + half))


def _box_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["iou"] is not None]


def stage_figures(predictions: Path) -> dict:
    """acc@0.5 (Wilson interval), mean IoU (normal interval), n and parse failures of one evaluation."""
    rows = read_predictions(predictions)
    overall = compute_metrics(rows)["overall"]
    boxes = _box_rows(rows)
    acc = wilson(sum(r["iou"] >= 0.5 for r in boxes), len(boxes))
    miou = mean_interval([r["iou"] for r in boxes], bounds=(0.0, 1.0))
    return {
        "acc@0.5": overall["acc@0.5"] or 0.0,
        "acc@0.5_ci95": acc.as_list(),
        "miou": overall["miou"] or 0.0,
        "miou_ci95": miou.as_list(),
        "n": overall["n"],
        "parse_failures": overall["parse_failures"],
    }


def _hits(rows: list[dict]) -> dict[str, float]:
    return {str(r["id"]): float(r["iou"] is not None and r["iou"] >= 0.5) for r in rows}


def paired_gain(before: Path, after: Path) -> dict:
    """The change in acc@0.5 from one evaluation to another on the same scenes, with a paired interval
    (each scene gives -1, 0 or +1), and how many scenes it fixed and broke. Every scene counts here, an
    unparsed answer as a miss, so with parse failures it differs slightly from the difference of the two
    stages' acc@0.5 (which count box answers only)."""
    hits_before, hits_after = _hits(read_predictions(before)), _hits(read_predictions(after))
    diffs = [hits_after[k] - hits_before[k] for k in hits_before if k in hits_after]
    gain = mean_interval(diffs)
    return {
        "acc@0.5": round(gain.value, 4),
        "acc@0.5_ci95": gain.as_list(),
        "fixed": sum(d > 0 for d in diffs),
        "broken": sum(d < 0 for d in diffs),
    }


def figure_line(stage: str, m: dict) -> str:
    """One printed line: `after SFT   acc@0.5 0.633 [0.590, 0.674]  mean IoU 0.650 [0.622, 0.678]`."""
    acc, miou = m["acc@0.5_ci95"], m["miou_ci95"]
    return (
        f"{stage:<11} acc@0.5 {m['acc@0.5']:.3f} [{acc[0]:.3f}, {acc[1]:.3f}]  "
        f"mean IoU {m['miou']:.3f} [{miou[0]:.3f}, {miou[1]:.3f}]  (n {m['n']})"
    )


def gain_line(gain: dict) -> str:
    """`GRPO - SFT  +6.4 points [+4.1, +8.7] (paired; 51 scenes fixed, 18 broken)`."""
    low, high = (100 * v for v in gain["acc@0.5_ci95"])
    return (
        f"GRPO - SFT  {100 * gain['acc@0.5']:+.1f} points acc@0.5 [{low:+.1f}, {high:+.1f}] "
        f"(95%, paired; {gain['fixed']} scenes fixed, {gain['broken']} broken)"
    )


def plot_curves(metrics: Path, path: Path) -> Path:
    """SFT loss; GRPO reward with its IoU part; the fraction of GRPO groups whose samples all got the same
    reward (no signal: TRL's frac_reward_zero_std); completion length. One PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    sft_rows = [r for r in rows if r["stage"] == "sft" and "loss" in r]
    grpo_rows = [r for r in rows if r["stage"] == "grpo" and "reward" in r]
    panels = [
        (sft_rows, ["loss"], "SFT loss"),
        (grpo_rows, ["reward", "rewards/iou/mean"], "GRPO reward (mean of the group)"),
        (grpo_rows, ["frac_reward_zero_std"], "GRPO groups with zero reward variance"),
        (grpo_rows, ["completions/mean_length"], "completion length (tokens)"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.4))
    for ax, (data, keys, title) in zip(axes, panels, strict=True):
        for key, colour in zip(keys, ("#37a", "#a73"), strict=False):
            steps = [r["step"] for r in data if key in r]
            values = [r[key] for r in data if key in r]
            if not values:  # a reward the run did not use (the IoU column beside another reward)
                continue
            ax.plot(steps, values, color=colour, alpha=0.35, label=key)
            if len(values) >= 10:  # GRPO's per-step means are noisy: a 10-step moving average shows the trend
                smooth = [sum(values[i - 9 : i + 1]) / 10 for i in range(9, len(values))]
                ax.plot(steps[9:], smooth, color=colour, label=f"{key} (10-step mean)")
        ax.set(title=title, xlabel="step")
        if keys == ["loss"]:
            ax.set_yscale("log")  # the loss falls 100x; on a linear axis its later fall is invisible
        if len(ax.get_lines()) > 2:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _thumb(row: dict) -> str:
    """The scene, enlarged pixel for pixel, with the ground truth (green) and the prediction (red)."""
    try:
        image = load_image(row["images"][row["image_index"]])
    except ImageProblem:
        image = Image.new("RGB", (64, 64), (200, 200, 200))
    image = image.resize((image.width * SCALE, image.height * SCALE), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    draw.rectangle([v * SCALE for v in row["gt"]], outline=GREEN, width=3)
    if isinstance(row["pred"], list) and len(row["pred"]) == 4:
        draw.rectangle([v * SCALE for v in row["pred"]], outline=RED, width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _verdict(before: dict, after: dict) -> str:
    hit_before, hit_after = (r["iou"] is not None and r["iou"] >= 0.5 for r in (before, after))
    return "fixed" if hit_after and not hit_before else "broken" if hit_before and not hit_after else "same"


def _side(row: dict, stage: str) -> str:
    score = "parse failure" if row["iou"] is None else f"IoU {row['iou']:.2f}"
    return (
        f'<figure><img src="data:image/png;base64,{_thumb(row)}" alt="{stage}">'
        f"<figcaption>{stage}: {score}<br><code>{html.escape(str(row['outputs'][0])[:80])}</code>"
        "</figcaption></figure>"
    )


def _kind_table(pairs: list[tuple[dict, dict, str]], kinds: dict[str, str]) -> str:
    by_kind: dict[str, list[tuple[dict, dict, str]]] = {}
    for pair in pairs:
        by_kind.setdefault(kinds.get(str(pair[0]["id"]), "-"), []).append(pair)
    lines = ["<tr><th>expression kind</th><th>n</th><th>after SFT</th><th>after GRPO</th><th>fixed</th>"]
    lines[0] += "<th>broken</th></tr>"
    for kind, group in sorted(by_kind.items()):
        acc = [sum(p[i]["iou"] is not None and p[i]["iou"] >= 0.5 for p in group) / len(group) for i in (0, 1)]
        fixed, broken = (sum(p[2] == v for p in group) for v in ("fixed", "broken"))
        lines.append(
            f"<tr><td>{html.escape(kind)}</td><td>{len(group)}</td><td>{acc[0]:.3f}</td><td>{acc[1]:.3f}</td>"
            f"<td>{fixed}</td><td>{broken}</td></tr>"
        )
    return "<table>" + "".join(lines) + "</table>"


COMPARE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>GroundRL demo: SFT vs GRPO</title><style>
body{{font-family:sans-serif;margin:24px;color:#222}} table{{border-collapse:collapse;margin-bottom:16px}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} th:first-child,td:first-child{{text-align:left}}
.gallery{{display:flex;flex-wrap:wrap;gap:14px}} .pair{{border:1px solid #ddd;padding:6px;width:410px}}
.pair.fixed{{border-color:#1a6}} .pair.broken{{border-color:#c22}} .sides{{display:flex;gap:6px}}
figure{{margin:0}} figcaption{{font-size:11px;color:#555}} code{{font-size:10px;word-break:break-all}}
.q{{font-size:13px;margin:2px 0 6px}} .filters button.on{{font-weight:bold}}
</style></head><body>
<h1>The same held-out scenes after SFT and after GRPO</h1>
<p>{summary}</p>{kinds}
<p>Ground truth green, the model's box red. Scenes GRPO fixed come first, then those it broke.</p>
<p class="filters"><button data-f="all">all</button><button data-f="fixed">fixed by GRPO</button>
<button data-f="broken">broken by GRPO</button><button data-f="same">unchanged</button> <span id="shown"></span></p>
<div class="gallery">{cards}</div>
<script>
{filters}
show('all');
</script></body></html>"""


def write_comparison(sft: Path, grpo: Path, path: Path, kinds: dict[str, str], limit: int = 60) -> Path:
    """An HTML page of held-out scenes, each after SFT and after GRPO side by side: those GRPO fixed first,
    then those it broke, then unchanged ones, up to `limit`; with acc@0.5 per expression kind.

    Args:
        sft, grpo: the two evaluations' predictions.jsonl (the same records).
        path: the page to write.
        kinds: record id -> expression kind, for the per-kind table and the captions.
        limit: scenes shown.
    """
    after = {str(r["id"]): r for r in read_predictions(grpo)}
    pairs = [(r, after[str(r["id"])]) for r in read_predictions(sft) if str(r["id"]) in after]
    judged = [(b, a, _verdict(b, a)) for b, a in pairs]
    order = {"fixed": 0, "broken": 1, "same": 2}
    shown = sorted(judged, key=lambda p: order[p[2]])[:limit]  # sorted() is stable: held-out order within each
    cards = "".join(
        f'<div class="pair {v}" data-kind="{v}"><p class="q">{html.escape(str(b["question"]))} '
        f"<small>({html.escape(kinds.get(str(b['id']), '-'))}; {v})</small></p>"
        f'<div class="sides">{_side(b, "after SFT")}{_side(a, "after GRPO")}</div></div>'
        for b, a, v in shown
    )
    fixed, broken = (sum(p[2] == v for p in judged) for v in ("fixed", "broken"))
    summary = f"{len(judged)} held-out scenes: GRPO fixed {fixed} and broke {broken}; {len(shown)} shown."
    page = COMPARE_PAGE.format(
        summary=html.escape(summary), kinds=_kind_table(judged, kinds), cards=cards, filters=filter_script(".pair")
    )
    path.write_text(page, encoding="utf-8")
    return path

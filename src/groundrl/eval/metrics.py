"""Metrics from a predictions file: per split, per group (platform, element type, task), and averaged over
splits like the papers' tables; plus generated tokens, latency and throughput."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from statistics import mean

from groundrl.boxes.metrics import Tally


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(rows: list[dict]) -> dict:
    """Metrics of a list of prediction rows: the scorer's Tally (accuracy, acc@t, miou, ...), then tokens,
    latency and throughput."""
    n = len(rows)
    tally = Tally()
    for r in rows:
        tally.add(r["iou"], r["hit"], r["center_hit"], r["parsed"] > 0)
    tokens = [t for r in rows for t in r["num_tokens"]]
    latencies = [r["latency_s"] for r in rows]
    out = tally.as_dict()
    out["tokens_mean"] = mean(tokens) if tokens else None
    out["tokens_p50"] = _quantile(tokens, 0.5)
    out["tokens_p90"] = _quantile(tokens, 0.9)
    out["latency_p50_s"] = _quantile(latencies, 0.5)
    out["latency_p90_s"] = _quantile(latencies, 0.9)
    seconds = sum(r["batch_s"] / max(1, r["batch_n"]) for r in rows)
    out["samples_per_s"] = n / seconds if seconds > 0 else None
    return out


def read_predictions(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compute_metrics(rows: Iterable[dict]) -> dict:
    """{"splits": {name: metrics}, "groups": {split: {key: {value: metrics}}}, "average": ..., "overall": ...}."""
    rows = list(rows)
    by_split: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_split[row["split"]].append(row)
    splits = {name: summarise(split_rows) for name, split_rows in by_split.items()}
    groups: dict[str, dict] = {}
    for name, split_rows in by_split.items():
        keyed: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for row in split_rows:
            for key, value in row.get("groups", {}).items():
                keyed[key][value].append(row)
        if keyed:
            groups[name] = {key: {v: summarise(rs) for v, rs in sorted(vals.items())} for key, vals in keyed.items()}
    average = {}
    for metric in ("accuracy", "acc@0.5", "miou", "center_acc"):
        values = [m[metric] for m in splits.values() if m[metric] is not None]
        average[metric] = mean(values) if values else None
    return {"splits": splits, "groups": groups, "average": average, "overall": summarise(rows)}

"""Statistics of a record stream: counts by task and source, box size relative to the image, image sizes,
expression length; and a PNG of the distributions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from groundrl.data.records import IMAGE_TOKEN, Record


@dataclass
class DataStats:
    n: int = 0
    by_task: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    box_fraction: list[float] = field(default_factory=list)  # box area / image area
    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    images_per_record: Counter = field(default_factory=Counter)

    def add(self, record: Record) -> None:
        self.n += 1
        self.by_task[record.task] += 1
        self.by_source[record.source] += 1
        self.images_per_record[len(record.images)] += 1
        self.words.append(len(record.user_text().replace(IMAGE_TOKEN, " ").split()))
        if record.image_sizes:
            for w, h in record.image_sizes:
                self.widths.append(w)
                self.heights.append(h)
            w, h = record.image_sizes[record.image_index]
            for x1, y1, x2, y2 in record.boxes or []:
                self.box_fraction.append((x2 - x1) * (y2 - y1) / (w * h))

    def summary(self) -> dict:
        def dist(values: list[float]) -> dict | None:
            if not values:
                return None
            ordered = sorted(values)
            return {
                "min": ordered[0],
                "median": median(ordered),
                "p90": ordered[int(0.9 * (len(ordered) - 1))],
                "max": ordered[-1],
            }

        return {
            "n": self.n,
            "by_task": dict(self.by_task.most_common()),
            "by_source": dict(self.by_source.most_common()),
            "images_per_record": {str(k): v for k, v in sorted(self.images_per_record.items())},
            "box_area_fraction": dist(self.box_fraction),
            "image_width": dist(self.widths),
            "image_height": dist(self.heights),
            "expression_words": dist(self.words),
        }


def collect(records: Iterable[Record]) -> DataStats:
    stats = DataStats()
    for record in records:
        stats.add(record)
    return stats


def plot(stats: DataStats, out: Path, title: str) -> Path:
    """Four histograms in one PNG: box area fraction, image sizes, expression length, tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    axes[0, 0].hist(stats.box_fraction or [0], bins=30, color="#3a7")
    axes[0, 0].set(title="box area / image area", xlabel="fraction", ylabel="boxes")
    axes[0, 1].scatter(stats.widths or [0], stats.heights or [0], s=4, alpha=0.4, color="#37a")
    axes[0, 1].set(title="image sizes", xlabel="width (px)", ylabel="height (px)")
    axes[1, 0].hist(stats.words or [0], bins=range(0, max(stats.words or [1]) + 2), color="#a73")
    axes[1, 0].set(title="expression length", xlabel="words", ylabel="records")
    tasks = stats.by_task.most_common()
    axes[1, 1].bar([t for t, _ in tasks], [c for _, c in tasks], color="#777")
    axes[1, 1].set(title="records by task", ylabel="records")
    fig.suptitle(f"{title} ({stats.n:,} records)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

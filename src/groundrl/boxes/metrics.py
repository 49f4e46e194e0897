"""The one set of thresholds and aggregate metrics, shared by `groundrl score` and `groundrl eval`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

THRESHOLDS = (0.3, 0.5, 0.7)  # acc@t: share of box answers with IoU >= t


def ratio(count: float, total: int) -> float | None:
    """count / total, None when there is nothing to count."""
    return count / total if total else None


@dataclass
class Tally:
    """Running totals over judged answers; `as_dict` gives the published metrics.

    Box answers (those with an IoU) feed acc@t and mIoU; every answer feeds accuracy and center_acc.

    >>> t = Tally()
    >>> t.add(0.6, True, True, True); t.add(None, False, False, False)
    >>> t.as_dict()["acc@0.5"], t.as_dict()["accuracy"], t.as_dict()["parse_failures"]
    (1.0, 0.5, 1)
    """

    n: int = 0
    hits: int = 0
    n_box: int = 0
    iou_sum: float = 0.0
    box_hits: dict[float, int] = field(default_factory=lambda: dict.fromkeys(THRESHOLDS, 0))
    center_hits: int = 0
    parse_failures: int = 0

    def add(self, iou: float | None, hit: bool, center_hit: bool, parsed: bool) -> None:
        """Count one answer: its IoU (None when not a box answer), hit, centre hit, and whether it parsed."""
        self.n += 1
        self.hits += hit
        self.center_hits += center_hit
        self.parse_failures += not parsed
        if iou is None:
            return
        self.n_box += 1
        self.iou_sum += iou
        for t in THRESHOLDS:
            self.box_hits[t] += iou >= t

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        for name in ("n", "hits", "n_box", "iou_sum", "center_hits", "parse_failures"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for t in THRESHOLDS:
            self.box_hits[t] += other.box_hits[t]

    def as_dict(self) -> dict[str, Any]:
        """n, accuracy, acc@t for each threshold, miou, center_acc, parse_failures."""
        out: dict[str, Any] = {"n": self.n, "accuracy": ratio(self.hits, self.n)}
        for t in THRESHOLDS:
            out[f"acc@{t}"] = ratio(self.box_hits[t], self.n_box)
        out["miou"] = ratio(self.iou_sum, self.n_box)
        out["center_acc"] = ratio(self.center_hits, self.n)
        out["parse_failures"] = self.parse_failures
        return out

"""Matching a multi-box answer to its target boxes: greedy one-to-one pairs, best IoU first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from groundrl.boxes.geometry import iou


class Match(NamedTuple):
    """A predicted box `pred` (index) paired with target box `gt` (index) at IoU `iou`."""

    pred: int
    gt: int
    iou: float


def match_boxes(preds: Sequence[Sequence[float]], gts: Sequence[Sequence[float]], tau: float) -> list[Match]:
    """Greedy one-to-one matching: repeatedly pair the unmatched prediction and target with the highest IoU,
    while it is at least `tau` (ties: the earlier prediction, then the earlier target).

    >>> match_boxes([[0, 0, 10, 10], [0, 0, 10, 9]], [[0, 0, 10, 10]], 0.5)
    [Match(pred=0, gt=0, iou=1.0)]
    """
    pairs = sorted(
        ((iou(p, g), i, j) for i, p in enumerate(preds) for j, g in enumerate(gts)), key=lambda t: (-t[0], t[1], t[2])
    )
    used_p, used_g, matches = set(), set(), []
    for overlap, i, j in pairs:
        if overlap < tau:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matches.append(Match(i, j, overlap))
    return matches


def label_key(label: str | None) -> str:
    """A label as labels are compared: case and surrounding space ignored, None as ""."""
    return (label or "").strip().lower()


def same_label(a: str | None, b: str | None) -> bool:
    """Labels agree, ignoring case and surrounding space."""
    return label_key(a) == label_key(b)


def labelled_matches(
    matches: Sequence[Match], labels: Sequence[str | None] | None, gt_labels: Sequence[str | None] | None
) -> list[Match]:
    """The matches whose labels agree; all of them when there are no target labels."""
    if gt_labels is None:
        return list(matches)
    return [m for m in matches if same_label(labels[m.pred] if labels else None, gt_labels[m.gt])]


def f1_score(n_matched: int, n_pred: int, n_gt: int) -> float:
    """2 * matched / (predicted + target); 1 when both are empty.

    >>> f1_score(1, 2, 1)
    0.6666666666666666
    """
    if n_pred + n_gt == 0:
        return 1.0
    return 2 * n_matched / (n_pred + n_gt)

"""Referring expressions that pick out exactly one shape of a scene.

Three kinds, as in RefCOCO-style data:
- attribute: "the red circle" (colour and shape unique in the scene), or "the triangle" (shape unique);
- spatial: "the circle left of the red square" (exactly one circle lies on that side of the anchor);
- superlative: "the largest triangle" (clearly larger, by area, than every other triangle).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from groundrl.synth.scene import Shape

KINDS = ("attribute", "spatial", "superlative")
RELATIONS = ("left of", "right of", "above", "below")
SIZE_RATIO = 1.5  # the superlative target's area must differ from the others' by this factor


@dataclass(frozen=True)
class Expression:
    text: str
    target: int  # index into the scene's shapes
    kind: str


def attribute_expressions(shapes: list[Shape]) -> list[Expression]:
    names = Counter(s.name for s in shapes)
    kinds = Counter(s.kind for s in shapes)
    out = []
    for i, s in enumerate(shapes):
        if names[s.name] == 1:
            out.append(Expression(f"the {s.name}", i, "attribute"))
        if kinds[s.kind] == 1:
            out.append(Expression(f"the {s.kind}", i, "attribute"))
    return out


def _holds(relation: str, target: Shape, anchor: Shape) -> bool:
    (tx, ty), (ax, ay) = target.center, anchor.center
    return {"left of": tx < ax, "right of": tx > ax, "above": ty < ay, "below": ty > ay}[relation]


def spatial_expressions(shapes: list[Shape]) -> list[Expression]:
    names = Counter(s.name for s in shapes)
    out = []
    for a, anchor in enumerate(shapes):
        if names[anchor.name] != 1:
            continue
        for relation in RELATIONS:
            for kind in sorted({s.kind for s in shapes}):
                matches = [i for i, s in enumerate(shapes) if i != a and s.kind == kind and _holds(relation, s, anchor)]
                if len(matches) == 1:
                    out.append(Expression(f"the {kind} {relation} the {anchor.name}", matches[0], "spatial"))
    return out


def superlative_expressions(shapes: list[Shape]) -> list[Expression]:
    out = []
    for kind in sorted({s.kind for s in shapes}):
        group = sorted((s.area, i) for i, s in enumerate(shapes) if s.kind == kind)
        if len(group) < 2:
            continue
        if group[-1][0] >= SIZE_RATIO * group[-2][0]:
            out.append(Expression(f"the largest {kind}", group[-1][1], "superlative"))
        if group[1][0] >= SIZE_RATIO * group[0][0]:
            out.append(Expression(f"the smallest {kind}", group[0][1], "superlative"))
    return out


_BUILDERS = {"attribute": attribute_expressions, "spatial": spatial_expressions, "superlative": superlative_expressions}


def choose_expression(rng: random.Random, shapes: list[Shape], kinds: tuple[str, ...] = KINDS) -> Expression | None:
    """Pick a kind at random among those the scene allows, then an expression of that kind."""
    by_kind = {k: sorted(_BUILDERS[k](shapes), key=lambda e: (e.text, e.target)) for k in kinds}
    available = [k for k in kinds if by_kind[k]]
    if not available:
        return None
    return rng.choice(by_kind[rng.choice(available)])

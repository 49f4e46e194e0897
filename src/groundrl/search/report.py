"""A searched tree as one static HTML page: the image with every node's points drawn on it (ground truth
in green), the tree as nested lists with each node's value and visits, and the chosen chains."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from PIL import ImageDraw

from groundrl.data.images import ImageProblem, load_image
from groundrl.jsonio import complete_lines
from groundrl.search.chains import tree_chains
from groundrl.search.store import row_family
from groundrl.search.tree import Node

WIDTH = 480
GREEN = (30, 170, 60)
CHAINS_SHOWN = 5


def _colour(value: float) -> tuple[int, int, int]:
    """Red for value 0 to blue for value 1."""
    return round(230 * (1 - value)), 40, round(230 * value)


def _all_nodes(node: Node) -> list[Node]:
    return [node] + [n for c in node.children for n in _all_nodes(c)]


def _image(row: dict[str, Any], root: Node) -> str:
    """The image with each node's points, coloured by value, as an <img> (or a note when unreadable)."""
    try:
        image = load_image(row["image"])
    except ImageProblem as e:
        return f"<p>{html.escape(str(e))}</p>"
    width, height = image.size
    scale = min(1.0, WIDTH / width)
    image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    draw = ImageDraw.Draw(image)
    frame = row_family(row).frame(width, height)
    for box in row.get("boxes") or []:
        draw.rectangle([v * scale for v in box], outline=GREEN, width=2)
    for node in _all_nodes(root):
        for point in node.points:
            x, y = (v * scale for v in frame.to_original(point))
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=_colour(node.value), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def chosen_path(root: Node) -> list[Node]:
    """The path MCTS settles on: from the root, the most visited child (then the best valued) each time."""
    path = [root]
    while path[-1].children:
        path.append(max(path[-1].children, key=lambda c: (c.visits, c.value)))
    return path


def _node_html(node: Node, chosen: set[int]) -> str:
    r, g, b = _colour(node.value)
    label = f"Q={node.value:.2f} N={node.visits}"
    if node.terminal:
        label += f" answer={node.answer!r} reward={node.reward}"
    rollouts = ", ".join(f"{r.reward:.0f}" for r in node.rollouts)
    label += f" rollouts=[{rollouts}]" if rollouts else ""
    text = html.escape(node.text or "(root)")
    text = f"<b>{text}</b>" if id(node) in chosen else text
    children = "".join(_node_html(c, chosen) for c in node.children)
    inner = f"<ul>{children}</ul>" if children else ""
    return f'<li><span style="color:rgb({r},{g},{b})">{html.escape(label)}</span> {text}{inner}</li>'


def _tree_html(row: dict[str, Any]) -> str:
    root = Node.from_dict(row["tree"])
    target = row.get("answer") or row.get("boxes")
    chains = tree_chains(root)
    shown = "".join(f"<pre>{html.escape(c.text())}</pre>" for c in chains[:CHAINS_SHOWN])
    return (
        f"<section><h2>{html.escape(str(row['id']))}</h2>"
        f"<p>{html.escape(row['question'])}<br>target: {html.escape(str(target))}; "
        f"{row['nodes']} nodes, {row['calls']} calls, {row['seconds']} s</p>"
        f"{_image(row, root)}<p>the chosen path (most visits) in bold</p>"
        f"<ul>{_node_html(root, {id(n) for n in chosen_path(root)})}</ul>"
        f"<h3>chains ({len(chains)}, first {min(len(chains), CHAINS_SHOWN)})</h3>{shown}</section>"
    )


def write_report(trees: Path, out: Path, limit: int = 20) -> int:
    """Render the first `limit` trees of a trees.jsonl to `out`; returns how many were rendered."""
    rows = complete_lines(trees)[:limit]
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto} li{margin:2px 0} pre{white-space:pre-wrap}"
    body = "".join(_tree_html(row) for row in rows)
    out.write_text(f"<!doctype html><meta charset=utf-8><title>search trees</title><style>{style}</style>{body}")
    return len(rows)

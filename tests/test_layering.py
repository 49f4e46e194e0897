"""The layers of DESIGN.md hold: the scoring core stays light, and imports point down only."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "groundrl"

# Per layer, the parts of the package it must not import, at the top of a module or inside a function.
FORBIDDEN = {
    "boxes": ("groundrl",),  # pure: nothing of the package but itself
    "data": tuple(
        f"groundrl.{part}" for part in ("models", "train", "eval", "engines", "search", "tools", "cli", "demo", "serve")
    ),
}


def _imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative imports resolved."""
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _violations(layer: str, root: Path = PACKAGE) -> list[str]:
    own = f"groundrl.{layer}."
    return [
        f"{path.relative_to(root.parent)}:{line} imports {module}"
        for path in sorted((root / layer).rglob("*.py"))
        for line, module in sorted(_imported_modules(path, root))
        if not f"{module}.".startswith(own) and any(f"{module}.".startswith(f"{f}.") for f in FORBIDDEN[layer])
    ]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(layer):
    assert _violations(layer) == []


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    fake = tmp_path / "groundrl" / "data"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text(
        "from groundrl.boxes import iou\n"
        "def f():\n    from groundrl.models.families import Family\n"
        "from ..train import grpo\n"
        "import groundrl.eval.runner\n"
    )
    assert [v.split(" imports ")[1] for v in _violations("data", tmp_path / "groundrl")] == [
        "groundrl.models.families.Family",
        "groundrl.train.grpo",
        "groundrl.eval.runner",
    ]


def test_scoring_core_does_not_import_torch():
    # A fresh interpreter is what is tested: what importing these modules pulls into sys.modules.
    code = (
        "import sys, groundrl.boxes, groundrl.eval.scoring, groundrl.cli.app; "
        "heavy = [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

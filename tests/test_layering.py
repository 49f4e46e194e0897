"""The scoring core stays light: `groundrl score` never imports torch or transformers."""

import subprocess
import sys


def test_scoring_core_does_not_import_torch():
    code = (
        "import sys, groundrl.boxes, groundrl.eval.scoring, groundrl.cli.app; "
        "heavy = [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

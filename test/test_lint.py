"""Static checks on the whole tree: undefined names, unused imports/variables, syntax errors
(pyflakes rules via ruff, as ament_flake8 would report them)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_pyflakes_clean():
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    if not os.path.exists(ruff):
        pytest.skip("ruff not installed (pip install ruff)")
    proc = subprocess.run([ruff, "check", "--no-cache", "--select", "F,E9", "wham_ros", "test",
                           "bench", "launch", "tools"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr

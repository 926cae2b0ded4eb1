"""Every ``benchmarks/*.py`` script runs with ``--smoke`` and prints its ratio lines.

The benchmarks back the README's "Measured" figures; running each in its tiny ``--smoke`` setting
keeps them from rotting. ``gpu_check.py`` without a GPU only says so (exit 0, no ratio).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))
RATIO = re.compile(r"\d+(\.\d+)?x")


def test_benchmarks_are_found():
    assert len(SCRIPTS) >= 10
    assert ROOT / "benchmarks" / "gpu_check.py" in SCRIPTS


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_smoke(script: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{script.name} --smoke exited {proc.returncode}:\n{out[-3000:]}"
    if script.name == "gpu_check.py" and not torch.cuda.is_available():
        assert "no GPU" in proc.stdout
        return
    assert RATIO.search(proc.stdout), f"{script.name} --smoke printed no ratio:\n{out[-3000:]}"

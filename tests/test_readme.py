"""The README's API tour runs as written (it trains two small TCNs: marked slow)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_api_tour_runs(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no python block"
    script = tmp_path / "tour.py"
    script.write_text(blocks[0])
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600,
                          env={"SALIENCYLAB_CACHE": str(tmp_path / "cache"), "PATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]

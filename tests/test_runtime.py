"""The allocator setting of saliencylab.runtime, checked in fresh processes (it is process-wide).

Its speed effect is measured, not tested: ``benchmarks/allocator.py``."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

_SCRIPT = """
from saliencylab.runtime import tune_cpu_allocator
print(tune_cpu_allocator(), tune_cpu_allocator())
"""


def _run(tune: str) -> list[str]:
    env = {**os.environ, "SALIENCYLAB_TUNE_MALLOC": tune}
    return subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                          text=True, check=True).stdout.split()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc only")
def test_glibc_accepts_the_setting_once_and_the_switch_turns_it_off():
    # mallopt answers 0 to an unknown parameter or a bad value, so True means glibc took both.
    assert _run("1") == ["True", "True"]
    assert _run("0") == ["False", "False"]

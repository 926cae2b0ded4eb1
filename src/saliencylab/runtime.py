"""Process-wide settings that make CPU runs faster.

PyTorch takes CPU tensors from the C allocator. glibc serves blocks above its mmap threshold
(128 KiB, raised dynamically up to 32 MiB) with fresh ``mmap`` calls and returns them to the
system on ``free``, so every chunk of a batched explanation or metric touches brand-new pages:
on GunPoint with the [OBJ] FCN, LIME on 150 series spent 4.3 s of its 12 s in the kernel
handling 2.3 million page faults. :func:`tune_cpu_allocator` lets glibc keep and reuse freed
memory instead (7.5 s, 0.1 s in the kernel). The cost is that a process keeps its peak heap
until it exits, which suits the command-line tool and benchmark workers.

The command-line tool and the benchmark cells call it; library users may call it once at start.
Set ``SALIENCYLAB_TUNE_MALLOC=0`` to leave the allocator alone.

Example:
    >>> from saliencylab.runtime import tune_cpu_allocator
    >>> tune_cpu_allocator() in (True, False)
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
from collections.abc import Iterator

__all__ = ["blas_threads", "configure_cpu", "tune_cpu_allocator"]

# mallopt() parameters from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks below 512 MiB come from the heap; up to 1 GiB of free heap top is kept.
_MMAP_THRESHOLD = 512 << 20
_TRIM_THRESHOLD = 1 << 30

_applied: bool | None = None


def tune_cpu_allocator() -> bool:
    """Make glibc reuse freed memory for large blocks (see the module docstring).

    Idempotent. Returns True when the setting is in effect, False where it does not apply
    (not Linux with glibc) or ``SALIENCYLAB_TUNE_MALLOC=0`` turns it off.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("SALIENCYLAB_TUNE_MALLOC", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    mallopt = ctypes.CDLL(path).mallopt
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; a fixed threshold also switches off the dynamic one.
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _applied


def configure_cpu(threads: int | None = None) -> int:
    """The command-line tool's process settings, for scripts that should compute the same
    cells: ``threads`` torch CPU threads (default ``$SALIENCYLAB_THREADS`` or 1; a float sum
    over 2 threads rounds differently than over 1) and :func:`tune_cpu_allocator`. Returns the
    thread count."""
    import torch

    if threads is None:
        threads = int(os.environ.get("SALIENCYLAB_THREADS", "1"))
    torch.set_num_threads(threads)
    tune_cpu_allocator()
    return threads


@contextlib.contextmanager
def blas_threads(n: int | None = None) -> Iterator[None]:
    """Limit NumPy / SciPy BLAS threads to ``n`` (default: torch's thread count) for a block.

    LIME and KernelSHAP fit their surrogate models with scikit-learn / SciPy, whose OpenBLAS
    otherwise starts one thread per core: on a busy 2-core machine that made KernelSHAP about
    2.5x slower than with one thread. A no-op without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import torch

    with threadpool_limits(limits=n or torch.get_num_threads(), user_api="blas"):
        yield

"""Helpers that write to a ResultStore from other processes (used by tests/bench/test_store.py).

As a script it runs a list of fake cells into a store the way a benchmark run does, skipping the
cells already stored; the SIGKILL test kills it part way and runs it again:

    python _kill_worker.py STORE MARKER_DIR N_CELLS SLEEP

Each execution of a cell leaves one marker file ``MARKER_DIR/<key>.<random>``, so the test can
count how often each cell was actually computed. After each write it prints ``wrote <key>``.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np

from saliencylab.bench.executors import LocalExecutor
from saliencylab.bench.store import ResultStore

N_ROWS = 40  # rows per cell: enough that a kill can land inside a write transaction


def cell_key(i: int) -> str:
    return f"cell{i:03d}"


def expected_rows(i: int) -> list[tuple[str, str, float]]:
    return [
        (f"metric{j:02d}", stat, i + j / 100 + k / 1000)
        for j in range(N_ROWS // 2)
        for k, stat in enumerate(("mean", "sem"))
    ]


def expected_per_sample(i: int) -> np.ndarray:
    return np.arange(10, dtype=np.float32) * i


def run_cell(task: tuple[int, str, float]) -> tuple[list, np.ndarray]:
    index, marker_dir, sleep = task
    Path(marker_dir, f"{cell_key(index)}.{uuid.uuid4().hex}").touch()
    time.sleep(sleep)
    return expected_rows(index), expected_per_sample(index)


def main(store_path: str, marker_dir: str, n_cells: int, sleep: float) -> None:
    store = ResultStore(store_path)
    tasks = [(i, marker_dir, sleep) for i in range(n_cells) if not store.is_finished(cell_key(i))]
    for (index, _, _), (rows, scores) in LocalExecutor(workers=0).map_unordered(run_cell, tasks):
        store.write_cell(
            cell_key(index),
            "fake",
            {"index": index},
            rows,
            duration=sleep,
            per_sample={"score": scores},
        )
        print(f"wrote {cell_key(index)}", flush=True)
    store.close()


def write_many(store_path: str, start: int, stop: int, barrier, queue) -> None:
    """Write cells ``start..stop-1`` (5 rows each) one transaction each; put the number of
    cells this process actually wrote on ``queue``. Used by the concurrent-writers test."""
    barrier.wait()  # open the store and write at the same moment as the other process
    store = ResultStore(store_path)
    written = 0
    for i in range(start, stop):
        rows = [(f"m{j}", "mean", float(i * 10 + j)) for j in range(5)]
        written += store.write_cell(cell_key(i), "fake", {"index": i}, rows, duration=0.0)
    store.close()
    queue.put(written)


def die(task: int) -> int:
    """A task whose worker process dies abruptly (as if killed for memory) when ``task < 0``."""
    if task < 0:
        os._exit(3)
    return task


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))

"""Processes sharing one run directory: claims in the store, and two real `bench` runs at once."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

from saliencylab.bench import runner
from saliencylab.bench.plan import eval_tasks, train_tasks
from saliencylab.bench.runner import RunSummary, run_grid, run_tasks
from saliencylab.bench.store import CLAIMED, FINISHED, HELD, ResultStore, new_owner
from saliencylab.errors import ConfigError

from .tiny_grid import TINY, tiny_grid

ROWS = [("acc", "mean", 0.5)]


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "results.sqlite") as s:
        yield s


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- claims ------------------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released_or_stored(store):
    me, other = new_owner(), new_owner()
    assert me != other and me.split(":")[1] == str(os.getpid())
    assert store.claim("k1", me) == CLAIMED
    assert store.claim("k1", other) == HELD  # a second owner is refused
    assert store.claim("k1", me) == CLAIMED  # the owner may claim again (renews it)
    assert set(store.claims()) == {"k1"} and store.claims()["k1"].owner == me

    # Storing the cell releases its claim in the same transaction; then it is "finished".
    assert store.write_cell("k1", "eval", {"i": 1}, ROWS, duration=0.0, worker=me)
    assert store.claims(live=False) == {}
    assert store.claim("k1", other) == FINISHED
    assert store.cells_frame().iloc[0].worker == me

    # release_claims frees a claim (e.g. after an error) for the next process.
    assert store.claim("k2", me) == CLAIMED and store.claim("k3", me) == CLAIMED
    assert store.release_claims(me, ["k2"]) == 1
    assert store.claim("k2", other) == CLAIMED
    assert store.release_claims(me) == 1 and set(store.claims()) == {"k2"}


def test_an_expired_claim_is_taken_over_and_renewal_keeps_it(store):
    me, other = new_owner(), new_owner()
    assert store.claim("k1", me, lease=0.3) == CLAIMED
    assert store.claim("k2", me, lease=0.3) == CLAIMED
    time.sleep(0.15)
    assert store.renew_claims(me, lease=60) == 2  # k1 and k2 now last a minute
    time.sleep(0.3)
    assert store.claim("k1", other) == HELD
    assert store.claim("k3", me, lease=0.1) == CLAIMED
    time.sleep(0.2)
    assert "k3" not in store.claims() and "k3" in store.claims(live=False)
    assert store.claim("k3", other) == CLAIMED  # expired: taken over
    assert store.claims()["k3"].owner == other
    assert store.renew_claims(me, lease=60) == 2  # k3 is no longer mine
    with pytest.raises(ConfigError, match="lease"):
        store.claim("k4", me, lease=0)


def test_a_dead_process_claim_is_taken_over_at_once(store):
    host = socket.gethostname()
    ghost = f"{host}:{dead_pid()}:0123abcd"
    assert store.claim("k1", ghost, lease=3600) == CLAIMED
    assert store.claims() == {}  # not live: its process is gone
    assert store.claim("k1", new_owner()) == CLAIMED

    # From another machine (or PID namespace) a PID says nothing: only the expiry counts.
    assert store.claim("k2", ghost, lease=3600) == CLAIMED
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE claims SET node = 'elsewhere' WHERE key = 'k2'")
    assert store.claim("k2", new_owner()) == HELD


def test_a_claim_of_a_live_process_holds_until_it_is_killed(tmp_path):
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    code = ("import sys, time; from saliencylab.bench.store import ResultStore, new_owner; "
            "s = ResultStore(sys.argv[1]); print(s.claim('k1', new_owner()), flush=True); "
            "time.sleep(600)")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == CLAIMED
        with ResultStore(path) as store:
            assert store.claim("k1", new_owner()) == HELD
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            assert store.claim("k1", new_owner()) == CLAIMED
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


def test_executors_draw_tasks_lazily():
    from saliencylab.bench.executors import LocalExecutor, _selftest

    drawn: list[int] = []

    def tasks():
        for i in range(3):
            drawn.append(i)
            yield i

    results = LocalExecutor(workers=0).map_unordered(_selftest, tasks())
    assert drawn == []
    assert next(results) == (0, 0) and drawn == [0]  # the next task is drawn when needed
    assert list(results) == [(1, 1), (2, 4)] and drawn == [0, 1, 2]


# -- the driver --------------------------------------------------------------------------------


def _one_model_grid(**overrides):
    return tiny_grid(**{"models": ["tcn"], "tsr": [], **overrides})  # 1 train + 2 evals


def test_cells_held_by_another_process_are_skipped_then_finished(tmp_path):
    grid = _one_model_grid()
    trains = train_tasks(grid)
    evals = eval_tasks(grid, trains)
    other = new_owner()
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.claim(trains[0].key, other) == CLAIMED
    # The train cell is held elsewhere: it and the evals that need its checkpoint wait there.
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary == RunSummary(tmp_path, 3, 0, 0, 0, 3, 0, 0)
    assert "3 held by another process, 0 left of 3" in summary.line()

    with ResultStore(tmp_path / "results.sqlite") as store:
        store.release_claims(other)
        assert store.claim(evals[1].key, other) == CLAIMED  # the other process takes an eval
    summary = run_grid(grid, tmp_path, progress=False)
    assert (summary.cells_run, summary.cells_held, summary.cells_left) == (2, 1, 0)
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.finished_keys() == {trains[0].key, evals[0].key}
        store.write_cell(evals[1].key, "eval", evals[1].describe(), ROWS, duration=0.0,
                         worker=other)  # ... and finishes it
        assert store.claims(live=False) == {}
    summary = run_grid(grid, tmp_path, progress=False)
    assert summary == RunSummary(tmp_path, 3, 0, 3, 0, 0, 0, 0)
    assert summary.line() == ("0 run here, 0 finished by another process, 3 already stored, "
                              "0 left of 3")


def test_duplicate_tasks_run_once_with_a_warning(tmp_path, monkeypatch):
    computed: Counter[str] = Counter()
    real = runner.run_eval_cell

    def counting(job):
        computed[job[0].key] += 1
        return real(job)

    monkeypatch.setattr(runner, "run_eval_cell", counting)
    grid = _one_model_grid(seeds=[0, 0], methods=["gradient"])  # random + gradient, twice
    trains = train_tasks(grid)
    assert len(trains) == 2 and trains[0].key == trains[1].key
    with pytest.warns(UserWarning, match="repeat a cell"):
        summary = run_grid(grid, tmp_path, progress=False, max_cells=2)
    assert (summary.cells_total, summary.duplicates) == (3, 3)
    assert (summary.cells_run, summary.cells_left) == (2, 1)  # max_cells counts claims
    with pytest.warns(UserWarning, match="repeat a cell"):
        summary = run_tasks(tmp_path, trains, eval_tasks(grid, trains), progress=False)
    assert (summary.cells_run, summary.cells_skipped, summary.cells_left) == (1, 2, 0)
    assert sorted(computed.values()) == [1, 1]
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.count() == 3 and store.claims(live=False) == {}


def test_a_failing_cell_releases_the_claims(tmp_path, monkeypatch):
    def boom(task):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(runner, "run_train_cell", boom)
    with pytest.raises(Exception, match="out of memory"):
        run_grid(_one_model_grid(), tmp_path, progress=False)
    with ResultStore(tmp_path / "results.sqlite") as store:
        assert store.claims(live=False) == {} and store.count() == 0


# -- two real `bench` processes ----------------------------------------------------------------

# `python -m saliencylab.cli`, with each cell computation logged as "<pid> <key>" first.
_LOGGED_CLI = r"""
import os, runpy, sys
import saliencylab.bench.runner as runner

def logged(fn):
    def cell(job):
        task = job[0] if isinstance(job, tuple) else job
        with open(os.environ["CELL_LOG"], "a") as log:
            log.write(f"{os.getpid()} {task.key}\n")
        return fn(job)
    return cell

runner.run_train_cell = logged(runner.run_train_cell)
runner.run_eval_cell = logged(runner.run_eval_cell)
runpy.run_module("saliencylab.cli", run_name="__main__", alter_sys=True)
"""
_LINE = re.compile(r"cells: (\d+) run here, (\d+) finished by another process, (\d+) already "
                   r"stored(?:, (\d+) held by another process)?, (\d+) left of (\d+)")


def test_two_bench_processes_on_one_run_directory_compute_each_cell_once(tmp_path):
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(TINY))
    run_dir, log = tmp_path / "run", tmp_path / "cells.log"
    cmd = [sys.executable, "-c", _LOGGED_CLI, "bench", "--config", str(config),
           "--run-dir", str(run_dir), "--no-report"]
    env = {**os.environ, "CELL_LOG": str(log), "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err

    grid = tiny_grid()
    trains = train_tasks(grid)
    keys = {t.key for t in trains} | {e.key for e in eval_tasks(grid, trains)}
    assert len(keys) == 8
    # Every cell was computed exactly once, by one of the two processes.
    computed = [line.split() for line in log.read_text().splitlines()]
    by_key = Counter(key for _, key in computed)
    assert set(by_key) == keys and set(by_key.values()) == {1}, by_key
    pids = {str(p.pid) for p in procs}
    assert {pid for pid, _ in computed} <= pids

    with ResultStore(run_dir / "results.sqlite") as store:
        assert store.finished_keys() == keys and store.count() == 8
        assert store.claims(live=False) == {}
        workers = store.cells_frame().set_index("key")["worker"]
    for pid, key in computed:  # the store names the process that computed each cell
        assert workers[key].split(":")[1] == pid

    counts = []
    for out, _ in outputs:
        match = _LINE.search(out)
        assert match, out
        run, others, stored, held, left, total = (int(g or 0) for g in match.groups())
        assert run + others + stored + held + left == total == 8, out
        assert stored == 0
        counts.append((run, held + left))
    ran_here = Counter(pid for pid, _ in computed)
    assert sorted(run for run, _ in counts) == sorted(ran_here.get(p, 0) for p in
                                                      (str(p.pid) for p in procs))
    assert sum(run for run, _ in counts) == 8
    assert min(rest for _, rest in counts) == 0  # the process that ended last saw all 8 stored

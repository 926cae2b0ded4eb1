"""Tests of the benchmark executors: in-process, local process pool and Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from saliencylab.bench.executors import (
    Executor,
    LocalExecutor,
    RayExecutor,
    TaskError,
    _selftest,
    make_executor,
)
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError

HERE = Path(__file__).parent
TASKS = list(range(12))
EXPECTED = sorted((t, _selftest(t)) for t in TASKS)


def run_all(executor, tasks=TASKS) -> list[tuple]:
    pairs = list(executor.map_unordered(_selftest, tasks))
    assert len(pairs) == len(tasks)  # every task exactly once
    return sorted(pairs)


def test_in_process_matches_plain_map():
    with LocalExecutor(workers=0) as ex:
        assert isinstance(ex, Executor) and ex.in_process
        assert run_all(ex) == EXPECTED
        assert run_all(ex, []) == []


def test_in_process_is_lazy():
    calls = []

    def fn(task):
        calls.append(task)
        return task

    stream = LocalExecutor(workers=1).map_unordered(fn, [1, 2, 3])
    assert next(stream) == (1, 1) and calls == [1]  # results arrive as each task finishes


def test_process_pool_matches_plain_map():
    with LocalExecutor(workers=2, max_in_flight=3) as ex:
        assert not ex.in_process
        assert run_all(ex) == EXPECTED
        assert run_all(ex, [5, 7]) == [(5, 25), (7, 49)]  # the pool is reused


@pytest.mark.parametrize("workers", [0, 2])
def test_task_error_names_the_task(workers):
    with LocalExecutor(workers=workers) as ex:
        seen = []
        with pytest.raises(TaskError, match=r"task -3 failed with ValueError") as info:
            for pair in ex.map_unordered(_selftest, [1, 2, -3, 4, 5, 6, 7]):
                seen.append(pair)
        assert info.value.task == -3
        assert isinstance(info.value.original, ValueError)
        assert info.value.__cause__ is info.value.original
        assert isinstance(info.value, SaliencyLabError)
        assert (-3, 9) not in seen
        if workers == 0:  # in order: everything before the failing task was delivered
            assert seen == [(1, 1), (2, 4)]
        # The executor is still usable after a failure.
        assert run_all(ex, [3]) == [(3, 9)]


def test_dead_worker_process_surfaces_and_pool_recovers():
    if str(HERE) not in sys.path:  # spawned workers inherit sys.path and import the helper
        sys.path.insert(0, str(HERE))
    import _kill_worker as kw

    with LocalExecutor(workers=2) as ex:
        with pytest.raises(TaskError, match="BrokenProcessPool") as info:
            list(ex.map_unordered(kw.die, [1, -1, 2]))
        assert info.value.task in (1, -1, 2)  # the pool breaks for every task in flight
        assert sorted(ex.map_unordered(kw.die, [1, 2])) == [(1, 1), (2, 2)]


def test_pool_refuses_unpicklable_function():
    with LocalExecutor(workers=2) as ex, pytest.raises(ConfigError, match="module-level"):
        ex.map_unordered(lambda t: t, [1])


def test_bad_arguments():
    with pytest.raises(ConfigError, match="workers"):
        LocalExecutor(workers=-1)
    with pytest.raises(ConfigError, match="max_in_flight"):
        LocalExecutor(workers=2, max_in_flight=0)
    with pytest.raises(UnknownNameError, match="local, ray"):
        make_executor("dask")
    ex = make_executor("local", workers=3)
    assert isinstance(ex, LocalExecutor) and ex.workers == 3
    ex.close()


def test_missing_ray_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` fail
    with pytest.raises(SaliencyLabError, match=r"pip install 'saliencylab\[ray\]'"):
        RayExecutor()

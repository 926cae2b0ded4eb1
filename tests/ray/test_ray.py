"""Ray executor tests. They run in a child pytest process started by tests/test_ray_isolated.py,
so that a Ray instance that dies on a small machine cannot take the whole test session down."""

from __future__ import annotations

import pytest

from saliencylab.bench.executors import Executor, LocalExecutor, RayExecutor, TaskError, _selftest
from saliencylab.bench.runner import run_grid
from tests.bench.test_executors import EXPECTED, run_all
from tests.bench.tiny_grid import assert_same_rows, tiny_grid

pytest.importorskip("ray")

@pytest.fixture(scope="module")
def ray_executor():
    executor = RayExecutor(num_cpus=2, resources_per_task={"num_cpus": 1})
    yield executor
    executor.close()
    import ray

    assert not ray.is_initialized()


def test_ray_matches_local(ray_executor):
    assert isinstance(ray_executor, Executor)
    with LocalExecutor(workers=0) as local:
        assert run_all(ray_executor) == run_all(local) == EXPECTED
    assert run_all(ray_executor, []) == []


def test_ray_task_error_names_the_task(ray_executor):
    with pytest.raises(TaskError, match=r"task -2 failed with ValueError") as info:
        list(ray_executor.map_unordered(_selftest, [1, -2, 3]))
    assert info.value.task == -2 and isinstance(info.value.original, ValueError)
    assert "negative" in str(info.value)
    # A bounded window of tasks in flight gives the same results.
    windowed = RayExecutor(max_in_flight=2)  # joins the running instance
    assert run_all(windowed) == EXPECTED
    windowed.close()  # did not start Ray, so leaves it running
    assert run_all(ray_executor, [4]) == [(4, 16)]


def test_ray_executor_gives_the_same_rows_as_local(tmp_path):
    run_grid(tiny_grid(), tmp_path / "local", progress=False)
    summary = run_grid(tiny_grid(), tmp_path / "ray", executor="ray", progress=False)
    assert summary.cells_run == 8
    assert_same_rows(tmp_path / "local", tmp_path / "ray")

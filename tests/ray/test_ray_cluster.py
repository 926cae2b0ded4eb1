"""A Ray cluster of a head and two worker nodes, each started by ``ray start`` as its own set of
processes: a grid run on it gives the local executor's rows, with cells spread over the nodes.

Runs in the child pytest process of tests/test_ray_isolated.py (slow: the nodes take seconds to
start). Token authentication is on, with a token the parent made for the test, as Ray
recommends for any cluster reachable by others; Ray reads it from the environment when it is
imported, so the parent sets it before the child starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore
from tests.bench.tiny_grid import assert_same_rows, tiny_grid

pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.environ.get("RAY_AUTH_MODE") != "token" or not os.environ.get("RAY_AUTH_TOKEN"):
        pytest.skip("run through tests/test_ray_isolated.py, which sets the cluster's token")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ray = _ray_cli()
    commands = [[ray, "start", "--head", "--port", str(port), "--num-cpus", "1",
                 "--include-dashboard=false"]]
    commands += [[ray, "start", "--address", address, "--num-cpus", "1"]] * 2
    try:
        for cmd in commands:
            subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
        yield address
    finally:  # stops every Ray process of this machine: the child runs alone
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_three_node_cluster_gives_the_local_rows_with_cells_on_several_nodes(cluster, tmp_path):
    import ray

    local = run_grid(tiny_grid(), tmp_path / "local", progress=False)
    remote = run_grid(tiny_grid(), tmp_path / "cluster", executor="ray", address=cluster,
                      progress=False)
    assert not ray.is_initialized()  # the executor joined the cluster and left it
    assert local.cells_run == remote.cells_run == 8
    assert_same_rows(tmp_path / "local", tmp_path / "cluster")
    with ResultStore(tmp_path / "cluster" / "results.sqlite") as store:
        workers = store.cells_frame()["worker"]
    nodes = {w.rsplit(":", 1)[1] for w in workers}
    assert all(n.startswith("ray-node-") for n in nodes), workers.tolist()
    assert len(nodes) >= 2, workers.tolist()  # spread over the cluster, not one node

"""Tests of the benchmark results store: round trip, transactions, resumption, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from saliencylab.bench.store import SCHEMA_VERSION, ResultStore
from saliencylab.errors import (
    ConfigError,
    InvalidDataError,
    SaliencyLabError,
    UnknownNameError,
)

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # spawned children inherit sys.path and import the helper
    sys.path.insert(0, str(HERE))
import _kill_worker as kw  # noqa: E402

CONFIG = {
    "dataset": "middle_box",
    "process": "ar",
    "model": "lstm",
    "method": "gradient",
    "tsr": {"alpha": 0.55, "time_first": True},
    "seed": 3,
    "layers": [1, 2],
}
ROWS = [
    ("auprc", "mean", 0.7),
    ("auprc", "sem", 0.05),
    ("precision", "mean", np.float32(0.5)),
    ("n", "count", 100),
]


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "run" / "results.sqlite") as s:
        yield s


def table_count(store: ResultStore, table: str) -> int:
    with sqlite3.connect(store.path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


# -- round trip ------------------------------------------------------------------------------


def test_round_trip(store):
    scores = np.linspace(0, 1, 7)
    assert store.write_cell(
        "k1", "evaluate", CONFIG, ROWS, duration=2.5, worker="w1", per_sample={"auprc": scores}
    )
    assert store.is_finished("k1") and "k1" in store and not store.is_finished("k2")
    assert store.finished_keys() == {"k1"} and store.count() == 1
    assert store.count("train") == 0 and store.finished_keys("train") == set()
    assert store.config("k1") == CONFIG
    assert store.rows("k1") == sorted((m, s, float(v)) for m, s, v in ROWS)
    np.testing.assert_array_equal(store.per_sample("k1", "auprc"), scores)
    assert store.per_sample_metrics("k1") == ["auprc"]
    with pytest.raises(UnknownNameError, match="auprc"):
        store.per_sample("k1", "missing")
    assert store.meta()["schema_version"] == str(SCHEMA_VERSION)
    with sqlite3.connect(store.path) as conn:  # WAL is a property of the file, seen by others
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    cells = store.cells_frame()
    assert len(cells) == 1
    row = cells.iloc[0]
    assert (row.key, row.kind, row.status, row.worker, row.duration) == (
        "k1",
        "evaluate",
        "finished",
        "w1",
        2.5,
    )
    assert row.finished - row.started == pytest.approx(2.5)


def test_results_frame_flattens_config(store):
    store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    store.write_cell(
        "k2",
        "evaluate",
        {**CONFIG, "seed": 4, "method": "deeplift"},
        [("auprc", "mean", 0.6)],
        duration=1.0,
    )
    store.write_cell(
        "t1", "train", {"model": "lstm", "metric": "oops"}, [("acc", "mean", 0.9)], duration=1.0
    )
    frame = store.results_frame()
    assert len(frame) == len(ROWS) + 2
    assert list(frame.columns[:2]) == ["key", "kind"]
    assert list(frame.columns[-3:]) == ["metric", "statistic", "value"]
    for column in (
        "dataset",
        "process",
        "model",
        "method",
        "seed",
        "tsr.alpha",
        "tsr.time_first",
        "layers",
        "config.metric",
    ):
        assert column in frame.columns, column
    k2 = frame[frame.key == "k2"].iloc[0]
    assert (k2.method, k2.seed, k2["tsr.alpha"], k2.value) == ("deeplift", 4, 0.55, 0.6)
    assert frame[frame.key == "k1"]["layers"].iloc[0] == "[1, 2]"
    assert frame[frame.key == "t1"]["config.metric"].iloc[0] == "oops"
    # The mean over seeds works straight away on the flat frame.
    means = frame[frame.statistic == "mean"].groupby(["method", "metric"])["value"].mean()
    assert means[("gradient", "auprc")] == pytest.approx(0.7)
    assert set(store.results_frame(kind="train").key) == {"t1"}


def test_empty_frames_have_columns(store):
    assert list(store.results_frame().columns) == ["key", "kind", "metric", "statistic", "value"]
    assert "status" in store.cells_frame().columns and store.count() == 0


def test_export_csv_and_parquet(store, tmp_path):
    store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    # A config key that is a string in one cell and a number in another still exports.
    store.write_cell(
        "k2", "evaluate", {**CONFIG, "seed": "s"}, [("auprc", "mean", 0.1)], duration=1.0
    )
    expected = store.results_frame()
    csv = pd.read_csv(store.export(tmp_path / "out" / "results.csv"))
    assert list(csv.columns) == list(expected.columns)
    np.testing.assert_allclose(csv.value, expected.value)
    parquet = pd.read_parquet(store.export(tmp_path / "results.parquet"))
    assert list(parquet.columns) == list(expected.columns)
    np.testing.assert_allclose(parquet.value, expected.value)
    assert sorted(parquet.seed) == ["3"] * len(ROWS) + ["s"]
    cells = pd.read_csv(store.export(tmp_path / "cells.csv", table="cells"))
    assert sorted(cells.key) == ["k1", "k2"]
    with pytest.raises(ConfigError, match=r"\.csv or \.parquet"):
        store.export(tmp_path / "results.xlsx")
    with pytest.raises(UnknownNameError):
        store.export(tmp_path / "x.csv", table="nope")


def test_parquet_without_pyarrow_says_what_to_install(store, tmp_path, monkeypatch):
    store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(SaliencyLabError, match=r"saliencylab\[parquet\]"):
        store.export(tmp_path / "results.parquet")


def test_reopen_and_pickle(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as first:
        first.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    with ResultStore(tmp_path) as again:  # a directory means <dir>/results.sqlite
        assert again.path == path and again.finished_keys() == {"k1"}
        clone = pickle.loads(pickle.dumps(again))
        assert clone.path == path and clone.rows("k1") == again.rows("k1")
        clone.close()


def test_schema_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(SaliencyLabError, match="999"):
        ResultStore(path)


def test_a_store_without_the_claims_table_is_upgraded(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as first:
        first.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    with sqlite3.connect(path) as conn:  # a store written before claims existed
        conn.execute("DROP TABLE claims")
    conn.close()
    with ResultStore(path) as again:
        assert again.finished_keys() == {"k1"} and again.claims() == {}
        assert again.claim("k2", "host:1:token") == "claimed"


def test_not_applicable_cell_counts_as_finished(store):
    assert store.write_cell(
        "k1",
        "explain",
        CONFIG,
        [],
        duration=0.0,
        status="not_applicable",
        note="gradcam needs a conv layer",
    )
    assert store.is_finished("k1") and store.rows("k1") == []
    row = store.cells_frame().iloc[0]
    assert (row.status, row.note) == ("not_applicable", "gradcam needs a conv layer")
    with pytest.raises(UnknownNameError, match="finished"):
        store.write_cell("k2", "explain", CONFIG, [], duration=0.0, status="done")


# -- validation and transactions -------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -np.inf, "0.5", None])
def test_non_finite_value_names_metric_and_stores_nothing(store, bad):
    rows = [("auprc", "mean", 0.5), ("deletion_auc", "mean", bad), ("x", "mean", 1.0)]
    with pytest.raises(InvalidDataError, match="deletion_auc"):
        store.write_cell("k1", "evaluate", CONFIG, rows, duration=1.0)
    assert not store.is_finished("k1")
    assert table_count(store, "results") == 0 and table_count(store, "cells") == 0


def test_exception_while_writing_rows_rolls_back_the_cell(store):
    def rows():
        yield from ROWS[:2]
        raise RuntimeError("crash in the middle of the rows")

    with pytest.raises(RuntimeError, match="middle"):
        store.write_cell(
            "k1", "evaluate", CONFIG, rows(), duration=1.0, per_sample={"auprc": np.ones(3)}
        )
    assert not store.is_finished("k1") and store.count() == 0
    assert table_count(store, "results") == 0 and table_count(store, "per_sample") == 0
    # The connection is usable afterwards, and the cell can be written in full.
    assert store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    assert len(store.rows("k1")) == len(ROWS)


def test_bad_per_sample_rolls_back_rows_too(store):
    with pytest.raises(InvalidDataError, match="faithfulness"):
        store.write_cell(
            "k1",
            "evaluate",
            CONFIG,
            ROWS,
            duration=1.0,
            per_sample={"faithfulness": np.array([0.1, np.inf])},
        )
    assert table_count(store, "results") == 0 and not store.is_finished("k1")


def test_per_sample_nan_marks_undefined_samples(store):
    # Per-sample NaN is the metrics' "undefined for this sample" marker; it round-trips.
    scores = np.array([0.1, np.nan, 0.3], dtype=np.float32)
    store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0, per_sample={"precision": scores})
    back = store.per_sample("k1", "precision")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, scores)


@pytest.mark.parametrize(
    "rows",
    [
        [("auprc", "mean", 0.5), ("auprc", "mean", 0.6)],  # duplicate pair
        [("auprc", "mean")],  # not a triple
        [("", "mean", 0.5)],  # empty metric name
    ],
)
def test_malformed_rows_raise(store, rows):
    with pytest.raises(InvalidDataError):
        store.write_cell("k1", "evaluate", CONFIG, rows, duration=1.0)
    assert store.count() == 0 and table_count(store, "results") == 0


def test_bad_config_and_key(store):
    with pytest.raises(ConfigError, match="finite"):
        store.write_cell("k1", "evaluate", {"alpha": float("nan")}, ROWS, duration=1.0)
    with pytest.raises(ConfigError, match="mapping"):
        store.write_cell("k1", "evaluate", [1, 2], ROWS, duration=1.0)
    with pytest.raises(ConfigError, match="key"):
        store.write_cell("", "evaluate", CONFIG, ROWS, duration=1.0)
    with pytest.raises(InvalidDataError, match="duration"):
        store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=float("nan"))
    assert store.count() == 0


def test_rewrite_of_finished_key_is_a_noop(store):
    assert store.write_cell("k1", "evaluate", CONFIG, ROWS, duration=1.0)
    before = store.cells_frame()

    def must_not_be_consumed():
        raise AssertionError("rows of an already stored cell were read")
        yield

    assert store.write_cell("k1", "evaluate", CONFIG, must_not_be_consumed(), duration=9.0) is False
    other_rows = [("auprc", "mean", 0.0)]
    assert store.write_cell("k1", "evaluate", CONFIG, other_rows, duration=9.0) is False
    assert store.rows("k1") == sorted((m, s, float(v)) for m, s, v in ROWS)
    pd.testing.assert_frame_equal(store.cells_frame(), before)
    assert table_count(store, "results") == len(ROWS)
    # The same key with another config means the key is not a hash of the config: refuse.
    with pytest.raises(ConfigError, match="share one key"):
        store.write_cell("k1", "evaluate", {**CONFIG, "seed": 99}, ROWS, duration=1.0)


# -- several processes -----------------------------------------------------------------------


def test_two_processes_write_concurrently(tmp_path):
    path = tmp_path / "results.sqlite"
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    # Keys 50..149 are written by both: each must land exactly once.
    procs = [
        ctx.Process(target=kw.write_many, args=(str(path), a, b, barrier, queue))
        for a, b in ((0, 150), (50, 200))
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0  # a child that hit "database is locked" exits with 1
    written = [queue.get(timeout=10) for _ in procs]
    assert sum(written) == 200 and min(written) >= 50
    assert integrity(path) == "ok"
    with ResultStore(path) as store:
        assert store.count() == 200
        assert store.finished_keys() == {kw.cell_key(i) for i in range(200)}
        frame = store.results_frame()
        assert len(frame) == 200 * 5
        expected = frame["index"] * 10 + frame.metric.str[1:].astype(int)
        np.testing.assert_array_equal(frame.value, expected)


# Slow cells: the kill lands while a cell computes. No sleep: it likely lands inside a write.
@pytest.mark.parametrize(("n_cells", "sleep"), [(12, 0.05), (300, 0.0)])
def test_sigkill_then_restart_skips_finished_cells(tmp_path, n_cells, sleep):
    path, markers = tmp_path / "results.sqlite", tmp_path / "markers"
    markers.mkdir()
    cmd = [
        sys.executable,
        str(HERE / "_kill_worker.py"),
        str(path),
        str(markers),
        str(n_cells),
        str(sleep),
    ]

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while len(lines) < 4:
        line = proc.stdout.readline()
        assert line, f"worker ended early: {proc.stderr.read()}"
        lines.append(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    assert integrity(path) == "ok"
    with ResultStore(path) as store:
        done_before = store.finished_keys()
        # Every cell that made it has all its rows: a kill never leaves half a cell.
        for key in done_before:
            assert store.rows(key) == sorted(kw.expected_rows(int(key[4:])))
        frame_before = store.cells_frame().set_index("key")
        assert table_count(store, "results") == len(done_before) * kw.N_ROWS
    assert 4 <= len(done_before) < n_cells

    restart = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr
    rewritten = {line.split()[1] for line in restart.stdout.splitlines()}
    assert rewritten == {kw.cell_key(i) for i in range(n_cells)} - done_before

    runs: dict[str, int] = {}
    for marker in markers.iterdir():
        key = marker.name.split(".")[0]
        runs[key] = runs.get(key, 0) + 1
    assert set(runs) == {kw.cell_key(i) for i in range(n_cells)}
    assert all(runs[key] == 1 for key in done_before), runs  # nothing finished was recomputed
    assert sum(runs.values()) - n_cells <= 1, runs  # only the cell in flight at the kill reran

    assert integrity(path) == "ok"
    with ResultStore(path) as store:
        assert store.count() == n_cells
        assert table_count(store, "cells") == n_cells
        assert table_count(store, "results") == n_cells * kw.N_ROWS
        for i in range(n_cells):
            key = kw.cell_key(i)
            assert store.rows(key) == sorted(kw.expected_rows(i))
            np.testing.assert_array_equal(store.per_sample(key, "score"), kw.expected_per_sample(i))
        after = store.cells_frame().set_index("key").loc[sorted(done_before)]
        pd.testing.assert_frame_equal(after, frame_before.loc[sorted(done_before)])

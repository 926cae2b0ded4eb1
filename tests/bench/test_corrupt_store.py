"""A damaged results store is refused with a clear error, by the store and by every command."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from saliencylab.bench.store import ResultStore
from saliencylab.cli import main
from saliencylab.errors import CorruptStoreError, SaliencyLabError, StoreError

from .tiny_grid import TINY

N_CELLS = 30


def healthy_store(run_dir: Path) -> Path:
    """A closed store of ``N_CELLS`` cells with per-sample arrays (a few hundred KB)."""
    path = run_dir / "results.sqlite"
    rng = np.random.default_rng(0)
    with ResultStore(path) as store:
        for i in range(N_CELLS):
            rows = [(f"m{j}", "mean", float(i + j)) for j in range(10)]
            store.write_cell(f"eval-{i:03d}", "eval", {"method": "gradient", "seed": i}, rows,
                             duration=1.0, per_sample={"aup": rng.random(1000)})
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: all in the main file
    return path


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


RANDOM_8K = np.random.default_rng(1).bytes(8192)


def random_over_all(path: Path) -> None:
    path.write_bytes(RANDOM_8K)  # the case: 8 KB of random bytes as results.sqlite


def random_in_the_middle(path: Path) -> None:
    _overwrite(path, path.stat().st_size // 2, RANDOM_8K)  # the SQLite header is intact


def random_over_page_one(path: Path) -> None:
    _overwrite(path, 100, RANDOM_8K[:3000])  # just after the header: the table of tables


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def truncated_mid_page(path: Path) -> None:
    os.truncate(path, path.stat().st_size - 1000)


def shorter_than_a_header(path: Path) -> None:
    os.truncate(path, 50)


def a_text_file(path: Path) -> None:
    path.write_text("dataset,method,aup\nMiddle,gradient,0.7\n")


def another_sqlite_file(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO photos VALUES (1, 'cat.png')")
    conn.close()


def a_changed_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE cells ADD COLUMN extra TEXT")
    conn.close()


DAMAGE = {
    random_over_all: "not a SQLite file",
    random_in_the_middle: "damaged",
    random_over_page_one: "damaged",
    truncated: "damaged",
    truncated_mid_page: "damaged",
    shorter_than_a_header: "truncated",
    a_text_file: "not a SQLite file",
    another_sqlite_file: "not a saliencylab results store",
    a_changed_table: "columns",
}


@pytest.fixture(params=list(DAMAGE), ids=[f.__name__ for f in DAMAGE])
def damaged(request, tmp_path) -> tuple[Path, str, bytes]:
    """A run directory whose store is damaged; the expected words; the damaged bytes."""
    path = healthy_store(tmp_path)
    request.param(path)
    return path, DAMAGE[request.param], path.read_bytes()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_opening_a_damaged_store_is_refused_and_says_what_to_do(damaged):
    path, what, before = damaged
    files = _files(path.parent)
    with pytest.raises(CorruptStoreError) as info:
        ResultStore(path)
    message = str(info.value)
    assert str(path) in message and what in message, message
    assert f"mv {path} {path}.damaged" in message  # what to do
    assert "new run directory" in message and str(path.parent / "models") in message
    assert "sqlite3." not in message
    assert isinstance(info.value, SaliencyLabError)
    assert path.read_bytes() == before and _files(path.parent) == files  # left exactly as it was


def test_a_healthy_store_still_opens(tmp_path):
    path = healthy_store(tmp_path)
    with ResultStore(path) as store:
        assert store.count() == N_CELLS
    ResultStore(tmp_path / "empty.sqlite").close()  # a new file, and then an empty one
    (tmp_path / "zero.sqlite").touch()
    with ResultStore(tmp_path / "zero.sqlite") as store:
        assert store.count() == 0


def test_sqlite_errors_after_opening_become_store_errors(tmp_path):
    path = healthy_store(tmp_path)
    random_in_the_middle(path)
    # Skipping the check on open only delays the refusal to the first read that hits damage.
    store = ResultStore(path, check=False)
    with pytest.raises(CorruptStoreError, match="malformed") as info:
        for key in sorted(store.finished_keys()):
            store.per_sample(key, "aup")
        store.results_frame()
    assert str(path) in str(info.value) and isinstance(info.value.__cause__, sqlite3.Error)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


def test_a_store_locked_too_long_gives_a_store_error(tmp_path):
    path = healthy_store(tmp_path)
    with ResultStore(path, timeout=0.2) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked by another process") as info:
                store.write_cell("new", "eval", {}, [("m", "mean", 1.0)], duration=0.0)
            assert str(path) in str(info.value)
            assert store.count() == N_CELLS  # readers are not blocked (WAL)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()


def test_a_missing_store_is_not_created_by_readers(tmp_path):
    with pytest.raises(StoreError, match="run `saliencylab bench`"):
        ResultStore(tmp_path / "results.sqlite", create=False)
    assert not (tmp_path / "results.sqlite").exists()


# -- through the command line ------------------------------------------------------------------


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run ``saliencylab ARGS`` through the real entry point; returns (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["saliencylab", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr().err


def test_bench_refuses_a_random_bytes_store_and_touches_nothing(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = healthy_store(run_dir)
    random_over_all(path)
    config = tmp_path / "grid.yaml"
    config.write_text(yaml.safe_dump(TINY))
    files = _files(run_dir)
    cmd = [sys.executable, "-m", "saliencylab.cli", "bench", "--config", str(config),
           "--run-dir", str(run_dir), "--no-report"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: results store" in result.stderr and str(path) in result.stderr
    assert "not a SQLite file" in result.stderr and ".damaged" in result.stderr
    assert "Traceback" not in result.stderr and "already" not in result.stdout
    assert _files(run_dir) == files and sorted(p.name for p in run_dir.iterdir()) == [
        "results.sqlite"]  # no grid.yaml, models/ or examples/ written


@pytest.mark.parametrize("damage", [random_over_all, truncated], ids=lambda f: f.__name__)
def test_results_show_report_and_export_give_the_same_clear_error(tmp_path, monkeypatch,
                                                                  capsys, damage):
    path = healthy_store(tmp_path)
    damage(path)
    before = path.read_bytes()
    for args in (["results", "show", tmp_path], ["report", tmp_path],
                 ["results", "export", tmp_path, tmp_path / "out.csv"]):
        code, err = _cli(monkeypatch, capsys, *args)
        assert code == 2, (args, err)
        assert err.startswith("error: results store") and str(path) in err, (args, err)
        assert "sqlite3" not in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "report").exists()

    from saliencylab.report.html import write_report  # the report's own path to the store

    with pytest.raises(CorruptStoreError):
        write_report(tmp_path)


def test_commands_on_a_directory_without_a_store(tmp_path, monkeypatch, capsys):
    code, err = _cli(monkeypatch, capsys, "results", "export", tmp_path, tmp_path / "x.csv")
    assert code == 2 and "holds no results.sqlite" in err
    assert not (tmp_path / "results.sqlite").exists()

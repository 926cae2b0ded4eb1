"""The resumable results store of a benchmark run: one SQLite file per run directory.

A cell (one unit of the grid: a training, an explanation, an evaluation) is written in one
transaction when it finishes: its row in ``cells``, all its ``(metric, statistic, value)`` rows in
``results`` and, optionally, its per-sample arrays in ``per_sample``. A crash (even SIGKILL) leaves
either all of a cell or none of it, so a restarted run asks :meth:`ResultStore.finished_keys` and
skips what is already there.

Writes come from the driver process only (the executors return results to the driver, which
writes them as they arrive), so Ray workers on other machines never touch this file. Several
processes on one machine may still write at once: the file is in WAL mode with a busy timeout,
so a writer waits for the lock instead of failing. WAL needs a local file system (not NFS).

Values must be finite. A statistic that is undefined for a cell (say, the standard error of a
single sample) is **not written** at all: the store never holds NaN, and a missing row means
"undefined". A NaN or inf value raises :class:`~saliencylab.errors.InvalidDataError`.

Example:
    >>> import tempfile, pathlib
    >>> run_dir = pathlib.Path(tempfile.mkdtemp())
    >>> store = ResultStore(run_dir / "results.sqlite")
    >>> store.write_cell("a1b2", "evaluate", {"method": "gradient", "seed": 0},
    ...                  [("auprc", "mean", 0.71), ("auprc", "sem", 0.02)], duration=1.5)
    True
    >>> store.is_finished("a1b2"), store.count()
    (True, 1)
    >>> store.results_frame()[["method", "metric", "statistic", "value"]].shape
    (2, 4)
    >>> store.close()
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from saliencylab.errors import ConfigError, InvalidDataError, SaliencyLabError, UnknownNameError
from saliencylab.utils import _jsonable

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DEFAULT_FILENAME = "results.sqlite"
#: A stored cell is "finished" with either status: both mean "do not run it again".
STATUSES = ("finished", "not_applicable")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL,
    started REAL, finished REAL, duration REAL, worker TEXT, note TEXT);
CREATE TABLE IF NOT EXISTS results (
    cell_key TEXT NOT NULL REFERENCES cells(key), metric TEXT NOT NULL,
    statistic TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (cell_key, metric, statistic)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS per_sample (
    cell_key TEXT NOT NULL REFERENCES cells(key), metric TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (cell_key, metric));
"""
_CELL_COLUMNS = ("key", "kind", "status", "started", "finished", "duration", "worker", "note")
_RESULT_COLUMNS = ("metric", "statistic", "value")


def _json_default(obj: Any) -> Any:
    # Lazy: saliencylab.utils imports torch, which readers of a results file do not need.
    return _jsonable(obj)


def _config_json(config: Any) -> str:
    try:
        text = json.dumps(config, sort_keys=True, allow_nan=False, default=_json_default)
    except ValueError as exc:
        raise ConfigError(f"cell config must be JSON-serialisable and finite: {exc}") from exc
    if not isinstance(json.loads(text), dict):
        raise ConfigError(f"cell config must be a mapping, got {type(config).__name__}")
    return text


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts become dotted columns; lists become JSON text so columns stay hashable."""
    flat: dict[str, Any] = {}
    for name, value in config.items():
        column = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, prefix=f"{column}."))
        elif isinstance(value, dict | list):
            flat[column] = json.dumps(value, sort_keys=True)
        else:
            flat[column] = value
    return flat


def _check_value(metric: str, statistic: str, value: Any) -> float:
    if isinstance(value, str | bytes):
        raise InvalidDataError(f"value of {metric}/{statistic} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"value of {metric}/{statistic} must be a finite float, got {type(value).__name__}"
        ) from exc
    if not math.isfinite(number):
        raise InvalidDataError(
            f"value of {metric}/{statistic} must be finite, got {number}; leave an undefined "
            "statistic out instead of writing NaN"
        )
    return number


def _check_row(row: Any) -> tuple[str, str, float]:
    if not isinstance(row, tuple | list) or len(row) != 3:
        raise InvalidDataError(f"a result row must be (metric, statistic, value), got {row!r}")
    metric, statistic, value = row
    if not (isinstance(metric, str) and metric and isinstance(statistic, str) and statistic):
        raise InvalidDataError(
            f"metric and statistic must be non-empty strings, got {metric!r}, {statistic!r}"
        )
    return metric, statistic, _check_value(metric, statistic, value)


def _npy_bytes(metric: str, array: Any) -> bytes:
    if hasattr(array, "detach"):  # a torch tensor, without importing torch here
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype == object:
        raise InvalidDataError(f"per-sample values of {metric} must be numeric, got dtype object")
    # NaN is the metrics' documented "undefined for this sample" marker (e.g. precision of an
    # empty selection) and travels with a validity mask; infinities are always errors.
    if np.issubdtype(array.dtype, np.inexact) and np.isinf(array).any():
        bad = int(np.isinf(array).sum())
        raise InvalidDataError(
            f"per-sample values of {metric} must not be infinite, but {bad} of {array.size} are"
        )
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class ResultStore:
    """Results of one benchmark run in a SQLite file (WAL mode; safe to resume after a crash).

    Args:
        path: the SQLite file, created if missing (with its parent folder). An existing
            directory means ``path / "results.sqlite"``.
        timeout: seconds a writer waits for another process's lock before failing.

    Tables: ``cells`` (one row per finished cell: key, kind, config JSON, status, timings,
    worker, note), ``results`` (one row per cell, metric and statistic), ``per_sample`` (optional
    per-sample arrays as ``.npy`` bytes) and ``meta`` (schema version, creation time).

    A store pickles as its path, so a worker process that receives one reopens the file.

    Example:
        >>> with ResultStore(tmp_path / "results.sqlite") as store:  # doctest: +SKIP
        ...     todo = [c for c in cells if not store.is_finished(c.key)]
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 60.0):
        path = Path(path)
        if path.is_dir():
            path = path / DEFAULT_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.timeout = float(timeout)
        # Autocommit mode: we open every write transaction ourselves with BEGIN IMMEDIATE.
        self._conn = sqlite3.connect(path, timeout=self.timeout, isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        self.journal_mode = self._enable_wal()
        # In WAL mode NORMAL survives a killed process; only an OS crash may lose the last cells.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._init_schema()

    def _enable_wal(self) -> str:
        # Switching a new file to WAL can fail with "database is locked" without consulting the
        # busy handler while another process opens the same file, so retry up to the timeout.
        deadline, delay = time.monotonic() + self.timeout, 0.005
        while True:
            try:
                return self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.1)

    def _init_schema(self) -> None:
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('created', ?)",
                (str(SCHEMA_VERSION), repr(time.time())),
            )
        (version,) = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if int(version) != SCHEMA_VERSION:
            raise SaliencyLabError(
                f"{self.path} has results schema version {version}, this saliencylab reads "
                f"version {SCHEMA_VERSION}; start a new run directory"
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- writing -----------------------------------------------------------------------------

    def write_cell(
        self,
        key: str,
        kind: str,
        config: Mapping[str, Any],
        rows: Iterable[tuple[str, str, float]],
        *,
        duration: float,
        per_sample: Mapping[str, Any] | None = None,
        started: float | None = None,
        worker: str | None = None,
        status: str = "finished",
        note: str | None = None,
    ) -> bool:
        """Store a finished cell and all its rows in one transaction; False if already stored.

        Args:
            key: the cell's cache key (a hash of everything that determines its output).
            kind: what the cell is, e.g. ``"train"``, ``"explain"``, ``"evaluate"``.
            config: the cell's parameters; flattened into columns by :meth:`results_frame`.
            rows: ``(metric, statistic, value)`` triples with finite values; an undefined
                statistic is left out. Consumed inside the transaction: if iterating raises,
                nothing of the cell is stored.
            duration: seconds the cell took.
            per_sample: optional ``{metric: array}`` of per-sample scores (numpy or torch);
                NaN marks a sample where the metric is undefined, inf is refused.
            started: start time (epoch seconds); default ``now - duration``.
            worker: who computed it; default this host and process.
            status: ``"finished"`` or ``"not_applicable"`` (a cell that cannot apply to its
                model or data, recorded so a restart does not try it again).
            note: free text, e.g. why a cell is not applicable.

        Returns:
            True if written; False if ``key`` was already stored (nothing is changed then, and
            ``rows`` is not consumed).

        Raises:
            InvalidDataError: a non-finite or non-numeric value, or a duplicate
                ``(metric, statistic)``; the whole cell is rolled back.
            ConfigError: ``config`` is not a JSON-able mapping, or ``key`` is stored with a
                different kind or config (keys must be hashes of the config).

        Example:
            >>> store.write_cell("k", "evaluate", {"seed": 0}, [("acc", "mean", 0.9)],
            ...                  duration=0.1)  # doctest: +SKIP
            True
        """
        if not isinstance(key, str) or not key:
            raise ConfigError(f"cell key must be a non-empty string, got {key!r}")
        if status not in STATUSES:
            raise UnknownNameError("cell status", status, STATUSES)
        if not math.isfinite(float(duration)) or duration < 0:
            raise InvalidDataError(f"duration must be a finite number >= 0, got {duration!r}")
        config_text = _config_json(config)
        finished = time.time()
        started = finished - float(duration) if started is None else float(started)
        worker = worker or f"{socket.gethostname()}:{os.getpid()}"

        with self._transaction():
            existing = self._conn.execute(
                "SELECT kind, config FROM cells WHERE key = ?", (key,)
            ).fetchone()
            if existing is not None:
                if existing != (kind, config_text):
                    raise ConfigError(
                        f"cell {key!r} is already stored as {existing[0]} {existing[1]}, "
                        f"not {kind} {config_text}: two configs share one key"
                    )
                return False
            self._conn.execute(
                "INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, kind, config_text, status, started, finished, float(duration), worker, note),
            )
            for row in rows:
                metric, statistic, value = _check_row(row)
                try:
                    self._conn.execute(
                        "INSERT INTO results VALUES (?, ?, ?, ?)", (key, metric, statistic, value)
                    )
                except sqlite3.IntegrityError as exc:
                    raise InvalidDataError(
                        f"cell {key!r} has two rows for metric {metric!r}, statistic "
                        f"{statistic!r}; each pair must appear once"
                    ) from exc
            for metric, array in (per_sample or {}).items():
                data = _npy_bytes(metric, array)
                self._conn.execute("INSERT INTO per_sample VALUES (?, ?, ?)", (key, metric, data))
        return True

    # -- reading -----------------------------------------------------------------------------

    def is_finished(self, key: str) -> bool:
        """Whether ``key`` is stored (as finished or not applicable)."""
        row = self._conn.execute("SELECT 1 FROM cells WHERE key = ?", (key,)).fetchone()
        return row is not None

    __contains__ = is_finished

    def finished_keys(self, kind: str | None = None) -> set[str]:
        """Keys of all stored cells (of one ``kind`` if given): the ones a restart skips."""
        if kind is None:
            rows = self._conn.execute("SELECT key FROM cells")
        else:
            rows = self._conn.execute("SELECT key FROM cells WHERE kind = ?", (kind,))
        return {key for (key,) in rows}

    def count(self, kind: str | None = None) -> int:
        """Number of stored cells (of one ``kind`` if given)."""
        if kind is None:
            query = self._conn.execute("SELECT COUNT(*) FROM cells")
        else:
            query = self._conn.execute("SELECT COUNT(*) FROM cells WHERE kind = ?", (kind,))
        return query.fetchone()[0]

    def config(self, key: str) -> dict[str, Any]:
        """The stored config of cell ``key``."""
        row = self._conn.execute("SELECT config FROM cells WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise UnknownNameError("cell key", key, [])
        return json.loads(row[0])

    def rows(self, key: str) -> list[tuple[str, str, float]]:
        """The ``(metric, statistic, value)`` rows of cell ``key``, sorted."""
        return list(
            self._conn.execute(
                "SELECT metric, statistic, value FROM results WHERE cell_key = ? "
                "ORDER BY metric, statistic",
                (key,),
            )
        )

    def per_sample(self, key: str, metric: str) -> np.ndarray:
        """The per-sample array of ``metric`` stored with cell ``key``."""
        row = self._conn.execute(
            "SELECT data FROM per_sample WHERE cell_key = ? AND metric = ?", (key, metric)
        ).fetchone()
        if row is None:
            raise UnknownNameError(
                f"per-sample metric of cell {key!r}", metric, self.per_sample_metrics(key)
            )
        return np.load(io.BytesIO(row[0]), allow_pickle=False)

    def per_sample_metrics(self, key: str) -> list[str]:
        """Names of the per-sample arrays stored with cell ``key``."""
        rows = self._conn.execute(
            "SELECT metric FROM per_sample WHERE cell_key = ? ORDER BY metric", (key,)
        )
        return [metric for (metric,) in rows]

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema version and creation time (epoch seconds)."""
        return dict(self._conn.execute("SELECT key, value FROM meta"))

    def _frame(self, sql: str, params: tuple, fixed: tuple[str, ...]) -> pd.DataFrame:
        import pandas as pd

        base = pd.DataFrame.from_records(
            self._conn.execute(sql, params).fetchall(), columns=list(fixed)
        )
        if base.empty:
            return base
        # Each cell's config is parsed once, however many result rows the cell has.
        keys = base["key"].unique().tolist()
        records = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of bound parameters
            chunk = keys[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT key, config FROM cells WHERE key IN ({marks})"
            for key, text in self._conn.execute(query, chunk):
                records[key] = _flatten(json.loads(text))
        configs = pd.DataFrame.from_dict(records, orient="index")
        # A config key named like a fixed column keeps its value under "config.<name>".
        configs.columns = [f"config.{c}" if c in fixed else c for c in configs.columns]
        frame = base.join(configs, on="key")
        # Fixed columns first, config columns next, metrics last.
        head = [c for c in fixed if c not in _RESULT_COLUMNS]
        tail = [c for c in fixed if c in _RESULT_COLUMNS]
        return frame[head + list(configs.columns) + tail]

    def results_frame(self, kind: str | None = None) -> pd.DataFrame:
        """One row per (cell, metric, statistic): ``key, kind, <config columns>, metric,
        statistic, value``. Nested config dicts become dotted columns (``tsr.alpha``)."""
        where, params = ("WHERE c.kind = ?", (kind,)) if kind is not None else ("", ())
        sql = (
            "SELECT c.key, c.kind, r.metric, r.statistic, r.value "
            f"FROM results r JOIN cells c ON c.key = r.cell_key {where} "
            "ORDER BY c.key, r.metric, r.statistic"
        )
        return self._frame(sql, params, ("key", "kind", *_RESULT_COLUMNS))

    def cells_frame(self, kind: str | None = None) -> pd.DataFrame:
        """One row per stored cell: key, kind, status, timings, worker, note, config columns."""
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        sql = f"SELECT {', '.join(_CELL_COLUMNS)} FROM cells {where} ORDER BY key"
        return self._frame(sql, params, _CELL_COLUMNS)

    def export(self, path: str | os.PathLike[str], table: str = "results") -> Path:
        """Write :meth:`results_frame` (or :meth:`cells_frame` with ``table="cells"``) to a
        ``.csv`` or ``.parquet`` file (parquet needs pyarrow) and return the path."""
        path = Path(path)
        frames = {"results": self.results_frame, "cells": self.cells_frame}
        if table not in frames:
            raise UnknownNameError("results table", table, frames)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise ConfigError(f"export path must end in .csv or .parquet, got {path.name!r}")
        if suffix == ".parquet":  # check before building the frame
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise SaliencyLabError(
                    "exporting to parquet needs pyarrow: pip install 'saliencylab[parquet]' "
                    "(or export to .csv)"
                ) from exc
        frame = frames[table]()
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            frame.to_csv(path, index=False)
            return path
        for column in frame.select_dtypes(include="object").columns:
            kinds = {type(v) for v in frame[column] if v is not None and v == v}
            if len(kinds) > 1:  # e.g. a config key that is a string here, a number there
                frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
        frame.to_parquet(path, index=False)
        return path

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file)."""
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self):
        return (_reopen, (str(self.path), self.timeout))

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"


def _reopen(path: str, timeout: float) -> ResultStore:
    return ResultStore(path, timeout=timeout)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (the writer lock is taken up
    front, so two writers queue on the busy timeout instead of deadlocking on an upgrade)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")

"""The resumable results store of a benchmark run: one SQLite file per run directory.

What the store guarantees:

* **All of a cell or none of it.** A cell (one unit of the grid: a training, an explanation, an
  evaluation) is written in one transaction when it finishes: its row in ``cells``, all its
  ``(metric, statistic, value)`` rows in ``results`` and, optionally, its per-sample arrays in
  ``per_sample``. A crash (even SIGKILL) leaves either all of a cell or none of it, so a
  restarted run asks :meth:`ResultStore.finished_keys` and skips what is already there. A key
  is stored at most once: writing it again changes nothing.
* **A checked file.** Opening an existing file runs ``PRAGMA quick_check`` and checks that it is
  a SQLite file holding saliencylab's tables, before anything is written to it. A damaged file
  (random bytes, a truncated copy, another kind of file named ``results.sqlite``) is refused
  with :class:`~saliencylab.errors.CorruptStoreError`, which says what is wrong and what to do.
  Any other SQLite failure (a lock held too long, a read-only file, a full disk) becomes a
  :class:`~saliencylab.errors.StoreError` naming the file: no raw ``sqlite3`` error leaves
  this module.
* **Finite values.** A statistic that is undefined for a cell (say, the standard error of a
  single sample) is **not written** at all: the store never holds NaN, and a missing row means
  "undefined". A NaN or inf value raises :class:`~saliencylab.errors.InvalidDataError`.

Several processes may share one run directory (two ``bench`` runs started on it, say). The file
is in WAL mode with a busy timeout, so a writer waits for the lock instead of failing; WAL needs
a local file system (not NFS). So that two processes never compute the same cell, a process
**claims** a cell before computing it (:meth:`ResultStore.claim`, one ``BEGIN IMMEDIATE``
transaction): the claim succeeds only if the cell is not stored and is unclaimed, claimed by the
same owner, expired, or claimed by a process of this machine that no longer exists (so a
restart after a crash takes the dead run's cells over at once). A claim carries an expiry,
``lease`` seconds ahead (:data:`DEFAULT_LEASE`, 10 minutes); its owner renews it while the cell
runs (:meth:`ResultStore.renew_claims`) and it is deleted in the transaction that stores the
cell (:meth:`ResultStore.write_cell`) or by :meth:`ResultStore.release_claims`. A killed
process's claims are taken over when they expire, or at once by a process of the same machine.

Writes come from driver processes only (the executors return results to their driver, which
claims and writes), so Ray workers on other machines never touch this file.

Example:
    >>> import tempfile, pathlib
    >>> run_dir = pathlib.Path(tempfile.mkdtemp())
    >>> store = ResultStore(run_dir / "results.sqlite")
    >>> me = new_owner()
    >>> store.claim("a1b2", me)
    'claimed'
    >>> store.write_cell("a1b2", "evaluate", {"method": "gradient", "seed": 0},
    ...                  [("auprc", "mean", 0.71), ("auprc", "sem", 0.02)], duration=1.5)
    True
    >>> store.is_finished("a1b2"), store.count(), store.claim("a1b2", me)
    (True, 1, 'finished')
    >>> store.results_frame()[["method", "metric", "statistic", "value"]].shape
    (2, 4)
    >>> store.close()
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from saliencylab.errors import (
    ConfigError,
    CorruptStoreError,
    InvalidDataError,
    SaliencyLabError,
    StoreError,
    UnknownNameError,
)
from saliencylab.utils import jsonable

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
DEFAULT_FILENAME = "results.sqlite"
#: A stored cell is "finished" with either status: both mean "do not run it again".
STATUSES = ("finished", "not_applicable")
#: Seconds a claim lasts unless its owner renews it (the driver renews every quarter lease).
DEFAULT_LEASE = 600.0
#: What :meth:`ResultStore.claim` returns.
CLAIMED, FINISHED, HELD = "claimed", "finished", "held"

_SQLITE_MAGIC = b"SQLite format 3\x00"
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
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, node TEXT NOT NULL, claimed REAL NOT NULL,
    expires REAL NOT NULL);
"""
#: Columns of every table, checked when an existing file is opened. ``claims`` came later in
#: schema version 1, so a store without it is upgraded (the table is created) on open.
_TABLES = {
    "meta": ("key", "value"),
    "cells": ("key", "kind", "config", "status", "started", "finished", "duration", "worker",
              "note"),
    "results": ("cell_key", "metric", "statistic", "value"),
    "per_sample": ("cell_key", "metric", "data"),
    "claims": ("key", "owner", "node", "claimed", "expires"),
}
_OPTIONAL_TABLES = ("claims",)
_CELL_COLUMNS = ("key", "kind", "status", "started", "finished", "duration", "worker", "note")
_RESULT_COLUMNS = ("metric", "statistic", "value")

_F = TypeVar("_F", bound=Callable[..., Any])


# -- who owns a claim --------------------------------------------------------------------------


def _node() -> str:
    """This machine and PID namespace: claims made here can be checked for a dead owner.

    The host name alone is not enough (containers sharing a host name see other PIDs), so the
    boot id and the PID namespace are added where Linux exposes them.
    """
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        stat = os.stat("/proc/self/ns/pid")
        parts.append(f"{stat.st_dev}:{stat.st_ino}")
    except OSError:
        pass
    return "/".join(parts)


_NODE = _node()


def new_owner() -> str:
    """A claim owner for this process: ``host:pid:token`` (the token tells two runs of one
    process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


def _owner_pid(owner: str) -> int | None:
    try:
        return int(owner.rsplit(":", 2)[-2])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else (or we cannot tell: assume alive)
    try:  # a zombie (killed, not yet reaped by its parent) is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _holder_gone(owner: str, node: str) -> bool:
    """Whether a claim's owner is a process of this machine that no longer exists."""
    if node != _NODE:
        return False  # another machine or PID namespace: only the expiry tells
    pid = _owner_pid(owner)
    if pid is None or pid == os.getpid():
        return False
    return not _pid_alive(pid)


@dataclass(frozen=True)
class Claim:
    """A row of the ``claims`` table: cell ``key`` is being computed by ``owner``."""

    key: str
    owner: str
    node: str
    claimed: float
    expires: float

    def live(self, now: float | None = None) -> bool:
        """Not expired, and not held by a process of this machine that has died."""
        now = time.time() if now is None else now
        return self.expires > now and not _holder_gone(self.owner, self.node)


# -- turning sqlite3 errors into ours -----------------------------------------------------------


def _advice(path: Path) -> str:
    return (f"Move it away (e.g. `mv {path} {path}.damaged`) and run again to recompute its "
            f"cells in a fresh store, or start a new run directory; the trained checkpoints in "
            f"{path.parent / 'models'} are left as they are")


def _corrupt(path: Path, what: str) -> CorruptStoreError:
    return CorruptStoreError(f"results store {path} {what}. {_advice(path)}")


def _error_name(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""  # Python >= 3.11
    if name:
        return name
    text = str(exc).lower()
    for needle, guess in (("malformed", "SQLITE_CORRUPT"), ("not a database", "SQLITE_NOTADB"),
                          ("locked", "SQLITE_BUSY"), ("readonly", "SQLITE_READONLY"),
                          ("disk is full", "SQLITE_FULL"), ("unable to open", "SQLITE_CANTOPEN"),
                          ("disk i/o", "SQLITE_IOERR"), ("closed database", "CLOSED")):
        if needle in text:
            return guess
    return ""


def _store_error(path: Path, exc: sqlite3.Error, action: str, timeout: float) -> StoreError:
    """The :class:`StoreError` a user sees for a ``sqlite3`` error while ``action``."""
    name = _error_name(exc)
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc).lower():
        name = "CLOSED"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return _corrupt(path, f"is damaged: SQLite reports {str(exc)!r} while {action}")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            f"results store {path} stayed locked by another process for more than "
            f"{timeout:g} s while {action}; wait for the other writer (another `bench` on this "
            "run directory?) or raise the timeout"
        )
    if name.startswith("SQLITE_READONLY"):
        return StoreError(f"cannot write results store {path} while {action}: the file or its "
                          "folder is read-only; copy the run directory somewhere writable")
    if name.startswith("SQLITE_FULL"):
        return StoreError(f"cannot write results store {path} while {action}: the disk is "
                          "full; free some space and run again (stored cells are kept)")
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError(f"cannot open results store {path}: {exc}; check that the folder "
                          "exists and is writable")
    if name == "CLOSED":
        return StoreError(f"results store {path} is closed; open a new ResultStore")
    return StoreError(f"results store {path}: {type(exc).__name__} while {action}: {exc}")


def _guarded(action: str) -> Callable[[_F], _F]:
    """Turn any ``sqlite3`` error of a method into a :class:`StoreError` naming the file."""

    def wrap(method: _F) -> _F:
        @functools.wraps(method)
        def inner(self: ResultStore, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc, action, self.timeout) from exc

        return inner  # type: ignore[return-value]

    return wrap


def _header_problem(path: Path) -> str | None:
    """What is wrong with the first bytes of ``path`` as a SQLite file, if anything."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read results store {path}: {exc}") from exc
    if not head:
        return None  # an empty file is a new database
    if not head.startswith(_SQLITE_MAGIC[: len(head)]):
        return ("is not a SQLite file (it does not start with the SQLite header: another kind "
                "of file, or its first bytes were overwritten)")
    if len(head) < 100:
        return f"is truncated ({len(head)} bytes, shorter than a SQLite header)"
    return None


def _json_default(obj: Any) -> Any:
    # Lazy: saliencylab.utils imports torch, which readers of a results file do not need.
    return jsonable(obj)


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
        create: create the file if it is missing; with False a missing file raises
            :class:`~saliencylab.errors.StoreError` (for commands that only read a run).
        check: run the integrity check on an existing file (``PRAGMA quick_check``, SQLite
            header, saliencylab's tables); turn it off only for a second connection to a file
            this process has already checked.

    Raises:
        CorruptStoreError: the file is damaged, not SQLite, or not a results store.
        StoreError: any other failure to open it (missing with ``create=False``, locked,
            read-only folder, another schema version).

    Tables: ``cells`` (one row per finished cell: key, kind, config JSON, status, timings,
    worker, note), ``results`` (one row per cell, metric and statistic), ``per_sample`` (optional
    per-sample arrays as ``.npy`` bytes), ``claims`` (cells being computed: key, owner, node,
    claim time, expiry) and ``meta`` (schema version, creation time).

    A store pickles as its path, so a worker process that receives one reopens the file.

    Example:
        >>> with ResultStore(tmp_path / "results.sqlite") as store:  # doctest: +SKIP
        ...     todo = [c for c in cells if not store.is_finished(c.key)]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 60.0,
        create: bool = True,
        check: bool = True,
    ):
        path = Path(path)
        if path.is_dir():
            path = path / DEFAULT_FILENAME
        self.path = path
        self.timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        exists = path.exists()
        if not exists and not create:
            raise StoreError(f"no results store at {path}: run `saliencylab bench` on "
                             f"{path.parent} first")
        if exists and not path.is_file():
            raise StoreError(f"results store {path} is not a regular file")
        if check and exists:
            problem = _header_problem(path)  # before SQLite sees it: nothing is written
            if problem:
                raise _corrupt(path, problem)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results store {path}: {exc}") from exc
        try:
            # Autocommit mode: we open every write transaction ourselves with BEGIN IMMEDIATE.
            self._conn = sqlite3.connect(path, timeout=self.timeout, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if check and exists:
                self._check_file()  # read-only, so a damaged file is left exactly as it was
            self.journal_mode = self._retry_locked(
                lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            )
            # In WAL mode NORMAL survives a killed process; only an OS crash may lose the last
            # cells.
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._init_schema()
        except BaseException as exc:
            if self._conn is not None:
                self._conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _store_error(path, exc, "opening it", self.timeout) from exc
            raise

    def _retry_locked(self, fn: Callable[[], Any]) -> Any:
        # Switching a new file to WAL (and reading one another process is switching) can fail
        # with "database is locked" without consulting the busy handler, so retry up to the
        # timeout.
        deadline, delay = time.monotonic() + self.timeout, 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.1)

    def _check_file(self) -> None:
        """Refuse an existing file that SQLite finds damaged or that lacks our tables."""
        try:
            problems = self._retry_locked(
                lambda: [row[0] for row in self._conn.execute("PRAGMA quick_check")]
            )
            tables = {
                name: tuple(row[1] for row in self._conn.execute(
                    'PRAGMA table_info("{}")'.format(name.replace('"', '""'))))
                for (name,) in self._conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                ).fetchall()
            }
        except sqlite3.OperationalError:
            raise  # locked, cannot open, ...: not a sign of damage
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, f"is damaged: SQLite reports {str(exc)!r}") from exc
        if problems != ["ok"]:
            shown = "; ".join(" ".join(p.split()) for p in problems[:3])
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise _corrupt(self.path, f"is damaged: SQLite's quick_check reports {shown}{more}")
        if not tables:
            return  # an empty database: a new store
        missing = [t for t in _TABLES if t not in tables and t not in _OPTIONAL_TABLES]
        if missing:
            raise _corrupt(
                self.path,
                f"is a SQLite file but not a saliencylab results store: it lacks the table(s) "
                f"{', '.join(missing)} (it has {', '.join(sorted(tables)) or 'none'})",
            )
        for name, columns in _TABLES.items():
            if name in tables and tables[name] != columns:
                raise _corrupt(
                    self.path,
                    f"has a table {name!r} with columns ({', '.join(tables[name])}), not "
                    f"saliencylab's ({', '.join(columns)})",
                )

    def _init_schema(self) -> None:
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), ('created', ?)",
                (str(SCHEMA_VERSION), repr(time.time())),
            )
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        try:
            version = int(row[0])
        except (TypeError, ValueError):
            raise _corrupt(self.path, f"has an unreadable schema version {row!r}") from None
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has results schema version {version}, this saliencylab reads "
                f"version {SCHEMA_VERSION}; start a new run directory"
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- writing -----------------------------------------------------------------------------

    @_guarded("writing a cell")
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

        The same transaction deletes every claim on ``key`` (a stored cell needs no claim), so
        a claim is released exactly when its cell's rows land.

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
            worker: who computed it; default this host and process (the driver passes where
                the cell ran: ``host:pid``, with the Ray node on a cluster).
            status: ``"finished"`` or ``"not_applicable"`` (a cell that cannot apply to its
                model or data, recorded so a restart does not try it again).
            note: free text, e.g. why a cell is not applicable.

        Returns:
            True if written; False if ``key`` was already stored (nothing of the cell is
            changed then, and ``rows`` is not consumed).

        Raises:
            InvalidDataError: a non-finite or non-numeric value, or a duplicate
                ``(metric, statistic)``; the whole cell is rolled back.
            ConfigError: ``config`` is not a JSON-able mapping, or ``key`` is stored with a
                different kind or config (keys must be hashes of the config).
            StoreError: SQLite could not write (locked too long, read-only, disk full).

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
            self._conn.execute("DELETE FROM claims WHERE key = ?", (key,))
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

    # -- claims ------------------------------------------------------------------------------

    @_guarded("claiming a cell")
    def claim(self, key: str, owner: str, *, lease: float = DEFAULT_LEASE) -> str:
        """Claim cell ``key`` for ``owner`` (see :func:`new_owner`) for ``lease`` seconds.

        One ``BEGIN IMMEDIATE`` transaction checks, then claims: a stored cell is never claimed
        (another process may have finished it since the caller last looked), and a cell claimed
        by someone else is taken only when that claim has expired or its owner is a process of
        this machine that no longer exists. Claiming a cell ``owner`` already holds renews it.

        Returns:
            ``"claimed"`` (:data:`CLAIMED`: compute it, then :meth:`write_cell` or
            :meth:`release_claims`), ``"finished"`` (:data:`FINISHED`: stored already) or
            ``"held"`` (:data:`HELD`: another live owner is computing it).
        """
        lease = _check_lease(lease)
        with self._transaction():
            if self._conn.execute("SELECT 1 FROM cells WHERE key = ?", (key,)).fetchone():
                return FINISHED
            row = self._conn.execute(
                "SELECT key, owner, node, claimed, expires FROM claims WHERE key = ?", (key,)
            ).fetchone()
            now = time.time()
            if row is not None and row[1] != owner and Claim(*row).live(now):
                return HELD
            self._conn.execute(
                "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                (key, owner, _NODE, now, now + lease),
            )
        return CLAIMED

    @_guarded("renewing claims")
    def renew_claims(self, owner: str, *, lease: float = DEFAULT_LEASE) -> int:
        """Push the expiry of every claim of ``owner`` to ``lease`` seconds from now; returns
        how many it holds (a claim taken over by another process after expiring is not
        renewed)."""
        lease = _check_lease(lease)
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE claims SET expires = ? WHERE owner = ?", (time.time() + lease, owner)
            )
        return cursor.rowcount

    @_guarded("releasing claims")
    def release_claims(self, owner: str, keys: Iterable[str] | None = None) -> int:
        """Delete the claims of ``owner`` (only those on ``keys`` if given), e.g. after an
        error; returns how many were deleted."""
        with self._transaction():
            if keys is None:
                cursor = self._conn.execute("DELETE FROM claims WHERE owner = ?", (owner,))
                return cursor.rowcount
            deleted = 0
            for key in keys:
                deleted += self._conn.execute(
                    "DELETE FROM claims WHERE owner = ? AND key = ?", (owner, key)
                ).rowcount
            return deleted

    @_guarded("reading claims")
    def claims(self, *, live: bool = True) -> dict[str, Claim]:
        """The claims table by key; with ``live`` only the claims that still hold (not
        expired, and not of a process of this machine that has died)."""
        now = time.time()
        rows = self._conn.execute("SELECT key, owner, node, claimed, expires FROM claims")
        found = {row[0]: Claim(*row) for row in rows}
        return {k: c for k, c in found.items() if c.live(now)} if live else found

    # -- reading -----------------------------------------------------------------------------

    @_guarded("reading a cell")
    def is_finished(self, key: str) -> bool:
        """Whether ``key`` is stored (as finished or not applicable)."""
        row = self._conn.execute("SELECT 1 FROM cells WHERE key = ?", (key,)).fetchone()
        return row is not None

    __contains__ = is_finished

    @_guarded("reading the finished cells")
    def finished_keys(self, kind: str | None = None) -> set[str]:
        """Keys of all stored cells (of one ``kind`` if given): the ones a restart skips."""
        if kind is None:
            rows = self._conn.execute("SELECT key FROM cells")
        else:
            rows = self._conn.execute("SELECT key FROM cells WHERE kind = ?", (kind,))
        return {key for (key,) in rows}

    @_guarded("counting cells")
    def count(self, kind: str | None = None) -> int:
        """Number of stored cells (of one ``kind`` if given)."""
        if kind is None:
            query = self._conn.execute("SELECT COUNT(*) FROM cells")
        else:
            query = self._conn.execute("SELECT COUNT(*) FROM cells WHERE kind = ?", (kind,))
        return query.fetchone()[0]

    @_guarded("reading a cell's config")
    def config(self, key: str) -> dict[str, Any]:
        """The stored config of cell ``key``."""
        row = self._conn.execute("SELECT config FROM cells WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise UnknownNameError("cell key", key, [])
        return json.loads(row[0])

    @_guarded("reading a cell's rows")
    def rows(self, key: str) -> list[tuple[str, str, float]]:
        """The ``(metric, statistic, value)`` rows of cell ``key``, sorted."""
        return list(
            self._conn.execute(
                "SELECT metric, statistic, value FROM results WHERE cell_key = ? "
                "ORDER BY metric, statistic",
                (key,),
            )
        )

    @_guarded("reading per-sample values")
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

    @_guarded("reading per-sample values")
    def per_sample_metrics(self, key: str) -> list[str]:
        """Names of the per-sample arrays stored with cell ``key``."""
        rows = self._conn.execute(
            "SELECT metric FROM per_sample WHERE cell_key = ? ORDER BY metric", (key,)
        )
        return [metric for (metric,) in rows]

    @_guarded("reading the meta table")
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

    @_guarded("reading the results")
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

    @_guarded("reading the cells")
    def cells_frame(self, kind: str | None = None) -> pd.DataFrame:
        """One row per stored cell: key, kind, status, timings, worker, note, config columns."""
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        sql = f"SELECT {', '.join(_CELL_COLUMNS)} FROM cells {where} ORDER BY key"
        return self._frame(sql, params, _CELL_COLUMNS)

    @_guarded("exporting the results")
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

    @_guarded("closing it")
    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file); idempotent."""
        if self._conn is not None:
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


def _check_lease(lease: Any) -> float:
    try:
        seconds = float(lease)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"a claim's lease must be a finite number of seconds > 0, got "
                          f"{lease!r}")
    return seconds


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
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        elif self._conn.in_transaction:  # SQLite may have rolled back already (disk full)
            self._conn.execute("ROLLBACK")

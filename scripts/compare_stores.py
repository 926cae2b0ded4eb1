"""Compare the results of two run directories cell by cell, ignoring timings.

Cells are matched by what they describe (kind, dataset, process, model, training, seed, method),
not by their keys, so a run made before a change of the cell keys can be checked against one
made after it: every (metric, statistic) row of a matched pair must hold the same value.

    python scripts/compare_stores.py runs/quick-before runs/quick
    python scripts/compare_stores.py OLD NEW --tolerance 1e-6

Exit status 0 when every row agrees, 1 otherwise (each difference is printed).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from saliencylab.bench.store import ResultStore

#: What identifies a cell across versions; the first present of each alias is used.
IDENTITY = ("kind", "dataset", "process", "model", "training", "seed", "method")
#: Timing rows differ from run to run by nature.
TIMING_WORDS = ("seconds", "duration")


def _is_timing(metric: str, statistic: str) -> bool:
    return any(w in metric or w in statistic for w in TIMING_WORDS)


def _cells(run_dir: Path) -> dict[tuple, dict[tuple[str, str], float]]:
    with ResultStore(run_dir / "results.sqlite") as store:
        frame = store.cells_frame()
        out: dict[tuple, dict[tuple[str, str], float]] = {}
        for row in frame.to_dict("records"):
            kind = "train" if row["kind"] == "train" else "eval"  # "quality" cells are evals
            ident = (kind, *(_norm(row.get(c)) for c in IDENTITY[1:]))
            if ident in out:
                raise SystemExit(f"{run_dir}: two cells describe {ident}")
            out[ident] = {(m, s): v for m, s, v in store.rows(row["key"])
                          if not _is_timing(m, s)}
    return out


def _norm(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return str(value).lower() if isinstance(value, str) else value


def compare(before: Path, after: Path, tolerance: float = 0.0) -> list[str]:
    """Differences between the non-timing rows of two runs (empty when they agree)."""
    old, new = _cells(before), _cells(after)
    problems = [f"only in {before}: {k}" for k in old.keys() - new.keys()]
    problems += [f"only in {after}: {k}" for k in new.keys() - old.keys()]
    for ident in sorted(old.keys() & new.keys(), key=str):
        a, b = old[ident], new[ident]
        for row in sorted(a.keys() | b.keys()):
            if row not in a or row not in b:
                problems.append(f"{ident} {row}: only in {'after' if row in b else 'before'}")
            elif not math.isclose(a[row], b[row], rel_tol=0.0, abs_tol=tolerance):
                problems.append(f"{ident} {row}: {a[row]!r} -> {b[row]!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=0.0, help="absolute tolerance")
    args = parser.parse_args(argv)
    problems = compare(args.before, args.after, args.tolerance)
    for line in problems:
        print(line)
    n_old, n_new = len(_cells(args.before)), len(_cells(args.after))
    print(f"{n_old} / {n_new} cells; {len(problems)} differences "
          f"({'equal' if not problems else 'NOT equal'}, timings ignored)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

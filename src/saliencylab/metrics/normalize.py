"""Reporting helpers of [OBJ]: per-(metric, dataset) normalisation and metric correlations.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series"
normalise each metric's scores per dataset to mean 0 and variance 1 across the saliency methods,
so that categories with different units can be compared and summed, and they report the
pairwise correlation of the metrics (claimed near-orthogonal).

Both functions take a long table (one row per score) as a pandas DataFrame, e.g. with columns
``metric, dataset, model, method, value``.

Example:
    >>> import pandas as pd
    >>> f = pd.DataFrame({"metric": ["a"] * 3 + ["b"] * 3, "dataset": "d",
    ...                   "method": ["g", "ig", "lrp"] * 2, "value": [1, 2, 3, 10, 10, 40]})
    >>> normalize_scores(f)["z"].round(3).tolist()
    [-1.225, 0.0, 1.225, -0.707, -0.707, 1.414]
    >>> metric_correlation(f, index=["method"]).loc["a", "b"].round(3)
    np.float64(0.866)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from saliencylab.errors import ConfigError, InvalidDataError

if TYPE_CHECKING:  # pandas is imported where used: importing saliencylab.metrics stays light
    import pandas as pd

__all__ = ["CORRELATIONS", "metric_correlation", "metric_correlations", "normalize_scores",
           "with_category", "zscore"]

CORRELATIONS = ("pearson", "spearman")


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ConfigError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"the table needs column(s) {missing}; it has {list(frame.columns)}")


def zscore(values: np.ndarray | Sequence[float], ddof: int = 0) -> np.ndarray:
    """``(v - mean) / std`` with NaNs ignored; a constant group maps to 0 (not NaN).

    Example:
        >>> zscore([1.0, 2.0, 3.0]).round(4).tolist()
        [-1.2247, 0.0, 1.2247]
        >>> zscore([5.0, 5.0]).tolist()
        [0.0, 0.0]
    """
    v = np.asarray(values, dtype=np.float64)
    if np.isinf(v).any():
        raise InvalidDataError("scores must not be infinite")
    ok = ~np.isnan(v)
    out = np.full_like(v, np.nan)
    if ok.sum() == 0:
        return out
    mean = v[ok].mean()
    std = v[ok].std(ddof=ddof) if ok.sum() > ddof else 0.0
    out[ok] = 0.0 if not std > 0 else (v[ok] - mean) / std
    return out


def with_category(frame: pd.DataFrame, *, metric: str = "metric", out: str = "category"
                  ) -> pd.DataFrame:
    """A copy of ``frame`` with each metric's category from the registry (for per-category
    normalisation, ``normalize_scores(..., by=("category", "dataset"))``).

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"metric": ["sanity", "robustness"], "value": [0.1, -2.0]})
        >>> with_category(f)["category"].tolist()
        ['sanity', 'robustness']
    """
    from saliencylab.metrics.registry import get_metric  # lazy: the registry imports the metrics

    _require(frame, [metric])
    result = frame.copy()
    result[out] = [get_metric(name).category for name in result[metric]]
    return result


def normalize_scores(
    frame: pd.DataFrame,
    *,
    value: str = "value",
    by: Sequence[str] = ("metric", "dataset"),
    out: str = "z",
    ddof: int = 0,
) -> pd.DataFrame:
    """A copy of ``frame`` with column ``out``: ``value`` z-scored within each ``by`` group.

    [OBJ]: per (metric or category, dataset), across methods (and models, if the table holds
    several), to mean 0 and variance 1 (population variance, ``ddof=0``; ``ddof=1`` for the
    sample variance). A group whose scores are all equal gets 0; NaN scores stay NaN and are
    left out of the group's mean and variance. Use ``by=("category", "dataset")`` to normalise
    per category.

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"metric": "m", "dataset": ["a", "a", "b", "b"],
        ...                   "value": [0.0, 2.0, 5.0, 7.0]})
        >>> normalize_scores(f)["z"].tolist()
        [-1.0, 1.0, -1.0, 1.0]
    """
    by = list(by)
    _require(frame, [*by, value])
    result = frame.copy()
    try:
        values = result[value].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"column {value!r} must hold numbers: {exc}") from exc
    z = np.full(len(result), np.nan)
    if by:
        for _, idx in result.groupby(by, sort=False, dropna=False).indices.items():
            z[idx] = zscore(values.to_numpy()[idx], ddof)
    else:
        z = zscore(values.to_numpy(), ddof)
    result[out] = z
    return result


def _wide(frame: pd.DataFrame, metric: str, value: str, index: Sequence[str] | None
          ) -> pd.DataFrame:
    _require(frame, [metric, value])
    idx = [c for c in frame.columns if c not in (metric, value)] if index is None else list(index)
    _require(frame, idx)
    if not idx:
        raise ConfigError("metric correlations need entry columns (e.g. method, model, dataset) "
                          "besides the metric and value columns")
    dup = frame.duplicated([*idx, metric])
    if dup.any():
        row = frame.loc[dup, [*idx, metric]].iloc[0].to_dict()
        raise ConfigError(f"several scores for one entry and metric, e.g. {row}; aggregate "
                          f"them first or add the distinguishing column to index")
    return frame.pivot(index=idx, columns=metric, values=value).astype(np.float64)


def metric_correlation(
    frame: pd.DataFrame,
    *,
    method: str = "pearson",
    metric: str = "metric",
    value: str = "value",
    index: Sequence[str] | None = None,
    min_periods: int = 3,
) -> pd.DataFrame:
    """Correlation matrix between metrics over entries (rows: (method, model, dataset), ...).

    Args:
        frame: long table with one score per (entry, metric).
        method: ``"pearson"`` or ``"spearman"``.
        metric, value: the metric-name and score columns.
        index: the columns that identify an entry; None = every other column.
        min_periods: fewer shared entries give NaN for that pair.

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"method": ["a", "b", "c"] * 2, "metric": ["x"] * 3 + ["y"] * 3,
        ...                   "value": [1, 2, 3, 3, 2, 1]})
        >>> metric_correlation(f, method="spearman").loc["x", "y"]
        np.float64(-1.0)
    """
    if method not in CORRELATIONS:
        raise ConfigError(f"method must be one of {CORRELATIONS}, got {method!r}")
    wide = _wide(frame, metric, value, index)
    out = wide.corr(method=method, min_periods=min_periods)
    out.index.name = out.columns.name = metric
    return out


def metric_correlations(frame: pd.DataFrame, **kwargs: object) -> dict[str, pd.DataFrame]:
    """``{"pearson": ..., "spearman": ...}`` from :func:`metric_correlation`."""
    return {m: metric_correlation(frame, method=m, **kwargs) for m in CORRELATIONS}

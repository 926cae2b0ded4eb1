"""Errors raised at the public boundary of saliencylab.

Every error says what was expected and what was given, so a user can fix the call without
reading our source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class SaliencyLabError(Exception):
    """Base class of every error saliencylab raises on bad input or configuration."""


def close_matches(name: object, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``candidates`` closest to ``name``, ignoring case (difflib ratio >= 0.6);
    a candidate equal to ``name`` up to case comes first.

    Example:
        >>> close_matches("gunpiont", ["GunPoint", "ArrowHead", "GunPointAgeSpan"])
        ['GunPoint', 'GunPointAgeSpan']
    """
    if not isinstance(name, str) or not name:
        return []
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    key = name.lower()
    exact = [by_lower[key]] if key in by_lower else []
    close = difflib.get_close_matches(key, list(by_lower), n=n + len(exact), cutoff=0.6)
    return (exact + [by_lower[c] for c in close if c != key])[:n]


class UnknownNameError(SaliencyLabError, KeyError):
    """A dataset, process, model, method or metric name that is not registered.

    The message lists the valid names and suggests the closest ones (case-insensitive, difflib),
    drawn from ``valid`` and the optional wider ``candidates``; ``hint`` is appended.

    Example:
        >>> str(UnknownNameError("dataset", "GunPiont", ["GunPoint", "Wafer"]))
        "unknown dataset 'GunPiont' (did you mean 'GunPoint'?); expected one of: GunPoint, Wafer"
    """

    def __init__(
        self,
        kind: str,
        name: object,
        valid: Iterable[str],
        *,
        hint: str | None = None,
        candidates: Iterable[str] = (),
    ):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        self.suggestions = close_matches(name, [*self.valid, *candidates])
        did_you_mean = ""
        if self.suggestions:
            did_you_mean = f" (did you mean {' or '.join(map(repr, self.suggestions))}?)"
        message = f"unknown {kind} {name!r}{did_you_mean}; expected one of: {', '.join(self.valid)}"
        if hint:
            message += f". {hint}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return self.args[0]


class ShapeError(SaliencyLabError, ValueError):
    """A tensor whose rank or size does not match what the model or method expects."""


class InvalidDataError(SaliencyLabError, ValueError):
    """Data containing NaN or inf, or values outside the documented range."""


class ConfigError(SaliencyLabError, ValueError):
    """A configuration value outside its allowed range or of the wrong kind."""


class NotApplicableError(SaliencyLabError):
    """A method or metric that cannot be applied to the given model or data."""


class StoreError(SaliencyLabError):
    """A benchmark results store that cannot be opened, read or written (missing, locked,
    read-only, disk full, ...); the message names the file."""


class CorruptStoreError(StoreError):
    """A results store file that is damaged, is not a SQLite file, or is not of saliencylab's
    schema; the message says what is wrong and how to start over."""


class NonFiniteError(InvalidDataError):
    """NaN or inf where finite numbers are needed: in a model's outputs, in the attributions a
    method produced, in a post-processed map or in data read from a file. Raised instead of
    letting the values turn silently into zeros or NaN scores.

    Example:
        >>> import torch
        >>> check_nonfinite(torch.tensor([1.0, float("nan"), float("inf")]), "y")
        Traceback (most recent call last):
        ...
        saliencylab.errors.NonFiniteError: found 2 non-finite values (1 NaN, 1 inf) of 3 in y
    """


def nonfinite_counts(tensor: object) -> tuple[int, int]:
    """``(NaN count, inf count)`` of a floating-point (or complex) tensor; ``(0, 0)`` for any
    other value (integer tensors, None, ...)."""
    is_float = getattr(tensor, "is_floating_point", None)
    if is_float is None or not (is_float() or tensor.is_complex()):  # type: ignore[attr-defined]
        return 0, 0
    nan = int(tensor.isnan().sum())  # type: ignore[attr-defined]
    inf = int(tensor.isinf().sum())  # type: ignore[attr-defined]
    return nan, inf


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value of a floating-point or complex tensor is finite, in one cheap
    reduction when it is: a finite sum means every value is finite (a NaN or inf makes the sum
    NaN or inf), and the sum is ~8x cheaper than ``isfinite().all()`` on a 40 000-value map. An
    overflowing sum of finite values falls through to the exact check.

    >>> import torch
    >>> all_finite(torch.tensor([1.0, 2.0])), all_finite(torch.tensor([1.0, float("nan")]))
    (True, False)
    """
    if not tensor.is_complex() and bool(tensor.sum().isfinite()):
        return True
    return bool(tensor.isfinite().all())


def check_nonfinite(tensor: object, what: str, hint: str | None = None, *,
                    prefix: str | None = None) -> None:
    """Raise :class:`NonFiniteError` if the tensor ``tensor`` holds NaN or inf.

    The message reads ``"<prefix>: found <n> non-finite values (<a> NaN, <b> inf) of <size> in
    <what>"``, then ``"; <hint>"`` if given. The check is one reduction on the tensor's device
    (a sum; the exact count only when it is not finite).
    """
    is_float = getattr(tensor, "is_floating_point", None)
    if is_float is None or not (is_float() or tensor.is_complex()):  # type: ignore[attr-defined]
        return
    if all_finite(tensor):  # type: ignore[arg-type]
        return
    nan, inf = nonfinite_counts(tensor)
    n = nan + inf
    message = (f"found {n} non-finite value{'s' if n != 1 else ''} ({nan} NaN, {inf} inf) of "
               f"{tensor.numel()} in {what}")  # type: ignore[attr-defined]
    if prefix:
        message = f"{prefix}: {message}"
    if hint:
        message += f"; {hint}"
    raise NonFiniteError(message)


class UnsafeCheckpointError(SaliencyLabError):
    """A checkpoint that holds Python objects beyond tensors and plain values: loading it would
    run code, so it is refused (``saliencylab convert`` rewrites a file the user trusts)."""


def prefixed(exc: SaliencyLabError, where: object) -> SaliencyLabError:
    """``exc`` with ``where`` in front of its message, of the same class (callers catch by
    class; the message then says which file, dataset or method it was about)."""
    out = type(exc).__new__(type(exc))
    out.args = (f"{where}: {exc}",)
    return out

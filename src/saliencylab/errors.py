"""Errors raised at the public boundary of saliencylab.

Every error says what was expected and what was given, so a user can fix the call without
reading our source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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

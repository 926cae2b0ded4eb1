"""Errors raised at the public boundary of saliencylab.

Every error says what was expected and what was given, so a user can fix the call without
reading our source.
"""

from __future__ import annotations

from collections.abc import Iterable


class SaliencyLabError(Exception):
    """Base class of every error saliencylab raises on bad input or configuration."""


class UnknownNameError(SaliencyLabError, KeyError):
    """A dataset, process, model, method or metric name that is not registered."""

    def __init__(self, kind: str, name: object, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(self.valid)}")

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

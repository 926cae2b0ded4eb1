"""The base of every typed configuration: pydantic models whose validation errors are
:class:`~saliencylab.errors.ConfigError` s that say which field, what was expected and what was
given, instead of pydantic's own exception."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from saliencylab.errors import ConfigError

__all__ = ["CheckedModel", "validation_message"]


def validation_message(exc: ValidationError, what: str) -> str:
    """One line per problem: ``field: message (got value)``.

    >>> from pydantic import BaseModel, Field
    >>> class M(BaseModel):
    ...     n: int = Field(1, ge=1)
    >>> try:
    ...     M(n=0)
    ... except ValidationError as exc:
    ...     print(validation_message(exc, "M"))
    invalid M: n: Input should be greater than or equal to 1 (got 0)
    """
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        got = f" (got {err['input']!r})" if err["type"] != "value_error" and "input" in err else ""
        parts.append(f"{loc}: {msg}{got}" if loc else msg)
    return f"invalid {what}: " + "; ".join(parts)


class CheckedModel(BaseModel):
    """A frozen pydantic model that refuses unknown fields and raises :class:`ConfigError`.

    >>> class Demo(CheckedModel):
    ...     epochs: int = 1
    >>> Demo(epoch=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saliencylab.errors.ConfigError: invalid Demo: epoch: Extra inputs are not permitted (got 3)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, type(self).__name__)) from None

"""Dataset names: checked so they never become paths outside their folder, matched ignoring case.

Example:
    >>> canonical_name("gunpoint", ["GunPoint", "ArrowHead"])
    'GunPoint'
    >>> check_name("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    saliencylab.errors.ConfigError: dataset name '../etc' must be a plain name ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from saliencylab.errors import ConfigError

__all__ = ["canonical_name", "check_name"]

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


_DATA_DIR_HINT = "to read files from a folder pass data_dir=... (--data-dir DIR)"


def check_name(name: object, what: str = "dataset", hint: str = _DATA_DIR_HINT) -> str:
    """``name`` if it is a plain name: letters, digits, ``_``, ``-``, ``.``, starting with a letter
    or digit, no ``..``; else ConfigError (so a name can never be a path separator, an absolute
    path or a way out of its folder).

    Example:
        >>> check_name("GunPoint")
        'GunPoint'
    """
    if not isinstance(name, str):
        raise ConfigError(f"{what} name must be a string, got {name!r}")
    if not _PLAIN.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"{what} name {name!r} must be a plain name (letters, digits, '_', '-', '.'; no path "
            f"separators, '..' or absolute paths); {hint}"
        )
    return name


def canonical_name(name: str, valid: Iterable[str]) -> str | None:
    """The spelling in ``valid`` of ``name`` ignoring case (an exact match first), or None."""
    valid = list(valid)
    if name in valid:
        return name
    key = name.lower()
    return next((v for v in valid if v.lower() == key), None)

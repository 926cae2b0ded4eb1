"""Parsing of the repeated ``name=value`` options of the commands (values read as YAML)."""

from __future__ import annotations

from typing import Any

from saliencylab.errors import ConfigError


def _value(raw: str, item: str, option: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{option} {item!r}: the value is not valid YAML ({exc})") from None


def parse_options(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["n_train=500", "mu=0.5"]`` -> ``{"n_train": 500, "mu": 0.5}``.

    >>> parse_options(["n_steps=20", "baseline=zero"], "--param")
    {'n_steps': 20, 'baseline': 'zero'}
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} must look like name=value, got {item!r}")
        out[key.strip()] = _value(raw, item, option)
    return out


def parse_dotted(items: list[str] | None, option: str) -> dict[str, dict[str, Any]]:
    """``["robustness.radius=0.2"]`` -> ``{"robustness": {"radius": 0.2}}``.

    >>> parse_dotted(["gradient_shap.n_samples=10"], "--param")
    {'gradient_shap': {'n_samples': 10}}
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_options(items, option).items():
        owner, dot, name = key.partition(".")
        if not dot or not owner or not name:
            raise ConfigError(f"{option} must look like name.option=value, got {key!r}")
        out.setdefault(owner, {})[name] = value
    return out

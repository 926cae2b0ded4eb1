"""The text sources of the one source registry: the synthetic rationale corpus and ERASER.

``SyntheticText`` is generated (offline, seeded); ``movies``, ``fever``, ``esnli``, ``boolq``,
``multirc``, ``cose`` and ``scifact`` read ERASER's published folders from ``data_dir``
(:mod:`saliencylab.data.eraser`). All are modality ``"text"`` with per-token rationales as
ground truth (``has_groundtruth``); none has a background sampler.

Example:
    >>> from saliencylab.data import list_sources
    >>> [s.name for s in list_sources("text")][:4]
    ['SyntheticText', 'movies', 'fever', 'esnli']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saliencylab.data.dataset import Dataset
from saliencylab.data.eraser import ERASER_LAYOUT, load_eraser
from saliencylab.data.text import SyntheticTextConfig, load_synthetic_text
from saliencylab.errors import ConfigError

__all__ = ["ERASER_OPTIONS", "SYNTHETIC_TEXT_OPTIONS", "register_text_sources"]

SYNTHETIC_TEXT_OPTIONS: tuple[str, ...] = tuple(
    f for f in SyntheticTextConfig.model_fields if f != "seed")
ERASER_OPTIONS: tuple[str, ...] = ("max_len", "n_train", "n_val", "n_test", "min_freq",
                                   "max_vocab", "lowercase")

_ERASER_DESCRIPTIONS = {
    "movies": "ERASER Movie Reviews: sentiment (NEG / POS), 1600 / 200 reviews, ~774 tokens "
              "[SGT]",
    "fever": "ERASER FEVER: claim [SEP] evidence, REFUTES / SUPPORTS, ~327 tokens [SGT]",
    "esnli": "ERASER e-SNLI: premise [SEP] hypothesis, 3 classes, ~16 tokens [SGT]",
    "boolq": "ERASER BoolQ: question [SEP] passage, False / True",
    "multirc": "ERASER MultiRC: question || answer [SEP] paragraph, False / True",
    "cose": "ERASER CoS-E: question and choices [SEP] ..., the answer as class",
    "scifact": "ERASER SciFact: claim [SEP] abstract, CONTRADICT / SUPPORT",
}


def _load_synthetic_text(name: str, *, process: str | None, data_dir: str | None, seed: int,
                         cache: bool, **options: Any) -> Dataset:
    if data_dir is not None:
        raise ConfigError(f"{name} is generated, not read from files: it takes no data_dir "
                          f"(got {data_dir!r})")
    return load_synthetic_text(seed=seed, **options)


def _load_eraser(name: str, *, process: str | None, data_dir: str | None, seed: int,
                 cache: bool, **options: Any) -> Dataset:
    return load_eraser(name, data_dir, **options)


#: ``(name, description, loader, options, needs_data_dir)`` of each text source (all of modality
#: ``"text"``, with per-token rationales as ground truth).
TEXT_SOURCES: tuple[tuple[str, str, Any, tuple[str, ...], bool], ...] = (
    ("SyntheticText", "synthetic rationale corpus: 20-40 filler words, 3 planted sentiment words "
     "decide the label (their positions are the rationale); generated, offline",
     _load_synthetic_text, SYNTHETIC_TEXT_OPTIONS, False),
    *((name, f"{text}; data_dir = {ERASER_LAYOUT}", _load_eraser, ERASER_OPTIONS, True)
      for name, text in _ERASER_DESCRIPTIONS.items()),
)


def register_text_sources(register: Callable[[Any], Any]) -> None:
    """Register the text sources with ``register`` (:func:`~saliencylab.data.register_source`)."""
    from saliencylab.data.sources import Source  # the registry module calls this at import

    for name, text, load, options, needs_dir in TEXT_SOURCES:
        register(Source(name, "text", text, load, modality="text", needs_data_dir=needs_dir,
                        has_groundtruth=True, options=options))

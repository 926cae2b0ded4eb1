"""Text data: a vocabulary, padding to ``(N, L)`` token ids, and the synthetic rationale corpus.

Text is modality ``"text"``: ``Split.x`` is ``(N, L)`` int64 token ids padded at the end with
:data:`PAD_ID` (0), ``Split.lengths`` the valid tokens of each row, and ``Split.mask`` (when the
data has rationales) an ``(N, L)`` bool ground-truth mask of the tokens that decide the label —
the human rationales of ERASER (DeYoung et al. 2020, the benchmark of [SGT] Section 5.2) or the
planted tokens of the synthetic corpus. ``Dataset.meta["vocab"]`` lists the tokens by id.

The synthetic rationale corpus (:func:`load_synthetic_text`) is the offline default of the tests
and the ``text-quick`` preset: documents of uniformly drawn filler words in which a few planted
sentiment words of the label's polarity ("great", "awful", ...) decide the label, so the true
rationale is known exactly.

Example:
    >>> data = load_synthetic_text(n_train=40, n_val=10, n_test=10, seed=0)
    >>> data.modality, data.train.x.dtype, data.n_classes
    ('text', torch.int64, 2)
    >>> bool((data.train.mask.sum(1) == 3).all())
    True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field, model_validator

from saliencylab.data.dataset import Dataset, Split
from saliencylab.errors import ConfigError, InvalidDataError
from saliencylab.settings import CheckedModel
from saliencylab.utils import make_generator

__all__ = [
    "NEGATIVE_WORDS",
    "PAD",
    "PAD_ID",
    "POSITIVE_WORDS",
    "SEP",
    "SEP_ID",
    "SPECIALS",
    "SyntheticTextConfig",
    "UNK",
    "UNK_ID",
    "Vocabulary",
    "load_synthetic_text",
    "pad_sequences",
    "text_dataset",
    "token_lengths",
    "tokenize",
    "vocabulary_of",
]

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
#: The special tokens, at ids 0, 1, 2 of every vocabulary.
SPECIALS: tuple[str, ...] = (PAD, UNK, SEP)
PAD_ID, UNK_ID, SEP_ID = 0, 1, 2

#: The planted words of the synthetic corpus (label 1: positive, label 0: negative).
POSITIVE_WORDS: tuple[str, ...] = ("good", "great", "excellent", "superb", "wonderful")
NEGATIVE_WORDS: tuple[str, ...] = ("bad", "awful", "terrible", "poor", "boring")

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words and single punctuation marks of ``text`` (lower-cased by default, as GloVe 6B).

    >>> tokenize("A great film, really!")
    ['a', 'great', 'film', ',', 'really', '!']
    """
    if not isinstance(text, str):
        raise InvalidDataError(f"text must be a string, got {type(text).__name__}")
    return _TOKEN.findall(text.lower() if lowercase else text)


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id; ids 0, 1, 2 are ``[PAD]``, ``[UNK]``, ``[SEP]``.

    Example:
        >>> vocab = Vocabulary.build([["a", "b", "a"], ["c"]], min_freq=1)
        >>> vocab.tokens[3:], vocab.encode(["a", "zzz"])
        (('a', 'b', 'c'), [3, 1])
    """

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ConfigError(f"a vocabulary starts with {SPECIALS}, got {self.tokens[:3]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ConfigError("a vocabulary lists every token once")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, documents: Iterable[Sequence[str]], *, min_freq: int = 1,
              max_size: int | None = None) -> Vocabulary:
        """The vocabulary of ``documents`` (the training split): tokens seen at least
        ``min_freq`` times, most frequent first (ties alphabetically), at most ``max_size``
        tokens besides the specials."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < 1):
            raise ConfigError(f"max_size must be a positive integer or None, got {max_size!r}")
        counts = Counter(t for doc in documents for t in doc)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        return cls(SPECIALS + tuple(kept[:max_size] if max_size else kept))

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """The id of ``token`` (``[UNK]``'s when it is not in the vocabulary)."""
        return self._index.get(token, UNK_ID)  # type: ignore[attr-defined]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unknown tokens become ``[UNK]``."""
        index = self._index  # type: ignore[attr-defined]
        return [index.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` (a ``ConfigError`` for an id outside the vocabulary)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ConfigError(f"token id {i} is outside the vocabulary of {len(self)}")
            out.append(self.tokens[i])
        return out


def pad_sequences(sequences: Sequence[Sequence[int]], max_len: int | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, L)`` int64 ids padded at the end with ``[PAD]`` and their ``(N,)`` lengths; rows
    longer than ``max_len`` are cut to it. ``L`` is the longest row (at least 1).

    >>> ids, lengths = pad_sequences([[5, 6, 7], [8]])
    >>> ids.tolist(), lengths.tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                or max_len < 1):
        raise ConfigError(f"max_len must be a positive integer or None, got {max_len!r}")
    lengths = [min(len(s), max_len) if max_len else len(s) for s in sequences]
    width = max([1, *lengths])
    flat = [int(t) for s, n in zip(sequences, lengths, strict=True) for t in list(s)[:n]]
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    ids = torch.full((len(sequences), width), PAD_ID, dtype=torch.long)
    valid = torch.arange(width)[None, :] < lengths_t[:, None]
    ids[valid] = torch.tensor(flat, dtype=torch.long)
    return ids, lengths_t


def text_dataset(
    name: str,
    splits: dict[str, tuple[list[list[str]], list[int], list[list[bool]] | None]],
    class_names: Sequence[str],
    *,
    config: Any,
    vocab: Vocabulary | None = None,
    min_freq: int = 1,
    max_size: int | None = None,
    max_len: int | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Dataset:
    """A text :class:`Dataset` from tokenised documents.

    Args:
        name: the dataset's name (``meta["name"]``).
        splits: ``"train"`` / ``"val"`` / ``"test"`` -> ``(documents as token lists, labels,
            per-token rationale flags or None)``.
        class_names: label names by class index.
        config: what built it (recorded as ``Dataset.config``).
        vocab: a fixed vocabulary; None builds one on the training split (``min_freq``,
            ``max_size``); tokens outside it become ``[UNK]``.
        max_len: cut documents to this many tokens (rationales beyond are lost).
    """
    if vocab is None:
        vocab = Vocabulary.build(splits["train"][0], min_freq=min_freq, max_size=max_size)
    built = {}
    for part in ("train", "val", "test"):
        docs, labels, rationales = splits[part]
        ids, lengths = pad_sequences([vocab.encode(d) for d in docs], max_len)
        mask = None
        if rationales is not None:
            mask = pad_sequences([[int(f) for f in r] for r in rationales], max_len)[0].bool()
            mask = mask[:, : ids.shape[1]]
        y = torch.tensor(labels, dtype=torch.long)
        built[part] = Split(ids, y, mask=mask, lengths=lengths)
    meta = {"name": name, "task": "classification", "n_classes": len(class_names),
            "class_names": list(class_names), "vocab": list(vocab.tokens), "pad_id": PAD_ID,
            "unk_id": UNK_ID, "sep_id": SEP_ID, **(extra_meta or {})}
    return Dataset(config=config, train=built["train"], val=built["val"], test=built["test"],
                   meta=meta, modality="text")


def token_lengths(ids: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """``(N,)`` valid tokens of ``(N, L)`` ids padded at the end: the last non-pad position + 1
    (0 for an all-pad row).

    >>> token_lengths(torch.tensor([[4, 5, 0, 0], [0, 0, 0, 0], [3, 0, 2, 0]])).tolist()
    [2, 0, 3]
    """
    steps = torch.arange(1, ids.shape[1] + 1, device=ids.device)
    return torch.where(ids != pad_id, steps, 0).amax(1)


def vocabulary_of(data: Dataset) -> Vocabulary:
    """The :class:`Vocabulary` a text dataset records in ``meta["vocab"]``.

    >>> vocabulary_of(load_synthetic_text(n_train=10, n_val=4, n_test=4)).tokens[:3]
    ('[PAD]', '[UNK]', '[SEP]')
    """
    if data.modality != "text" or "vocab" not in data.meta:
        raise ConfigError(f"{data.name!r} is {data.modality} data without a vocabulary")
    return Vocabulary(tuple(data.meta["vocab"]))


# ---------------------------------------------------------------------------------------------
# The synthetic rationale corpus


class SyntheticTextConfig(CheckedModel):
    """Settings of the synthetic rationale corpus (:func:`load_synthetic_text`)."""

    n_train: int = Field(1000, ge=2)
    n_val: int = Field(200, ge=1)
    n_test: int = Field(200, ge=1)
    min_len: int = Field(20, ge=1)
    max_len: int = Field(40, ge=1)
    n_filler: int = Field(200, ge=1)
    n_planted: int = Field(3, ge=1)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> SyntheticTextConfig:
        if self.max_len < self.min_len:
            raise ValueError(f"max_len ({self.max_len}) must be >= min_len ({self.min_len})")
        if self.n_planted > self.min_len:
            raise ValueError(f"n_planted ({self.n_planted}) must be <= min_len "
                             f"({self.min_len}): every document holds its planted words")
        return self


def load_synthetic_text(**options: Any) -> Dataset:
    """The synthetic rationale corpus: filler documents where planted words decide the label.

    Each document has a length drawn uniformly from ``[min_len, max_len]`` and filler words
    ``w000``, ``w001``, ... drawn uniformly (they carry no information about the label); then
    ``n_planted`` distinct positions, drawn uniformly, get words of the label's polarity
    (:data:`POSITIVE_WORDS` for label 1, :data:`NEGATIVE_WORDS` for label 0). ``mask`` marks
    exactly the planted positions. Labels are balanced; generation is batched and seeded
    (same seed, same corpus). The vocabulary is the specials, the planted words and the fillers.

    Args:
        **options: :class:`SyntheticTextConfig` fields.

    Example:
        >>> data = load_synthetic_text(n_train=8, n_val=4, n_test=4, seed=1)
        >>> vocab = vocabulary_of(data)
        >>> row = data.train.x[0][data.train.mask[0]].tolist()
        >>> words = POSITIVE_WORDS if int(data.train.y[0]) == 1 else NEGATIVE_WORDS
        >>> all(t in words for t in vocab.decode(row))
        True
    """
    config = SyntheticTextConfig(**options)
    vocab = Vocabulary(SPECIALS + NEGATIVE_WORDS + POSITIVE_WORDS
                       + tuple(f"w{i:03d}" for i in range(config.n_filler)))
    first_filler = len(SPECIALS) + len(NEGATIVE_WORDS) + len(POSITIVE_WORDS)
    neg = torch.tensor([vocab.id(w) for w in NEGATIVE_WORDS])
    pos = torch.tensor([vocab.id(w) for w in POSITIVE_WORDS])
    gen = make_generator(config.seed)
    sizes = {"train": config.n_train, "val": config.n_val, "test": config.n_test}
    n, width = sum(sizes.values()), config.max_len
    lengths = torch.randint(config.min_len, config.max_len + 1, (n,), generator=gen)
    ids = torch.randint(first_filler, len(vocab), (n, width), generator=gen)
    y = (torch.randperm(n, generator=gen) % 2).long()
    valid = torch.arange(width)[None, :] < lengths[:, None]
    # n_planted distinct valid positions per row: the smallest of uniform scores (pads last).
    scores = torch.rand(n, width, generator=gen).masked_fill(~valid, 2.0)
    where = torch.zeros(n, width, dtype=torch.bool)
    where.scatter_(1, scores.topk(config.n_planted, dim=1, largest=False).indices, True)
    choice = torch.randint(0, len(POSITIVE_WORDS), (n, width), generator=gen)
    planted = torch.where(y[:, None] == 1, pos[choice], neg[choice])
    ids = torch.where(where, planted, ids).masked_fill(~valid, PAD_ID)
    meta = {"name": "SyntheticText", "task": "classification", "n_classes": 2,
            "class_names": ["negative", "positive"], "vocab": list(vocab.tokens),
            "pad_id": PAD_ID, "unk_id": UNK_ID, "sep_id": SEP_ID}
    parts, start = {}, 0
    for part, size in sizes.items():
        rows = slice(start, start + size)
        parts[part] = Split(ids[rows], y[rows], mask=where[rows], lengths=lengths[rows])
        start += size
    return Dataset(config=config, train=parts["train"], val=parts["val"], test=parts["test"],
                   meta=meta, modality="text")

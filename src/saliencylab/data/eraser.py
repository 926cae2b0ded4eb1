"""The ERASER benchmark (DeYoung et al., ACL 2020) read from its published folder layout.

[SGT] Section 5.2 evaluates saliency guided training on three ERASER sets (movies, FEVER,
e-SNLI; [SGT-supp] Table 3); the reader also takes BoolQ, MultiRC, CoS-E and SciFact, which share
the format. One dataset's folder (``DATA_DIR/<name>/`` or ``DATA_DIR`` itself) holds:

* ``docs/<docid>`` — one document per file, one sentence per line, tokens separated by spaces
  (or ``docs.jsonl``, lines ``{"docid": ..., "document": ...}``);
* ``train.jsonl``, ``val.jsonl``, ``test.jsonl`` — one annotation per line::

      {"annotation_id": "negR_000.txt", "classification": "NEG", "query": "...",
       "docids": null, "evidences": [[{"docid": "negR_000.txt", "start_token": 287,
       "end_token": 291, "start_sentence": -1, "end_sentence": -1, "text": "..."}]]}

The model input is ``query [SEP] document`` for the sets with a query (FEVER's claim, BoolQ's
question, ...; e-SNLI's premise and hypothesis are two documents joined by ``[SEP]``), the
document alone for movies (whose query is the same question for every review). Tokens are the
documents' own (whitespace) tokens, lower-cased; the query is split on whitespace too. Every
evidence span ``[start_token, end_token)`` of the annotation marks its tokens in the per-token
rationale mask (``Split.mask``). The vocabulary is built on the training split; other tokens
become ``[UNK]``.

Example:
    >>> from saliencylab.data import load_dataset
    >>> data = load_dataset("movies", data_dir="data/eraser")  # doctest: +SKIP
    >>> data.modality, data.meta["class_names"]  # doctest: +SKIP
    ('text', ['NEG', 'POS'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saliencylab.data.dataset import Dataset
from saliencylab.data.text import SEP, text_dataset
from saliencylab.errors import ConfigError, InvalidDataError, SaliencyLabError

__all__ = ["ERASER_CLASSES", "ERASER_DATASETS", "ERASER_LAYOUT", "load_eraser"]

#: The label names of each ERASER set, in class-index order (CoS-E's answers vary per
#: question: its classes are the sorted training labels).
ERASER_CLASSES: dict[str, tuple[str, ...] | None] = {
    "movies": ("NEG", "POS"),
    "fever": ("REFUTES", "SUPPORTS"),
    "esnli": ("contradiction", "entailment", "neutral"),
    "boolq": ("False", "True"),
    "multirc": ("False", "True"),
    "scifact": ("CONTRADICT", "SUPPORT"),
    "cose": None,
}
ERASER_DATASETS: tuple[str, ...] = tuple(ERASER_CLASSES)
ERASER_LAYOUT = ("DATA_DIR/<name>/ (or DATA_DIR) with docs/<docid> or docs.jsonl and "
                 "train.jsonl, val.jsonl, test.jsonl (ERASER's published layout)")
_SPLIT_FILES = {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"}
#: Sets whose query is the same question for every document (movies: "What is the sentiment of
#: this review?"): the input is the document alone.
_NO_QUERY = frozenset({"movies"})


def _folder(name: str, data_dir: str | Path) -> Path:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise SaliencyLabError(f"data_dir {str(root)!r} does not exist or is not a directory; "
                               f"expected {ERASER_LAYOUT}")
    for candidate in (root / name, root):
        if (candidate / "train.jsonl").is_file():
            return candidate
    raise SaliencyLabError(f"no ERASER {name} data in {str(root)!r}: neither {name}/train.jsonl "
                           f"nor train.jsonl is there; expected {ERASER_LAYOUT}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SaliencyLabError(f"missing ERASER file {str(path)!r}; expected {ERASER_LAYOUT}")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidDataError(f"{path}, line {number}: not valid JSON ({exc.msg})"
                                       ) from None
            if not isinstance(row, dict):
                raise InvalidDataError(f"{path}, line {number}: expected a JSON object, got "
                                       f"{type(row).__name__}")
            rows.append(row)
    return rows


class _Documents:
    """Documents by id, read on demand from ``docs/`` or all at once from ``docs.jsonl``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.cache: dict[str, list[str]] = {}
        lines = folder / "docs.jsonl"
        if lines.is_file():
            for row in _read_jsonl(lines):
                if "docid" not in row or not isinstance(row.get("document"), str):
                    raise InvalidDataError(f"{lines}: every line needs a 'docid' and a "
                                           f"'document' string; got keys {sorted(row)}")
                self.cache[str(row["docid"])] = row["document"].split()
        elif not (folder / "docs").is_dir():
            raise SaliencyLabError(f"{str(folder)!r} has neither docs/ nor docs.jsonl; expected "
                                   f"{ERASER_LAYOUT}")

    def __getitem__(self, docid: str) -> list[str]:
        if docid not in self.cache:
            path = self.folder / "docs" / docid
            # A docid is a file name inside docs/, never a path leading out of it.
            if Path(docid).name != docid or docid in ("", ".", ".."):
                raise InvalidDataError(f"docid {docid!r} is not a plain file name")
            if not path.is_file():
                raise SaliencyLabError(f"missing ERASER document {str(path)!r} (docid "
                                       f"{docid!r})")
            self.cache[docid] = path.read_text(encoding="utf-8").split()
        return self.cache[docid]


def _evidence_spans(row: dict[str, Any], where: str) -> list[tuple[str, int, int]]:
    evidences = row.get("evidences") or []
    if not isinstance(evidences, list):
        raise InvalidDataError(f"{where}: 'evidences' must be a list of lists, got "
                               f"{type(evidences).__name__}")
    spans = []
    for group in evidences:
        for ev in group if isinstance(group, list) else [group]:
            if not isinstance(ev, dict) or not {"docid", "start_token", "end_token"} <= set(ev):
                raise InvalidDataError(f"{where}: every evidence needs docid, start_token and "
                                       f"end_token; got {ev!r}")
            spans.append((str(ev["docid"]), int(ev["start_token"]), int(ev["end_token"])))
    return spans


def _docids(row: dict[str, Any], spans: list[tuple[str, int, int]], name: str) -> list[str]:
    if row.get("docids"):
        return [str(d) for d in row["docids"]]
    aid = str(row["annotation_id"])
    if name == "esnli":
        return [f"{aid}_premise", f"{aid}_hypothesis"]
    found = list(dict.fromkeys(d for d, _, _ in spans))
    return found or [aid]


def _example(row: dict[str, Any], docs: _Documents, name: str, lowercase: bool, where: str
             ) -> tuple[list[str], str, list[bool]]:
    for key in ("annotation_id", "classification"):
        if key not in row:
            raise InvalidDataError(f"{where}: missing key {key!r} (keys: {sorted(row)})")
    spans = _evidence_spans(row, where)
    tokens: list[str] = []
    flags: list[bool] = []
    query = row.get("query")
    if name not in _NO_QUERY and isinstance(query, str) and query.strip():
        q = query.split()
        tokens += [*q, SEP]
        flags += [False] * (len(q) + 1)
    offsets = {}
    for i, docid in enumerate(_docids(row, spans, name)):
        if i:
            tokens.append(SEP)
            flags.append(False)
        offsets[docid] = len(tokens)
        doc = docs[docid]
        tokens += doc
        flags += [False] * len(doc)
    for docid, start, end in spans:
        if docid not in offsets:
            raise InvalidDataError(f"{where}: evidence names docid {docid!r}, which is not one "
                                   f"of the annotation's documents {sorted(offsets)}")
        size = len(docs[docid])
        if not 0 <= start < end <= size:
            raise InvalidDataError(f"{where}: evidence tokens [{start}, {end}) lie outside "
                                   f"document {docid!r} of {size} tokens")
        base = offsets[docid]
        flags[base + start: base + end] = [True] * (end - start)
    if lowercase:
        tokens = [t if t == SEP else t.lower() for t in tokens]
    return tokens, str(row["classification"]), flags


def load_eraser(
    name: str,
    data_dir: str | Path,
    *,
    max_len: int | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    min_freq: int = 1,
    max_vocab: int | None = None,
    lowercase: bool = True,
) -> Dataset:
    """One ERASER dataset as a text :class:`Dataset` (module docstring: layout and inputs).

    Args:
        name: ``movies``, ``fever``, ``esnli``, ``boolq``, ``multirc``, ``cose`` or
            ``scifact`` (any case).
        data_dir: ``DATA_DIR/<name>/`` or the dataset folder itself.
        max_len: cut inputs to this many tokens (None: keep all; movies average 774).
        n_train, n_val, n_test: keep the first so many annotations of each split (e-SNLI has
            911 928 training pairs).
        min_freq, max_vocab: vocabulary of the training split (tokens seen ``min_freq`` times,
            the ``max_vocab`` most frequent).
        lowercase: lower-case the tokens (GloVe 6B is lower-cased).

    Raises:
        SaliencyLabError: a missing folder, file or document.
        InvalidDataError: a malformed line (invalid JSON, missing keys, an evidence span outside
            its document, a label of val/test not seen in training).
    """
    key = name.lower()
    if key not in ERASER_CLASSES:
        raise ConfigError(f"{name!r} is not an ERASER dataset; expected one of "
                          f"{', '.join(ERASER_DATASETS)}")
    folder = _folder(key, data_dir)
    docs = _Documents(folder)
    caps = {"train": n_train, "val": n_val, "test": n_test}
    examples: dict[str, tuple[list[list[str]], list[str], list[list[bool]]]] = {}
    for part, file in _SPLIT_FILES.items():
        rows = _read_jsonl(folder / file)
        cap = caps[part]
        if cap is not None:
            if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
                raise ConfigError(f"n_{part} must be a positive integer or None, got {cap!r}")
            rows = rows[:cap]
        if not rows:
            raise InvalidDataError(f"{folder / file} holds no annotations")
        built = [_example(r, docs, key, lowercase, f"{folder / file}, annotation {i + 1}")
                 for i, r in enumerate(rows)]
        examples[part] = ([b[0] for b in built], [b[1] for b in built], [b[2] for b in built])
    classes = ERASER_CLASSES[key] or tuple(sorted(set(examples["train"][1])))
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for part, (tokens, labels, flags) in examples.items():
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise InvalidDataError(f"{folder / _SPLIT_FILES[part]}: labels {unknown[:5]} are not "
                                   f"among the classes of {key}: {', '.join(classes)}")
        splits[part] = (tokens, [index[c] for c in labels], flags)
    config = {"name": key, "data_dir": str(folder), "max_len": max_len, "n_train": n_train,
              "n_val": n_val, "n_test": n_test, "min_freq": min_freq, "max_vocab": max_vocab,
              "lowercase": lowercase}
    return text_dataset(key, splits, classes, config=config, min_freq=min_freq,
                        max_size=max_vocab, max_len=max_len)

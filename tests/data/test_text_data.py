"""Text data: the synthetic rationale corpus, the ERASER folder reader, GloVe vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from saliencylab.data import load_dataset, load_from_spec
from saliencylab.data.eraser import load_eraser
from saliencylab.data.glove import glove_vectors
from saliencylab.data.text import (
    NEGATIVE_WORDS,
    PAD_ID,
    POSITIVE_WORDS,
    SEP_ID,
    UNK_ID,
    Vocabulary,
    load_synthetic_text,
    pad_sequences,
    vocabulary_of,
)
from saliencylab.errors import ConfigError, InvalidDataError, SaliencyLabError

# -- synthetic corpus -------------------------------------------------------------------------


def test_synthetic_corpus_rationale_is_exactly_the_planted_words():
    data = load_synthetic_text(n_train=200, n_val=20, n_test=20, seed=3)
    vocab = vocabulary_of(data)
    split = data.train
    pos = torch.tensor([vocab.id(w) for w in POSITIVE_WORDS])
    neg = torch.tensor([vocab.id(w) for w in NEGATIVE_WORDS])
    is_pos, is_neg = torch.isin(split.x, pos), torch.isin(split.x, neg)
    # The mask marks exactly the sentiment words, all of the label's polarity.
    assert torch.equal(split.mask, is_pos | is_neg)
    assert bool((is_pos.any(1) == (split.y == 1)).all())
    assert bool((is_neg.any(1) == (split.y == 0)).all())
    assert bool((split.mask.sum(1) == 3).all())
    # Padding at the end, lengths in range, no pad inside.
    valid = split.valid_mask
    assert bool(((split.x == PAD_ID) == ~valid).all())
    assert int(split.lengths.min()) >= 20 and int(split.lengths.max()) <= 40
    assert data.modality == "text" and split.x.dtype == torch.int64


def test_synthetic_corpus_seeded_and_through_the_registry():
    a = load_dataset("SyntheticText", seed=1, n_train=30, n_val=5, n_test=5)
    b = load_from_spec(a.spec)
    c = load_dataset("synthetictext", seed=2, n_train=30, n_val=5, n_test=5)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.mask, b.test.mask)
    assert not torch.equal(a.train.x, c.train.x)
    with pytest.raises(ConfigError, match="n_planted"):
        load_dataset("SyntheticText", n_planted=30, min_len=20)
    with pytest.raises(ConfigError, match="no data_dir"):
        load_dataset("SyntheticText", data_dir="/tmp")


def test_vocabulary_and_padding():
    vocab = Vocabulary.build([["b", "a", "a"], ["c", "a"]], min_freq=1, max_size=2)
    assert vocab.tokens[:3] == ("[PAD]", "[UNK]", "[SEP]") and vocab.tokens[3:] == ("a", "b")
    assert vocab.encode(["a", "c", "[SEP]"]) == [3, UNK_ID, SEP_ID]
    ids, lengths = pad_sequences([[4, 5, 6], [7]], max_len=2)
    assert ids.tolist() == [[4, 5], [7, 0]] and lengths.tolist() == [2, 1]
    with pytest.raises(ConfigError):
        Vocabulary(("a", "b"))


# -- ERASER -----------------------------------------------------------------------------------


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _evidence(docid: str, start: int, end: int) -> list[dict]:
    return [{"docid": docid, "start_token": start, "end_token": end, "start_sentence": -1,
             "end_sentence": -1, "text": ""}]


@pytest.fixture
def eraser_root(tmp_path: Path) -> Path:
    """A tiny ERASER folder: movies (docs/ folder, no query) and fever (docs.jsonl, a query)."""
    movies = tmp_path / "movies"
    (movies / "docs").mkdir(parents=True)
    texts = {"negR_000.txt": "this film is awful .\nreally bad acting", "posR_000.txt":
             "a great movie .\nsuperb cast", "negR_001.txt": "boring plot", "posR_001.txt":
             "Wonderful !"}
    for docid, text in texts.items():
        (movies / "docs" / docid).write_text(text)
    _jsonl(movies / "train.jsonl", [
        {"annotation_id": "negR_000.txt", "classification": "NEG", "query": "What is the "
         "sentiment of this review?", "docids": None,
         "evidences": [_evidence("negR_000.txt", 3, 4), _evidence("negR_000.txt", 6, 7)]},
        {"annotation_id": "posR_000.txt", "classification": "POS", "query": "",
         "docids": None, "evidences": [_evidence("posR_000.txt", 1, 2)]}])
    _jsonl(movies / "val.jsonl", [{"annotation_id": "negR_001.txt", "classification": "NEG",
                                   "evidences": [_evidence("negR_001.txt", 0, 1)]}])
    _jsonl(movies / "test.jsonl", [{"annotation_id": "posR_001.txt", "classification": "POS",
                                    "evidences": []}])
    fever = tmp_path / "fever"
    fever.mkdir()
    _jsonl(fever / "docs.jsonl", [{"docid": "Paris", "document": "Paris is in France ."},
                                  {"docid": "Rome", "document": "Rome is in Italy ."}])
    rows = [{"annotation_id": "1", "classification": "SUPPORTS", "query": "Paris is French",
             "evidences": [_evidence("Paris", 2, 4)], "docids": ["Paris"]},
            {"annotation_id": "2", "classification": "REFUTES", "query": "Rome is in Spain",
             "evidences": [_evidence("Rome", 3, 4)], "docids": ["Rome"]}]
    for name in ("train", "val", "test"):
        _jsonl(fever / f"{name}.jsonl", rows)
    return tmp_path


def test_movies_documents_labels_and_rationale_mask(eraser_root: Path):
    data = load_dataset("movies", data_dir=eraser_root)
    vocab = vocabulary_of(data)
    assert data.meta["class_names"] == ["NEG", "POS"] and data.train.y.tolist() == [0, 1]
    first = vocab.decode(data.train.x[0, : int(data.train.lengths[0])].tolist())
    # The movies query is the same question for every review: the input is the document.
    assert first == ["this", "film", "is", "awful", ".", "really", "bad", "acting"]
    marked = [t for t, m in zip(first, data.train.mask[0].tolist(), strict=False) if m]
    assert marked == ["awful", "bad"]
    # 'Wonderful' (test) is lower-cased but unseen in training -> [UNK].
    assert vocab.decode(data.train.x[1, :2].tolist()) == ["a", "great"]
    assert data.train.mask[1].nonzero().flatten().tolist() == [1]
    assert data.test.x[0, 0].item() == UNK_ID and not data.test.mask.any()
    assert data.spec["data_dir"] == str(eraser_root)


def test_query_and_document_joined_by_sep(eraser_root: Path):
    data = load_eraser("fever", eraser_root / "fever")
    vocab = vocabulary_of(data)
    tokens = vocab.decode(data.train.x[0, : int(data.train.lengths[0])].tolist())
    assert tokens == ["paris", "is", "french", "[SEP]", "paris", "is", "in", "france", "."]
    assert data.train.mask[0].nonzero().flatten().tolist() == [6, 7]  # "in France"
    assert data.meta["class_names"] == ["REFUTES", "SUPPORTS"]
    assert data.train.y.tolist() == [1, 0]


def test_esnli_premise_and_hypothesis(tmp_path: Path):
    esnli = tmp_path / "esnli"
    (esnli / "docs").mkdir(parents=True)
    (esnli / "docs" / "a1_premise").write_text("a dog runs")
    (esnli / "docs" / "a1_hypothesis").write_text("an animal moves")
    row = {"annotation_id": "a1", "classification": "entailment", "query": "",
           "evidences": [_evidence("a1_premise", 1, 2), _evidence("a1_hypothesis", 1, 2)]}
    for name in ("train", "val", "test"):
        _jsonl(esnli / f"{name}.jsonl", [row])
    data = load_dataset("esnli", data_dir=tmp_path)
    tokens = vocabulary_of(data).decode(data.train.x[0].tolist())
    assert tokens == ["a", "dog", "runs", "[SEP]", "an", "animal", "moves"]
    assert data.train.mask[0].nonzero().flatten().tolist() == [1, 5]
    assert data.n_classes == 3 and data.train.y.tolist() == [1]


def test_eraser_errors_say_what_was_expected(eraser_root: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="reads files"):
        load_dataset("movies")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SaliencyLabError, match="no ERASER movies data"):
        load_dataset("movies", data_dir=tmp_path / "empty")
    with pytest.raises(SaliencyLabError, match="does not exist"):
        load_dataset("movies", data_dir=tmp_path / "nowhere")
    (eraser_root / "movies" / "val.jsonl").unlink()
    with pytest.raises(SaliencyLabError, match="missing ERASER file .*val.jsonl"):
        load_dataset("movies", data_dir=eraser_root)
    fever = eraser_root / "fever"
    (fever / "val.jsonl").write_text('{"annotation_id": "1", "classification": "SUPPORTS"\n')
    with pytest.raises(InvalidDataError, match="val.jsonl, line 1: not valid JSON"):
        load_eraser("fever", fever)
    _jsonl(fever / "val.jsonl", [{"annotation_id": "1", "classification": "SUPPORTS",
                                  "evidences": [_evidence("Paris", 2, 40)], "docids": ["Paris"]}])
    with pytest.raises(InvalidDataError, match=r"\[2, 40\) lie outside"):
        load_eraser("fever", fever)
    _jsonl(fever / "val.jsonl", [{"annotation_id": "1", "classification": "MAYBE",
                                  "evidences": [], "docids": ["Paris"]}])
    with pytest.raises(InvalidDataError, match="MAYBE"):
        load_eraser("fever", fever)
    _jsonl(fever / "val.jsonl", [{"annotation_id": "1", "evidences": []}])
    with pytest.raises(InvalidDataError, match="missing key 'classification'"):
        load_eraser("fever", fever)
    _jsonl(fever / "val.jsonl", [{"annotation_id": "1", "classification": "SUPPORTS",
                                  "evidences": [], "docids": ["Berlin"]}])
    with pytest.raises(SaliencyLabError, match="missing ERASER document"):
        load_eraser("fever", fever)


def test_docid_cannot_leave_the_docs_folder(eraser_root: Path):
    movies = eraser_root / "movies"
    _jsonl(movies / "val.jsonl", [{"annotation_id": "x", "classification": "NEG",
                                   "docids": ["../train.jsonl"], "evidences": []}])
    with pytest.raises(InvalidDataError, match="not a plain file name"):
        load_eraser("movies", movies)


# -- GloVe ------------------------------------------------------------------------------------


def test_glove_file_vectors_and_oov(tmp_path: Path):
    path = tmp_path / "glove.test.3d.txt"
    path.write_text("great 1 2 3\nawful -1 -2 -3\nunused 9 9 9\n")
    vocab = Vocabulary.build([["great", "awful", "film"]])
    vectors = glove_vectors(vocab, str(path), seed=0)
    assert vectors.matrix.shape == (len(vocab), 3)
    assert vectors.matrix[vocab.id("great")].tolist() == [1.0, 2.0, 3.0]
    found = {t for t, f in zip(vocab.tokens, vectors.found.tolist(), strict=True) if f}
    assert found == {"great", "awful"}
    assert vectors.matrix[PAD_ID].abs().sum() == 0  # [PAD] is zero
    oov = vectors.matrix[vocab.id("film")]
    assert oov.abs().sum() > 0  # OOV: a random vector (trainable), not zero
    assert torch.equal(oov, glove_vectors(vocab, str(path), seed=0).matrix[vocab.id("film")])
    path.write_text("great 1 2 3\nawful -1 -2\n")
    with pytest.raises(InvalidDataError, match="line 2: 2 values"):
        glove_vectors(vocab, str(path))
    path.write_text("great 1 x 3\n")
    with pytest.raises(InvalidDataError, match="numbers"):
        glove_vectors(vocab, str(path))
    with pytest.raises(SaliencyLabError, match="not found"):
        glove_vectors(vocab, str(tmp_path / "missing.txt"))

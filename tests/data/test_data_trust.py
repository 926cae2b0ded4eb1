"""Data at the trust boundary: non-finite values in UCR files, test labels the training file
never had, and dataset caches whose tensors changed on disk."""

from __future__ import annotations

import warnings

import pytest
import torch

from saliencylab.data import load_synthetic, load_ucr
from saliencylab.data.cache import payload_checksum
from saliencylab.errors import InvalidDataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path / "cache"))


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")


TRAIN = ["1\t0.1\t0.2\t0.3\t0.4", "2\t0.4\t0.3\t0.2\t0.1", "1\t0.2\t0.2\t0.3\t0.5",
         "2\t0.5\t0.3\t0.1\t0.1"]


def test_inf_in_a_ucr_file_names_the_file_and_the_row(tmp_path):
    _write(tmp_path / "Inf_TRAIN.tsv", TRAIN)
    _write(tmp_path / "Inf_TEST.tsv", ["1\t0.1\t0.2\t0.3\t0.4", "2\t0.1\tinf\t0.3\t0.4"])
    with pytest.raises(InvalidDataError, match=r"Inf_TEST\.tsv: 1 value is inf, in row\(s\) 2 "):
        load_ucr("Inf", folder=tmp_path, cache=False)


def test_nan_inside_a_series_is_not_padding(tmp_path):
    # trailing NaN pads a shorter series (kept); a NaN before the last value is missing data
    _write(tmp_path / "Gap_TRAIN.tsv", [*TRAIN[:2], "1\t0.1\tNaN\t0.3\t0.4", TRAIN[3]])
    _write(tmp_path / "Gap_TEST.tsv", ["1\t0.1\t0.2\tNaN\tNaN"])
    with pytest.raises(InvalidDataError, match=r"Gap_TRAIN\.tsv: row\(s\) 3 \(series counted "
                                               r"from 1\) hold missing values"):
        load_ucr("Gap", folder=tmp_path, cache=False)
    _write(tmp_path / "Gap_TRAIN.tsv", TRAIN)
    data = load_ucr("Gap", folder=tmp_path, cache=False)  # the padded test series is fine
    assert data.test.lengths.tolist() == [2]


def test_test_labels_unseen_in_training_are_refused(tmp_path):
    _write(tmp_path / "New_TRAIN.tsv", TRAIN)
    _write(tmp_path / "New_TEST.tsv", ["1\t0.1\t0.2\t0.3\t0.4", "3\t0.1\t0.2\t0.3\t0.4",
                                       "7\t0.3\t0.2\t0.3\t0.4"])
    with pytest.raises(InvalidDataError, match=r"New_TEST\.tsv: 2 test series carry labels that "
                                               r"do not occur in the training file: '3', '7'"):
        load_ucr("New", folder=tmp_path, cache=False)


def test_a_tampered_cache_is_ignored_with_a_warning_and_rebuilt():
    first = load_synthetic("Middle", n_train=20, n_test=4)
    path = first.meta["cache_path"]
    payload = torch.load(path, weights_only=True)
    assert payload["checksum"] == payload_checksum(payload)
    payload["splits"]["train"]["x"][0, 0, 0] += 1.0  # still a well-formed cache file
    torch.save(payload, path)
    with pytest.warns(UserWarning, match=r"ignoring corrupted dataset cache .*checksum does not "
                                         r"match its tensors"):
        again = load_synthetic("Middle", n_train=20, n_test=4)
    assert again.meta["from_cache"] is False
    assert torch.equal(again.train.x, first.train.x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt and rewritten: read back without a word
        third = load_synthetic("Middle", n_train=20, n_test=4)
    assert third.meta["from_cache"] is True and torch.equal(third.train.x, first.train.x)


def test_a_cache_without_checksum_is_rebuilt_with_a_warning(tmp_path):
    _write(tmp_path / "Old_TRAIN.tsv", TRAIN)
    _write(tmp_path / "Old_TEST.tsv", TRAIN[:2])
    first = load_ucr("Old", folder=tmp_path)
    payload = torch.load(first.meta["cache_path"], weights_only=True)
    del payload["checksum"]  # as written before caches carried one
    torch.save(payload, first.meta["cache_path"])
    with pytest.warns(UserWarning, match=r"ignoring corrupted UCR cache .*carries no checksum"):
        again = load_ucr("Old", folder=tmp_path)
    assert again.meta["from_cache"] is False and torch.equal(again.train.x, first.train.x)

"""The registry of named sources and load_dataset: listing by kind, case-insensitive names and
processes, suggestions, UCR/UEA folders (.tsv, .ts, .arff), ragged lengths, the spec round trip,
names that would escape their folder, and identity with load_synthetic."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import saliencylab.data.sources as sources_module
from saliencylab.data import (
    DESIGNS,
    PROCESSES,
    SHIPPED_DATASETS,
    VANISHING_DESIGNS,
    Dataset,
    Source,
    archive_source,
    get_source,
    list_sources,
    load_dataset,
    load_from_spec,
    load_synthetic,
    load_ucr,
    register_source,
    shipped_datasets,
)
from saliencylab.data.segmentation import write_tool_tracking_example
from saliencylab.errors import ConfigError, SaliencyLabError, UnknownNameError

torch.set_num_threads(1)

needs_aeon = pytest.mark.skipif(not shipped_datasets(), reason="aeon is not installed")
SMALL = {"n_train": 24, "n_test": 6}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SALIENCYLAB_CACHE", str(tmp_path / "cache"))


def _equal(a: Dataset, b: Dataset) -> None:
    for name in ("train", "val", "test"):
        for field, value in a.splits[name].tensors().items():
            other = getattr(b.splits[name], field)
            assert (value is None) == (other is None), (name, field)
            assert value is None or torch.equal(value, other), (name, field)


# ------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------


def test_registry_lists_sources_by_kind():
    kinds = list(dict.fromkeys(s.kind for s in list_sources()))
    assert kinds[:4] == ["synthetic", "vanishing", "ucr", "segmentation"]
    synthetic = list_sources("synthetic")
    assert [s.name for s in synthetic] == list(DESIGNS)
    assert all(s.processes == PROCESSES and s.default_process == "Gaussian"
               and s.has_groundtruth and s.task == "classification" for s in synthetic)
    vanishing = list_sources("Vanishing")  # kinds match ignoring case too
    assert [s.name for s in vanishing] == list(VANISHING_DESIGNS)
    assert all(s.processes == ("Gaussian",) for s in vanishing)
    ucr = list_sources("ucr")
    assert [s.name for s in ucr] == list(SHIPPED_DATASETS)
    assert all(not s.processes and not s.has_groundtruth for s in ucr)
    seg = {s.name: s for s in list_sources("segmentation")}
    assert seg["SyntheticSegmentation"].task == "segmentation"
    assert seg["SyntheticSegmentation"].has_groundtruth
    assert seg["ToolTracking"].needs_data_dir and seg["ToolTracking"].task == "segmentation"
    assert [s.name for s in list_sources("image")] == [
        "digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "image-folder", "digits-ts",
        "mnist-ts"]
    assert [s.name for s in list_sources("text")] == [
        "SyntheticText", "movies", "fever", "esnli", "boolq", "multirc", "cose", "scifact"]
    assert len(list_sources()) == 10 + 3 + len(SHIPPED_DATASETS) + 2 + 8 + 8
    with pytest.raises(UnknownNameError, match="did you mean 'synthetic'"):
        list_sources("synthtic")


def test_register_source_is_one_call(monkeypatch):
    monkeypatch.setattr(sources_module, "_REGISTRY", dict(sources_module._REGISTRY))
    seen = {}

    def load_tiny(name, *, process, data_dir, seed, cache, **options):
        seen.update(name=name, process=process, seed=seed, **options)
        return load_synthetic("Middle", process, seed=seed, cache=False, n_train=10, n_test=2)

    source = Source("TinyImages", "image", "a tiny test source", load_tiny,
                    processes=("Gaussian", "NARMA"), default_process="Gaussian",
                    options=("size",))
    assert register_source(source) is source
    assert get_source("tinyimages") is source and source in list_sources("image")
    data = load_dataset("TINYIMAGES", process="narma", seed=3, size=8)
    assert seen == {"name": "TinyImages", "process": "NARMA", "seed": 3, "size": 8}
    assert data.spec == {"name": "TinyImages", "process": "NARMA", "data_dir": None, "seed": 3,
                         "options": {"size": 8}}
    with pytest.raises(ConfigError, match="already registered"):
        register_source(Source("tinyIMAGES", "image", "again", load_tiny))
    register_source(Source("tinyimages", "image", "again", load_tiny), overwrite=True)
    assert get_source("TinyImages").description == "again"
    with pytest.raises(ConfigError, match="modality"):
        Source("Bad", "audio", "x", load_tiny, modality="audio")
    with pytest.raises(ConfigError, match="default_process"):
        Source("Bad", "synthetic", "x", load_tiny, processes=("Gaussian",))
    with pytest.raises(ConfigError, match="plain name"):
        Source("../Bad", "synthetic", "x", load_tiny)


# ------------------------------------------------------------------------------------------------
# names, processes, suggestions
# ------------------------------------------------------------------------------------------------


def test_names_and_processes_are_case_insensitive():
    assert get_source("middle") is get_source("MIDDLE") is get_source("Middle")
    reference = load_dataset("Middle", process="NARMA", cache=False, **SMALL)
    for name, process in (("middle", "narma"), ("MIDDLE", "NARMA"), ("mIdDlE", "Narma"),
                          ("middle_NARMA", None), ("Middle_narma", "NARMA")):
        data = load_dataset(name, process=process, cache=False, **SMALL)
        assert data.spec["name"] == "Middle" and data.spec["process"] == "NARMA"
        _equal(reference, data)
    assert load_dataset("vanishingearly", process="gaussian", cache=False,
                        **SMALL).spec["name"] == "VanishingEarly"
    default = load_dataset("rarefeature", cache=False, **SMALL)
    assert default.spec["process"] == "Gaussian"
    with pytest.raises(ConfigError, match="NARMA"):
        load_dataset("Middle_NARMA", process="CAR", cache=False, **SMALL)
    # also load_synthetic and the design lookup
    _equal(reference, load_synthetic("middle", "narma", cache=False, **SMALL))


@needs_aeon
def test_ucr_names_are_case_insensitive():
    data = load_dataset("gunpoint", cache=False)
    assert data.spec["name"] == "GunPoint" and data.meta["name"] == "GunPoint"
    _equal(data, load_ucr("GUNPOINT", cache=False))


def test_unknown_names_suggest_the_closest():
    with pytest.raises(UnknownNameError) as info:
        load_dataset("GunPiont", cache=False)
    message = str(info.value)
    assert "did you mean 'GunPoint'" in message
    assert "Middle" in message and "SyntheticSegmentation" in message  # the registered names
    assert "data_dir=" in message and "--data-dir" in message and "_TRAIN.ts" in message
    with pytest.raises(UnknownNameError, match="did you mean 'Middle'"):
        load_dataset("Midle", cache=False)
    with pytest.raises(UnknownNameError, match="did you mean 'MovingRareTime'"):
        get_source("movingraretme")
    with pytest.raises(UnknownNameError, match="did you mean 'Gaussian'") as info:
        load_dataset("Middle", process="gausian", cache=False)
    assert "PseudoPeriodic" in str(info.value)
    with pytest.raises(UnknownNameError, match="process"):
        load_dataset("VanishingLate", process="NARMA", cache=False)  # Gaussian only


def test_process_data_dir_and_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="takes no process") as info:
        load_dataset("GunPoint", process="Gaussian", cache=False)
    assert "Middle" in str(info.value) and "VanishingEarly" in str(info.value)
    with pytest.raises(ConfigError, match="takes no process"):
        load_dataset("SyntheticSegmentation", process="Gaussian")
    with pytest.raises(ConfigError, match="takes no process"):
        load_dataset("SomeArchiveProblem", process="Gaussian", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="data_dir"):
        load_dataset("Middle", data_dir=tmp_path, cache=False, **SMALL)
    with pytest.raises(ConfigError, match="data_dir"):
        load_dataset("SyntheticSegmentation", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="--data-dir"):
        load_dataset("ToolTracking")
    with pytest.raises(ConfigError, match="n_trian.*accepts: n_train"):
        load_dataset("Middle", n_trian=10, cache=False)
    with pytest.raises(ConfigError, match="accepts: normalize, val_fraction, padding"):
        load_dataset("GunPoint", n_train=10, cache=False)
    with pytest.raises(ConfigError, match="max_segments"):
        load_dataset("SyntheticSegmentation", segments=2)
    with pytest.raises(ConfigError, match="seed"):
        load_dataset("Middle", seed=-1, cache=False)
    with pytest.raises(ConfigError, match="JSON"):
        load_dataset("Middle", mu=torch.tensor(1.0), cache=False)


@pytest.mark.parametrize("name", ["../GunPoint", "..", "a/b", "/etc/passwd", "a\\b", "C:\\x",
                                  "~/data", "", " GunPoint", "Gun..Point", "x\0y"])
def test_names_that_are_paths_are_refused(name, tmp_path):
    with pytest.raises(ConfigError, match="plain name"):
        load_dataset(name, cache=False)
    with pytest.raises(ConfigError, match="plain name"):
        load_dataset(name, data_dir=tmp_path, cache=False)
    with pytest.raises(ConfigError, match="plain name"):
        load_ucr(name, folder=tmp_path, cache=False)


def test_identical_tensors_to_load_synthetic():
    ours = load_dataset("Middle", process="Gaussian", seed=0, n_train=500, n_test=100,
                        cache=False)
    theirs = load_synthetic("Middle", "Gaussian", seed=0, n_train=500, n_test=100, cache=False)
    assert ours.config == theirs.config
    _equal(ours, theirs)
    assert torch.equal(ours.scaler.minimum, theirs.scaler.minimum)
    assert torch.equal(ours.background(4, seed=0), theirs.background(4, seed=0))
    other = load_dataset("Middle", process="Gaussian", seed=1, n_train=500, n_test=100,
                         cache=False)
    assert not torch.equal(other.train.x, ours.train.x)


# ------------------------------------------------------------------------------------------------
# UCR/UEA archives from a folder, in the archive's own formats
# ------------------------------------------------------------------------------------------------


def _series(rng, n, lengths=(6, 8)):
    labels = ["1", "2"] * (n // 2)
    return [(lab, rng.normal(size=lengths[i % len(lengths)]).round(4).tolist())
            for i, lab in enumerate(labels)]


def _write_ucr2018_tsv(path, rows):
    """The UCR 2018 archive's .tsv: label, then the values, tab-separated; a shorter series is
    padded with NaN to the longest."""
    width = max(len(v) for _, v in rows)
    lines = ["\t".join([lab] + [repr(v) for v in vals] + ["NaN"] * (width - len(vals)))
             for lab, vals in rows]
    path.write_text("\n".join(lines) + "\n")


def _write_ts(path, name, rows):
    """aeon's / the archive's .ts: header, then ``v1,v2,...:label`` per series."""
    header = (f"#Tiny test problem\n@problemName {name}\n@timeStamps false\n@missing false\n"
              f"@univariate true\n@equalLength false\n@classLabel true 1 2\n@data\n")
    body = "\n".join(",".join(repr(v) for v in vals) + f":{lab}" for lab, vals in rows)
    path.write_text(header + body + "\n")


def _write_arff(path, name, rows):
    """The UCR archive's univariate Weka .arff: numeric attributes att1..attL, then the nominal
    class; a shorter series ends in '?' (missing)."""
    width = max(len(v) for _, v in rows)
    head = [f"@relation {name}", ""] + [f"@attribute att{i + 1} numeric" for i in range(width)]
    head += ["@attribute target {1,2}", "", "@data"]
    body = [",".join([repr(v) for v in vals] + ["?"] * (width - len(vals)) + [lab])
            for lab, vals in rows]
    path.write_text("\n".join(head + body) + "\n")


def _check_loaded(data: Dataset, train_rows, test_rows, name: str) -> None:
    assert data.spec["name"] == name and data.meta["name"] == name
    assert data.n_time == 8 and data.n_features == 1 and data.n_classes == 2
    assert data.meta["source"]["kind"] == "folder"
    assert data.test.y.tolist() == [int(lab) - 1 for lab, _ in test_rows]
    assert data.test.lengths.tolist() == [len(v) for _, v in test_rows]
    for i, (_, vals) in enumerate(test_rows):
        assert np.allclose(data.test.x[i, : len(vals), 0].numpy(), vals, atol=1e-5)
        assert (data.test.x[i, len(vals):] == 0).all()
    assert len(data.train) + len(data.val) == len(train_rows)
    assert sorted(data.train.lengths.tolist() + data.val.lengths.tolist()) == sorted(
        len(v) for _, v in train_rows)


def test_ucr2018_tsv_folder_by_name_any_case(tmp_path):
    rng = np.random.default_rng(0)
    train, test = _series(rng, 10), _series(rng, 4, lengths=(8, 5))
    folder = tmp_path / "UCRArchive_2018" / "Coffee"
    folder.mkdir(parents=True)
    _write_ucr2018_tsv(folder / "Coffee_TRAIN.tsv", train)
    _write_ucr2018_tsv(folder / "Coffee_TEST.tsv", test)
    root = tmp_path / "UCRArchive_2018"
    for spelling in ("Coffee", "coffee", "COFFEE"):
        data = load_dataset(spelling, data_dir=root, normalize=False, cache=False)
        _check_loaded(data, train, test, "Coffee")
    assert data.spec == {"name": "Coffee", "process": None, "data_dir": str(root), "seed": 0,
                         "options": {"normalize": False}}
    # files directly in the folder work too, and load_ucr matches the name the same way
    _write_ucr2018_tsv(tmp_path / "Flat_TRAIN.tsv", train)
    _write_ucr2018_tsv(tmp_path / "Flat_TEST.tsv", test)
    flat = load_dataset("flat", data_dir=tmp_path, normalize=False, cache=False)
    _check_loaded(flat, train, test, "Flat")
    _equal(flat, load_ucr("FLAT", folder=tmp_path, normalize=False, cache=False))


def test_missing_archive_in_a_folder_says_what_is_expected(tmp_path):
    rng = np.random.default_rng(0)
    _write_ucr2018_tsv(tmp_path / "Coffee_TRAIN.tsv", _series(rng, 4))
    _write_ucr2018_tsv(tmp_path / "Coffee_TEST.tsv", _series(rng, 2))
    with pytest.raises(UnknownNameError) as info:
        load_dataset("Cofee", data_dir=tmp_path, cache=False)
    message = str(info.value)
    assert "did you mean 'Coffee'" in message and "_TRAIN.ts" in message
    assert ".tsv" in message and ".arff" in message and "found there: Coffee" in message
    with pytest.raises(SaliencyLabError, match="does not exist"):
        load_dataset("Coffee", data_dir=tmp_path / "nowhere", cache=False)


@needs_aeon
def test_ts_folder_by_name_any_case(tmp_path):
    rng = np.random.default_rng(1)
    train, test = _series(rng, 10), _series(rng, 4, lengths=(8, 5))
    folder = tmp_path / "Tiny"
    folder.mkdir()
    _write_ts(folder / "Tiny_TRAIN.ts", "Tiny", train)
    _write_ts(folder / "Tiny_TEST.ts", "Tiny", test)
    for spelling in ("Tiny", "tiny"):
        data = load_dataset(spelling, data_dir=tmp_path, normalize=False, cache=False)
        _check_loaded(data, train, test, "Tiny")
    assert data.meta["source"]["files"]["TRAIN"].endswith("Tiny_TRAIN.ts")


def test_arff_folder_by_name_any_case(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    train, test = _series(rng, 10), _series(rng, 4, lengths=(8, 5))
    test = [("2", test[0][1]), *test[1:]]  # the declared order {1,2}, not the order seen
    folder = tmp_path / "Wafer"
    folder.mkdir()
    _write_arff(folder / "Wafer_TRAIN.arff", "Wafer", train)
    _write_arff(folder / "Wafer_TEST.arff", "Wafer", test)
    for spelling in ("Wafer", "wafer"):
        data = load_dataset(spelling, data_dir=tmp_path, normalize=False, cache=False)
        _check_loaded(data, train, test, "Wafer")
        assert data.meta["class_names"] == ["1", "2"]
    # without aeon the univariate .arff files are read with scipy, to the same tensors
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    no_aeon = load_dataset("WAFER", data_dir=tmp_path, normalize=False, cache=False)
    _equal(data, no_aeon)


@needs_aeon
def test_multivariate_arff_of_the_uea_archive(tmp_path):
    """UEA's relational .arff: one quoted, newline-separated block of channels per series."""
    rows = [("standing", [[1, 2, 3, 4], [0, 1, 0, 1]]), ("running", [[4, 3, 2, 1], [5, 5, 6, 6]]),
            ("standing", [[1, 1, 2, 2], [3, 3, 4, 4]]), ("running", [[0, 2, 0, 2], [9, 8, 7, 6]])]
    head = ["@relation Motions", "@attribute relationalAtt relational"]
    head += [f"@attribute att{i + 1} numeric" for i in range(4)]
    head += ["@end relationalAtt", "@attribute activity {standing,running}", "@data"]
    body = ["'" + "\\n".join(",".join(map(str, ch)) for ch in chans) + f"',{lab}"
            for lab, chans in rows]
    for split in ("TRAIN", "TEST"):
        (tmp_path / f"Motions_{split}.arff").write_text("\n".join(head + body) + "\n")
    data = load_dataset("motions", data_dir=tmp_path, normalize=False, val_fraction=0.0,
                        cache=False)
    assert data.input_shape == (4, 2) and data.meta["class_names"] == ["standing", "running"]
    assert data.test.x[1, :, 1].tolist() == [5.0, 5.0, 6.0, 6.0]
    assert data.test.y.tolist() == [0, 1, 0, 1] and data.test.lengths is None


@needs_aeon
def test_japanese_vowels_lengths_are_the_true_lengths():
    from aeon.datasets import load_classification

    data = load_dataset("JapaneseVowels", cache=False)
    files = {s: load_classification("JapaneseVowels", split=s)[0] for s in ("train", "test")}
    true = {s: [int(np.asarray(x).shape[1]) for x in files[s]] for s in files}
    assert data.test.lengths.dtype == torch.int64
    assert data.test.lengths.tolist() == true["test"]  # the test file keeps its order
    ours = sorted(data.train.lengths.tolist() + data.val.lengths.tolist())
    assert ours == sorted(true["train"])
    for split in data.splits.values():
        valid = split.valid_mask
        assert torch.equal(valid.sum(1), split.lengths)
        assert (split.x[~valid] == 0).all()  # zero padding beyond each series' length
        assert (split.x[valid].abs().sum(-1) > 0).any()


# ------------------------------------------------------------------------------------------------
# spec round trip
# ------------------------------------------------------------------------------------------------


def test_spec_round_trip(tmp_path):
    data = load_dataset("PositionalFeature", process="car", seed=2, cache=False,
                        positions=(0, 10), mu=2.0, **SMALL)
    spec = data.spec
    assert spec == {"name": "PositionalFeature", "process": "CAR", "data_dir": None, "seed": 2,
                    "options": {"positions": [0, 10], "mu": 2.0, **SMALL}}
    stored = json.loads(json.dumps(spec))  # what a checkpoint records
    again = load_from_spec(stored, cache=False)
    _equal(data, again)
    assert again.config == data.config and again.spec == spec
    kwargs = {k: v for k, v in stored.items() if k != "options"}
    _equal(data, load_dataset(**kwargs, **stored["options"], cache=False))

    seg = load_dataset("syntheticsegmentation", seed=5, n_train=10, n_test=4, n_classes=3)
    assert seg.spec["name"] == "SyntheticSegmentation" and seg.spec["process"] is None
    _equal(seg, load_from_spec(json.loads(json.dumps(seg.spec))))

    rng = np.random.default_rng(3)
    _write_ucr2018_tsv(tmp_path / "Beef_TRAIN.tsv", _series(rng, 10))
    _write_ucr2018_tsv(tmp_path / "Beef_TEST.tsv", _series(rng, 4))
    ucr = load_dataset("beef", data_dir=tmp_path, seed=1, val_fraction=0.4, padding="last")
    assert ucr.spec == {"name": "Beef", "process": None, "data_dir": str(tmp_path), "seed": 1,
                        "options": {"val_fraction": 0.4, "padding": "last"}}
    _equal(ucr, load_from_spec(json.loads(json.dumps(ucr.spec))))

    with pytest.raises(ConfigError, match="spec keys"):
        load_from_spec({**spec, "extra": 1})
    with pytest.raises(ConfigError, match="'name'"):
        load_from_spec({"process": "CAR"})


def test_tool_tracking_through_the_registry(tmp_path):
    write_tool_tracking_example(tmp_path, n_measurements=3, n_samples=400)
    data = load_dataset("tooltracking", data_dir=tmp_path, window=200, seed=1)
    assert data.task == "segmentation" and tuple(data.train.y.shape)[1:] == (200,)
    assert data.spec["name"] == "ToolTracking" and data.spec["options"] == {"window": 200}
    _equal(data, load_from_spec(json.loads(json.dumps(data.spec))))
    with pytest.raises(ConfigError, match="accepts: tool, data_types"):
        load_dataset("ToolTracking", data_dir=tmp_path, windw=100)


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------


def test_cli_list_groups_by_kind_and_show_loads_any_source(tmp_path):
    from saliencylab.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    out = listed.output
    for text in ("synthetic:", "vanishing:", "ucr:", "segmentation:", "MovingRareFeature",
                 "NARMA", "VanishingLate", "JapaneseVowels", "SyntheticSegmentation",
                 "ToolTracking", "--data-dir"):
        assert text in out, text
    assert out.index("synthetic:") < out.index("vanishing:") < out.index("ucr:")

    rng = np.random.default_rng(4)
    _write_ucr2018_tsv(tmp_path / "Beef_TRAIN.tsv", _series(rng, 10))
    _write_ucr2018_tsv(tmp_path / "Beef_TEST.tsv", _series(rng, 4))
    png = tmp_path / "beef.png"
    shown = runner.invoke(app, ["data", "show", "beef", "--data-dir", str(tmp_path), "--out",
                                str(png), "--no-cache"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Beef" in shown.output and "ragged: 6..8" in shown.output and png.stat().st_size > 1000
    seg_png = tmp_path / "seg.png"
    seg = runner.invoke(app, ["data", "show", "syntheticsegmentation", "--out", str(seg_png),
                              "--n-per-class", "1"], env={"COLUMNS": "200"})
    assert seg.exit_code == 0, seg.output
    assert "segmentation" in seg.output and seg_png.stat().st_size > 1000
    bad = runner.invoke(app, ["data", "show", "GunPiont"])
    assert isinstance(bad.exception, UnknownNameError)
    assert "did you mean 'GunPoint'" in str(bad.exception)


def test_archive_source_for_names_that_are_not_registered(tmp_path):
    rng = np.random.default_rng(5)
    (tmp_path / "MyProblem").mkdir()
    _write_ucr2018_tsv(tmp_path / "MyProblem" / "MyProblem_TRAIN.tsv", _series(rng, 6))
    _write_ucr2018_tsv(tmp_path / "MyProblem" / "MyProblem_TEST.tsv", _series(rng, 2))
    source = archive_source("myproblem", tmp_path)
    assert (source.name, source.kind, source.processes) == ("MyProblem", "ucr", ())
    assert source.options == ("normalize", "val_fraction", "padding")
    with pytest.raises(UnknownNameError, match="did you mean 'MyProblem'"):
        archive_source("MyProblm", tmp_path)
    with pytest.raises(ConfigError, match="plain name"):
        archive_source("../MyProblem", tmp_path)
    assert archive_source("SomethingElse").name == "SomethingElse"  # the load will tell


@needs_aeon
def test_shipped_sets_fall_back_to_aeon_when_data_dir_lacks_them(tmp_path):
    data = load_dataset("ItalyPowerDemand", data_dir=tmp_path, cache=False)
    assert data.meta["source"]["kind"] == "aeon" and data.spec["data_dir"] == str(tmp_path)
    assert archive_source("gunpointagespan").name == "GunPointAgeSpan"

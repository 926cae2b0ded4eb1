"""The reproduction page: ours from the stores next to the papers' numbers, with verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from saliencylab.bench.paper_tables import TSB_TABLE1
from saliencylab.bench.store import ResultStore
from saliencylab.report.reproduction import TABLE_PRESETS, compare, verdict, write_reproduction


def _fake_tsb_run(root: Path, *, accuracy: float = 1.0, shift: float = 0.0) -> None:
    """A tsb-table1 store with one TCN per design and the table's methods, AUP = the paper's
    + shift (the other metrics the paper's exactly)."""
    run = root / "tsb-table1"
    run.mkdir(parents=True)
    (run / "grid.yaml").write_text(yaml.safe_dump({"name": "tsb-table1",
                                                   "random_baseline": "tsb_random",
                                                   "methods": ["gradient"]}))
    with ResultStore(run / "results.sqlite") as store:
        for design, by_method in TSB_TABLE1.items():
            ids = {"dataset": design, "process": "Gaussian", "model": "tcn",
                   "training": "traditional", "seed": 0}
            train_key = f"train-{design}"
            store.write_cell(train_key, "train", ids, [
                ("test_accuracy", "value", accuracy),
                ("fit_to_interpret", "value", float(accuracy >= 0.95))], duration=1.0)
            store.write_cell(f"eval-{design}-random", "eval",
                             {**ids, "method": "tsb_random", "train_key": train_key},
                             [("aup", "mean", 0.1), ("aur", "mean", 0.2)], duration=1.0)
            for method, metrics in by_method.items():
                rows = [(m, "mean", v + (shift if m == "aup" else 0.0))
                        for m, v in metrics.items()]
                store.write_cell(f"eval-{design}-{method}", "eval",
                                 {**ids, "method": method, "train_key": train_key}, rows,
                                 duration=1.0)


def test_verdict_rule() -> None:
    assert verdict(0.33, 0.30, "aup", under_gate=False) == "agrees"
    assert verdict(0.40, 0.30, "aup", under_gate=False) == "disagrees"
    assert verdict(96.0, 100.0, "test_accuracy_pct", under_gate=True,
                   table="[SGT-supp] Table 5") == "agrees"
    # an interpretability number of a model under the gate is not compared ([TSB], [SGT]) ...
    assert verdict(0.30, 0.30, "aup", under_gate=True, table="[TSB] Table 1") == \
        "not comparable"
    assert verdict(0.30, 0.30, "diff_aup", under_gate=True, table="[SGT-supp] Table 6") == \
        "not comparable"
    # ... but [ICA] Table 1 reports every model
    assert verdict(0.0, 0.0, "wjac", under_gate=True, table="[ICA] Table 1") == "agrees"
    assert verdict(None, 0.3, "aup", under_gate=False) == "not comparable"


def test_compare_reads_the_store(tmp_path: Path) -> None:
    _fake_tsb_run(tmp_path, shift=0.1)
    rows = compare(tmp_path, "small")
    tsb = rows[rows["table"] == "[TSB] Table 1"]
    assert len(tsb) == 32 and tsb["ours"].notna().all()
    aup = tsb[tsb["metric"] == "aup"]
    assert (aup["diff"] - 0.1).abs().max() < 1e-9 and (aup["verdict"] == "disagrees").all()
    rest = tsb[tsb["metric"] != "aup"]
    assert (rest["diff"].abs() < 1e-9).all() and (rest["verdict"] == "agrees").all()
    # tables whose preset has not run: nothing to compare
    other = rows[rows["table"] != "[TSB] Table 1"]
    assert other["ours"].isna().all() and (other["verdict"] == "not comparable").all()
    assert set(rows["table"]) == set(TABLE_PRESETS)


def test_models_under_the_gate_are_not_compared(tmp_path: Path) -> None:
    _fake_tsb_run(tmp_path, accuracy=0.9)
    tsb = compare(tmp_path, "small").query("table == '[TSB] Table 1'")
    assert (tsb["verdict"] == "not comparable").all()


def test_page_has_every_table(tmp_path: Path) -> None:
    _fake_tsb_run(tmp_path / "runs")
    page = write_reproduction(tmp_path / "docs" / "reproduction.md", run_root=tmp_path / "runs")
    text = page.read_text()
    assert "preset `sgt-table2` not run yet" in text  # tables without a run say so
    # all 32 agree, mean |diff| 0, and the stored compute time of its 12 cells of 1 s each
    assert "| [TSB] Table 1 | tsb-table1 | 32 | 32 | 0 | 0 | 0.000 | 12.000 |" in text
    for table in TABLE_PRESETS:
        assert f"## {table}" in text
    assert "agrees" in text and "Verdict rule" in text
    assert (tmp_path / "docs" / "reproduction_rows.csv").is_file()
    assert (tmp_path / "docs" / "img" / "reproduction.png").is_file()
    with pytest.raises(Exception, match="scale"):
        compare(tmp_path / "runs", "huge")


def test_disagreements_are_flagged_with_what_was_tried(tmp_path: Path, monkeypatch) -> None:
    from saliencylab.report import reproduction

    _fake_tsb_run(tmp_path / "runs", shift=0.1)  # the 8 AUP numbers disagree
    monkeypatch.delitem(reproduction.WHAT_WAS_TRIED, "[TSB] Table 1", raising=False)
    page = write_reproduction(tmp_path / "reproduction.md", run_root=tmp_path / "runs")
    section = page.read_text().split("## [TSB] Table 1")[1].split("\n## ")[0]
    assert "**Flagged: 8 disagreements.** Why, and what was tried: not investigated" in section
    monkeypatch.setitem(reproduction.WHAT_WAS_TRIED, "[TSB] Table 1", "the probe says so.")
    page = write_reproduction(tmp_path / "reproduction.md", run_root=tmp_path / "runs")
    assert "what was tried: the probe says so." in page.read_text()
    # a table that agrees everywhere carries no flag
    _fake_tsb_run(tmp_path / "agree")
    text = write_reproduction(tmp_path / "agree.md", run_root=tmp_path / "agree").read_text()
    assert "Flagged" not in text.split("## [TSB] Table 1")[1].split("\n## ")[0]


def _fake_cells(run: Path, dataset: str, model: str, values: dict[tuple[str, str], dict]) -> None:
    """A store with one model per training and eval cells ``values[(training, method)]``."""
    run.mkdir(parents=True)
    with ResultStore(run / "results.sqlite") as store:
        for (training, method), metrics in values.items():
            ids = {"dataset": dataset, "model": model, "training": training, "seed": 0}
            store.write_cell(f"train-{training}", "train", ids, [
                ("test_accuracy", "value", 0.99), ("fit_to_interpret", "value", 1.0)],
                duration=1.0)
            store.write_cell(f"eval-{training}-{method}", "eval",
                             {**ids, "method": method, "train_key": f"train-{training}"},
                             [(m, "mean", v) for m, v in metrics.items()], duration=1.0)


def test_image_auc_is_compared_and_stand_ins_are_not(tmp_path: Path) -> None:
    from saliencylab.bench.paper_tables import SGT_SUPP_AUC, SGT_TABLE1

    # MNIST at small scale: the paper's data, so compared (traditional 300 AUC points off)
    _fake_cells(tmp_path / "mnist-small", "mnist", "mnist_cnn", {
        (t, "gradient"): {"accuracy_drop_iid": v + (300.0 if t == "traditional" else 600.0)}
        for t, v in SGT_SUPP_AUC.items()})
    # text-quick: the synthetic corpus stands in for movies, with the paper's very numbers
    movies = SGT_TABLE1["movies"]
    _fake_cells(tmp_path / "text-quick", "SyntheticText", "bilstm", {
        ("traditional", "gradient"): {m: v[0] for m, v in movies.items()}})
    rows = compare(tmp_path, "small")
    auc = rows[rows["table"] == "[SGT-supp] Table 2"].set_index("training")
    assert auc.loc["traditional", "verdict"] == "agrees"  # 300 <= 400
    assert auc.loc["saliency_guided", "verdict"] == "disagrees"  # 600 > 400
    text = rows[(rows["table"] == "[SGT] Table 1") & (rows["dataset"] == "movies")
                & (rows["method"] == "gradient") & (rows["training"] == "traditional")]
    assert len(text) == 2 and (text["diff"].abs() < 1e-9).all()
    assert (text["verdict"] == "not comparable").all()  # equal, yet other data
    page = write_reproduction(tmp_path / "docs" / "r.md", run_root=tmp_path).read_text()
    assert "`SyntheticText` stands in for the paper's `movies`" in page
    assert "saliencylab bench --preset mnist-small --data-dir DIR" in page


def test_certification_numbers_stand_next_to_cs_table4(tmp_path: Path) -> None:
    from saliencylab.bench.paper_tables import CS_TABLE4

    # the certify experiment's digits CNN stands in for CIFAR-10: shown, never compared
    _fake_cells(tmp_path / "certify", "digits", "mnist_cnn", {
        ("traditional", f"learned_mask_tv{lam:g} ({fill})"): {"completeness": c,
                                                             "soundness": s + 0.01}
        for fill, by_lambda in CS_TABLE4.items() for lam, (c, s) in by_lambda.items()})
    rows = compare(tmp_path, "small")
    cs = rows[rows["table"] == "[CS] Table 4"]
    assert len(cs) == 16 and cs["ours"].notna().all()
    assert (cs["verdict"] == "not comparable").all()
    soundness = cs[cs["metric"] == "soundness"]
    assert (soundness["diff"] - 0.01).abs().max() < 1e-9
    page = write_reproduction(tmp_path / "docs" / "r.md", run_root=tmp_path).read_text()
    assert "`digits` stands in for the paper's `CIFAR-10`" in page


def test_a_changed_grid_is_read_by_its_newest_cells(tmp_path: Path) -> None:
    # The store of a preset whose settings changed keeps the old models' cells under other
    # keys: the page reads the newest cell per model, never an average of old and new.
    from saliencylab.bench.paper_tables import ICA_TABLE1

    run = tmp_path / "vanishing"
    run.mkdir()
    ids = {"dataset": "VanishingMiddle", "model": "lstm", "training": "traditional", "seed": 0}
    with ResultStore(run / "results.sqlite") as store:
        for key, accuracy in (("train-old", 0.51), ("train-new", 0.99)):
            store.write_cell(key, "train", ids, [("test_accuracy", "value", accuracy),
                                                 ("fit_to_interpret", "value", 1.0)],
                             duration=10.0)
    row = compare(tmp_path, "small").query(
        "table == '[ICA] Table 1' and dataset == 'VanishingMiddle' and model == 'lstm' "
        "and metric == 'accuracy_pct'").iloc[0]
    assert row["ours"] == pytest.approx(99.0)
    assert row["paper"] == ICA_TABLE1["lstm"]["VanishingMiddle"]["accuracy_pct"]
    assert row["verdict"] == "agrees"

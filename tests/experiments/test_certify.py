"""The [CS] experiment with tiny settings: its cells land in a results store like any bench run,
a rerun computes nothing, every score lies in its range and the report renders."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from saliencylab.bench.store import ResultStore
from saliencylab.experiments.certify import LAMBDAS_TV, CertifySettings, run_certify

TINY = CertifySettings(
    steps_image=3, steps_series=3, n_eval_image=6, n_eval_series=4, epochs_image=1,
    epochs_series=1, n_train_series=60, n_distractors=2, smoothgrad_samples=2,
)


@pytest.fixture(scope="module")
def certify_run(tmp_path_factory):
    pytest.importorskip("sklearn")  # the digits ship with scikit-learn
    run_dir = tmp_path_factory.mktemp("certify")
    return run_dir, run_certify(run_dir, settings=TINY, seed=0)


def test_certify_rows_are_in_the_store(certify_run):
    run_dir, _ = certify_run
    with ResultStore(run_dir / "results.sqlite") as store:
        cells = store.cells_frame()
        evals = cells[cells["kind"] == "eval"]
        assert set(cells.loc[cells["kind"] == "train", "model"]) == {"mnist_cnn", "tcn"}
        labels = set(evals["method"])
        for lam in LAMBDAS_TV:
            assert {f"learned_mask_tv{lam:g} (gray)", f"learned_mask_tv{lam:g} (distractor)"} \
                <= labels
        assert len(evals) == 2 * 7 * 2  # datasets x methods x fills
        for key in evals["key"]:
            rows = {(m, s): v for m, s, v in store.rows(key)}
            for name in ("completeness", "soundness", "deletion", "insertion"):
                assert 0.0 <= rows[(name, "mean")] <= 1.0 + 1e-6, name
            if key in set(evals.loc[evals["method"].str.endswith("(gray)"), "key"]):
                assert ("saliency_metric", "mean") in rows


def test_certify_table_report_and_resume(certify_run):
    run_dir, page = certify_run
    assert page == run_dir / "report" / "index.html" and page.is_file()
    text = page.read_text()
    assert "completeness" in text and "quality_heatmap.png" in text
    table = pd.read_csv(run_dir / "certify.csv")
    assert set(table["dataset"]) == {"digits", "Middle"}
    assert set(table["fill"]) == {"gray", "distractor"}
    assert (table.loc[table["dataset"] == "digits", "n"] == TINY.n_eval_image).all()
    assert "CIFAR-10 reference" in (run_dir / "certify.md").read_text()
    assert json.loads((run_dir / "settings.json").read_text())["steps_image"] == 3
    with ResultStore(run_dir / "results.sqlite") as store:
        before = store.count()
    run_certify(run_dir, settings=TINY, seed=0)  # resumes: every cell is stored
    with ResultStore(run_dir / "results.sqlite") as store:
        assert store.count() == before

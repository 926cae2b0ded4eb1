"""Smoke test of the [CS] experiment runner with tiny settings: every output is written and every
score lies in its range."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from saliencylab.experiments.certify import LAMBDAS_TV, CertifySettings, run_certify

TINY = CertifySettings(
    steps_image=3, steps_series=3, n_eval_image=6, n_hold_image=3, n_eval_series=4,
    n_hold_series=2, epochs_image=1, epochs_series=1, n_train_series=60, n_distractors=2,
    eval_distractors=2, smoothgrad_samples=2,
)


def test_run_certify_writes_every_output(tmp_path):
    pytest.importorskip("sklearn")  # the digits ship with scikit-learn
    page = run_certify(tmp_path, settings=TINY, seed=0)
    assert page == tmp_path / "report" / "index.html" and page.is_file()
    for name in ("certify.csv", "certify.md", "settings.json", "report/masks_digits.png",
                 "report/masks_series.png"):
        assert (tmp_path / name).is_file(), name
    rows = pd.read_csv(tmp_path / "certify.csv")
    assert set(rows["dataset"]) == {"digits", "Middle/Gaussian"}
    for lam in LAMBDAS_TV:
        assert f"learned mask, TV {lam:g}" in set(rows["method"])
    assert {"random", "centred Gaussian"} <= set(rows["method"])
    for col in ("completeness_gray", "soundness_gray", "completeness_distractor",
                "soundness_distractor", "deletion", "insertion"):
        assert rows[col].between(0.0, 1.0 + 1e-6).all(), col
    assert (rows.loc[rows["dataset"] == "digits", "n"] == TINY.n_eval_image).all()
    assert (rows.loc[rows["dataset"] == "Middle/Gaussian", "n"] == TINY.n_eval_series).all()
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["steps_image"] == 3 and settings["timings_s"]["total"] > 0
    assert "completeness" in page.read_text().lower()

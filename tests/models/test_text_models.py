"""Text classifiers: shapes, rebuild, padding excluded from attributions, GloVe init."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from saliencylab.data import load_dataset
from saliencylab.data.text import vocabulary_of
from saliencylab.errors import InvalidDataError, NotApplicableError, ShapeError
from saliencylab.explain import explain
from saliencylab.models import build_model, build_model_for


@pytest.fixture(scope="module")
def data():
    return load_dataset("SyntheticText", n_train=20, n_val=5, n_test=6, seed=0)


@pytest.mark.parametrize("name", ["bilstm", "text_transformer"])
def test_padding_gets_exactly_zero_attribution_and_does_not_change_logits(data, name):
    model = build_model_for(name, data, seed=0, embed_dim=8).eval()
    x = data.test.x
    logits = model(x)
    assert logits.shape == (len(x), 2)
    wider = torch.cat([x, torch.zeros(len(x), 5, dtype=x.dtype)], 1)  # more padding
    assert torch.allclose(model(wider), logits, atol=1e-5)
    for method in ("gradient", "integrated_gradients"):
        maps = explain(model, x, data.test.y, method).attributions
        assert maps.shape == x.shape                        # one score per token
        assert bool((maps[x == 0] == 0).all())              # padding excluded
        assert bool((maps[x != 0] != 0).any())
    rebuilt = build_model(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    assert torch.allclose(rebuilt.eval()(x), logits)


def test_bad_inputs_and_wrong_data(data):
    model = build_model_for("bilstm", data, seed=0)
    with pytest.raises(InvalidDataError, match="integer token ids"):
        model(torch.zeros(2, 3))
    with pytest.raises(InvalidDataError, match="lie in"):
        model(torch.tensor([[1, 10_000]]))
    with pytest.raises(ShapeError):
        model(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(NotApplicableError, match="bilstm"):
        build_model_for("tcn", data)


def test_glove_file_initialises_the_embedding(data, tmp_path: Path):
    path = tmp_path / "glove.tiny.4d.txt"
    path.write_text("great 1 2 3 4\nawful -1 -2 -3 -4\n")
    model = build_model_for("bilstm", data, seed=0, embeddings=str(path))
    vocab = vocabulary_of(data)
    assert model.config["embed_dim"] == 4 and model.config["embeddings"] == str(path)
    assert model.embedding.weight[vocab.id("great")].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert model.embedding.weight[0].abs().sum() == 0
    assert model.embedding.weight.requires_grad  # trainable, OOV rows too

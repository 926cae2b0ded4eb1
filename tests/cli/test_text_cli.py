"""Text end to end, offline: `train` / `evaluate` on an ERASER-format folder with a GloVe file,
a text bench grid through the one cell path, and its report (Table 1 layout, escaped tokens)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from saliencylab.bench.config import GridConfig, load_config
from saliencylab.bench.runner import run_grid
from saliencylab.bench.store import ResultStore
from saliencylab.report.html import write_report
from saliencylab.report.text import highlight_tokens, table1_frame
from saliencylab.train import read_checkpoint
from tests.cli.cli_run import invoke as _invoke

runner = CliRunner()




def _movies(root: Path) -> Path:
    folder = root / "movies"
    (folder / "docs").mkdir(parents=True)
    words = {"NEG": ["awful", "bad"], "POS": ["great", "superb"]}
    rows: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for i in range(16):
        label = "POS" if i % 2 else "NEG"
        docid = f"{label.lower()}R_{i:03d}.txt"
        tokens = ["the", "film", "was", words[label][i % 4 // 2], "and", "long", "."]
        (folder / "docs" / docid).write_text(" ".join(tokens[:4]) + "\n" + " ".join(tokens[4:]))
        part = "train" if i < 10 else "val" if i < 13 else "test"
        rows[part].append({"annotation_id": docid, "classification": label, "docids": None,
                           "query": "What is the sentiment of this review?", "evidences": [[
                               {"docid": docid, "start_token": 3, "end_token": 4,
                                "start_sentence": -1, "end_sentence": -1, "text": ""}]]})
    for part, lines in rows.items():
        (folder / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return root


def test_train_and_evaluate_movies_with_glove_file(tmp_path: Path):
    root = _movies(tmp_path / "eraser")
    glove = tmp_path / "glove.tiny.4d.txt"
    glove.write_text("great 1 1 0 0\nsuperb 1 0 1 0\nawful -1 -1 0 0\nbad -1 0 -1 0\n")
    ckpt = tmp_path / "movies.pt"
    _invoke("train", "--dataset", "movies", "--data-dir", root, "--model", "bilstm",
            "--embeddings", glove, "--training", "saliency_guided", "--epochs", "2",
            "--batch-size", "5", "--out", ckpt)
    payload = read_checkpoint(ckpt)
    assert payload["procedure"]["k"] == 0.6  # [SGT-supp] Table 3, movies
    assert payload["procedure"]["masking"] == "previous_word"
    assert payload["model_config"]["embed_dim"] == 4
    out = _invoke("evaluate", "--checkpoint", ckpt, "--methods", "gradient,random",
                  "--metrics", "comprehensiveness,sufficiency", "--n", "3",
                  "--run-dir", tmp_path / "eval")
    assert "comprehensiveness" in out.output and "sufficiency ↓" in out.output
    # explain writes the token maps as an escaped, highlighted page, rationales underlined
    _invoke("explain", "--checkpoint", ckpt, "--method", "gradient", "--n", "2",
            "--out", tmp_path / "maps")
    page = (tmp_path / "maps" / "tokens.html").read_text()
    assert page.count("<p><b>sample") == 2 and "border-bottom" in page
    assert np.load(tmp_path / "maps" / "attributions.npz")["attributions"].shape[0] == 2
    # fine-tuning on text masks token ids (the text procedure, not the series one)
    tuned = tmp_path / "tuned.pt"
    _invoke("train", "--dataset", "movies", "--data-dir", root, "--model", "bilstm",
            "--training", "fine_tuned", "--epochs", "1", "--batch-size", "5", "--out", tuned)
    assert read_checkpoint(tuned)["procedure"]["masking"] == "previous_word"


def test_text_grid_and_report(tmp_path: Path):
    grid = GridConfig(**{**load_config(preset="text-quick").model_dump(),
                         "dataset_options": {"SyntheticText": {"n_train": 40, "n_val": 10,
                                                               "n_test": 10}},
                         "model_kwargs": {"bilstm": {"embed_dim": 8, "hidden_size": 8}},
                         "methods": ["gradient"], "train": {"epochs": 1},
                         "evaluation": {"n_samples": 6, "n_examples": 1}})
    summary = run_grid(grid, tmp_path / "run")
    assert summary.cells_left == 0
    with ResultStore(tmp_path / "run" / "results.sqlite") as store:
        table = table1_frame(store)
        rows = store.results_frame(kind="eval")
    stored = rows[(rows["metric"] == "sufficiency") & (rows["statistic"] == "mean")
                  & (rows["method"] == "gradient") & (rows["training"] == "saliency_guided")]
    assert table.loc[("SyntheticText", "bilstm", "sufficiency ↓"),
                     ("gradient", "Sal. Guided")] == stored["value"].iloc[0]
    assert list(table.columns)[-2:] == [("random", "Trad."), ("random", "Sal. Guided")]
    page = write_report(tmp_path / "run").read_text()
    assert "[SGT] Table 1" in page and "Sal. Guided" in page and "sufficiency ↓" in page
    assert "Token maps" in page and "border-bottom" in page  # rationale underlined


def test_highlighted_tokens_are_escaped():
    out = highlight_tokens(["<script>", "&"], np.array([0.5, 1.0]))
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out

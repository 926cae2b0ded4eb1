"""The text presets: text-quick checks offline; eraser takes k per dataset from [SGT-supp]
Table 3 and reads its datasets from the grid's data_dir."""

from __future__ import annotations

import json
from pathlib import Path

from saliencylab.bench.config import load_config
from saliencylab.bench.plan import check_grid, train_tasks


def test_text_quick_checks_offline():
    plan = check_grid(load_config(preset="text-quick"))
    assert {t.training for t in plan.trains} == {"traditional", "saliency_guided"}
    assert {e.name for e in plan.evals} == {"random", "gradient", "integrated_gradients",
                                            "smoothgrad"}
    assert set(plan.evals[0].metrics) == {"comprehensiveness", "sufficiency", "token_f1",
                                          "token_auprc"}


def _folder(root: Path, name: str, query: str) -> None:
    folder = root / name
    (folder / "docs").mkdir(parents=True)
    labels = {"movies": ("NEG", "POS"), "fever": ("REFUTES", "SUPPORTS"),
              "esnli": ("contradiction", "entailment")}[name]
    rows = []
    for i in range(4):
        aid = f"d{i}"
        docids = [f"{aid}_premise", f"{aid}_hypothesis"] if name == "esnli" else [aid]
        for d in docids:
            (folder / "docs" / d).write_text(f"word{i} is here")
        rows.append({"annotation_id": aid, "classification": labels[i % 2], "query": query,
                     "docids": None if name == "esnli" else docids,
                     "evidences": [[{"docid": docids[0], "start_token": 0, "end_token": 1}]]})
    for part in ("train", "val", "test"):
        (folder / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_eraser_preset_table3_k_from_a_folder(tmp_path: Path):
    for name, query in (("movies", "What is the sentiment?"), ("fever", "a claim"),
                        ("esnli", "")):
        _folder(tmp_path, name, query)
    grid = load_config(preset="eraser", data_dir=str(tmp_path),
                       model_kwargs={"bilstm": {"embed_dim": 4, "hidden_size": 4}},
                       dataset_options={})
    ks = {t.dataset: t.sgt["k"] for t in train_tasks(grid) if t.training == "saliency_guided"}
    assert ks == {"movies": 0.6, "fever": 0.8, "esnli": 0.7}
    plan = check_grid(grid)
    assert {t.data_dir for t in plan.trains} == {str(tmp_path)}

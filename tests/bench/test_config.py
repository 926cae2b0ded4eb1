from __future__ import annotations

import pytest

from saliencylab.bench.config import PRESETS, TSB_METHODS, load_config
from saliencylab.bench.plan import eval_tasks, train_tasks
from saliencylab.data import DESIGNS, PROCESSES
from saliencylab.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid_and_name_known_things(name):
    grid = load_config(preset=name)
    grid.validate_names()
    assert grid.name == name


def test_quick_preset_meets_its_contract():
    grid = load_config(preset="quick")
    assert len(grid.datasets) >= 2 and len(grid.models) == 2
    assert "random" in grid.all_methods() and len(grid.all_methods()) + len(grid.tsr) >= 4
    assert grid.tsr and set(grid.training) == {"traditional", "saliency_guided"}


def test_paper_presets_cover_the_paper_grid():
    gaussian = load_config(preset="paper-gaussian")
    assert gaussian.datasets == list(DESIGNS) and gaussian.processes == ["Gaussian"]
    assert set(gaussian.models) == {"lstm", "lstm_ica", "tcn", "transformer"}
    assert gaussian.methods == TSB_METHODS and len(TSB_METHODS) == 10
    paper = load_config(preset="paper")
    assert len(paper.datasets) * len(paper.processes) == 70
    assert set(paper.processes) == set(PROCESSES)


def test_yaml_file_overrides_a_preset(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("preset: quick\nname: mine\nmodels: [tcn]\nseeds: [1, 2]\n")
    grid = load_config(path)
    assert grid.name == "mine" and grid.models == ["tcn"] and grid.seeds == [1, 2]
    assert grid.datasets == PRESETS["quick"]["datasets"]


def test_cells_are_content_addressed():
    grid = load_config(preset="quick")
    trains = train_tasks(grid)
    assert len({t.key for t in trains}) == len(trains)
    assert [t.key for t in trains] == [t.key for t in train_tasks(load_config(preset="quick"))]
    changed = train_tasks(load_config(preset="quick", seeds=[1]))
    assert not {t.key for t in trains} & {t.key for t in changed}
    evals = eval_tasks(grid, trains)
    n_methods = len(grid.all_methods()) + len(grid.tsr)
    assert len(evals) == len(trains) * n_methods
    assert len({e.key for e in evals}) == len(evals)


def test_bad_configs_say_what_is_wrong(tmp_path):
    with pytest.raises(UnknownNameError, match="preset"):
        load_config(preset="nope")
    with pytest.raises(ConfigError, match="tsr"):
        load_config(preset="quick", tsr=["occlusion"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(UnknownNameError, match="model"):
        load_config(preset="quick", models=["resnet"]).validate_names()

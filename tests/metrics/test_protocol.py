"""The one metric protocol: MetricContext, the registry (resolve, options, orientation) and
score() (one call per family, seeds, rows in the results-store format)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import nn

from saliencylab.errors import ConfigError, NotApplicableError, ShapeError, UnknownNameError
from saliencylab.explain import explain
from saliencylab.metrics import (
    METRIC_GROUPS,
    METRICS,
    Metric,
    MetricContext,
    MetricOutput,
    certify,
    check_metric_options,
    deletion_game,
    evaluate_groundtruth,
    get_metric,
    groundtruth_scores,
    higher_is_better,
    insertion_game,
    make_explain_fn,
    mean_se,
    register_metric,
    resolve_metrics,
    robustness,
    saliency_metric,
    score,
)
from saliencylab.metrics.certification import top_labels
from saliencylab.metrics.protocol import step_bounds, valid_steps
from saliencylab.targets import targets_2d
from saliencylab.utils import make_generator

torch.set_num_threads(1)

T, F, C = 16, 2, 3
GRAD = make_explain_fn("gradient", postprocess="tsb")


class SmallCNN(nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(F, 6, 3, padding=1)
        self.fc = nn.Linear(6, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x.transpose(1, 2))).mean(dim=2))


class CountingBackground:
    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        self.calls.append(n)
        return torch.randn(n, T, F, generator=generator)


def data(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, F, generator=g)
    y = torch.arange(n) % C
    box = torch.zeros(n, T, F, dtype=torch.bool)
    box[:, 4:10, 0] = True
    return x, y, box


def kw(**options):
    return {"modality": "time_series", "task": "classification", "has_groundtruth": False,
            "has_background": False, **options}


# ------------------------------------------------------------------------------ call shape


def test_every_registered_function_has_the_common_call_shape():
    for name, metric in METRICS.items():
        params = list(inspect.signature(metric.fn).parameters.values())
        assert [p.name for p in params[:4]] == ["model", "x", "y", "attributions"], name
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:4]), name
        rest = params[4:]
        assert rest[0].name == "context" and rest[0].kind is rest[0].KEYWORD_ONLY, name
        assert all(p.kind is p.KEYWORD_ONLY for p in rest), name
        assert {"explain_fn", "batch_size", "generator"}.isdisjoint(metric.options()), name
        assert metric.references and not any("SPEC" in r for r in metric.references), name


def test_metric_context_is_immutable_and_checked():
    ctx = MetricContext(batch_size=4)
    assert ctx.replace(fill=0.5).fill == 0.5 and ctx.fill == 0.0
    with pytest.raises(AttributeError):
        ctx.fill = 1.0  # type: ignore[misc]
    x, y, _ = data(3)
    with pytest.raises(ConfigError, match="MetricContext"):
        robustness(SmallCNN(), x, y, context={"explain_fn": GRAD})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size"):
        robustness(SmallCNN(), x, y, context=MetricContext(explain_fn=GRAD, batch_size=0))


def test_valid_steps_are_checked():
    x = torch.zeros(2, 5, 1)
    ok = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    v = valid_steps(MetricContext(valid=ok), x)
    assert v.dtype == torch.bool
    assert [t.tolist() for t in step_bounds(v)] == [[1, 0], [3, 4]]
    assert valid_steps(MetricContext(), x) is None
    with pytest.raises(ShapeError, match="gaps"):
        valid_steps(MetricContext(valid=torch.tensor([[1, 0, 1, 1, 1]] * 2).bool()), x)
    with pytest.raises(ShapeError, match="no valid step"):
        valid_steps(MetricContext(valid=torch.zeros(2, 5, dtype=torch.bool)), x)
    with pytest.raises(ShapeError, match=r"\(N, T\)"):
        valid_steps(MetricContext(valid=torch.ones(2, 4, dtype=torch.bool)), x)
    with pytest.raises(NotApplicableError, match="time series"):
        valid_steps(MetricContext(valid=torch.ones(2, 3, dtype=torch.bool)),
                    torch.zeros(2, 3, 4, 4))


def test_targets_2d_moved_to_a_neutral_module():
    labels, axis = targets_2d(torch.tensor([1, 0]), 2, "cpu")
    assert labels.tolist() == [[1], [0]] and axis is False
    with pytest.raises(ShapeError):
        targets_2d(torch.zeros(3, dtype=torch.long), 2, "cpu")


# -------------------------------------------------------------------------------- registry


def test_families_outputs_and_orientation():
    gt = get_metric("groundtruth")
    assert gt.outputs == {"aup": True, "aur": True, "aupr": True, "accuracy_auc": False}
    assert gt.seed_offset == 7919 and gt.needs == {"groundtruth", "background"}
    for out in gt.outputs:
        assert get_metric(out) is gt and get_metric(out.upper()) is gt
    cert = get_metric("Completeness")
    assert cert.name == "certification" and get_metric("soundness") is cert
    assert higher_is_better("completeness") and higher_is_better("insertion")
    assert not higher_is_better("accuracy_auc") and not higher_is_better("deletion")
    assert not higher_is_better("saliency_metric") and higher_is_better("sanity")
    assert get_metric("localization").task == "segmentation"
    assert get_metric("localization").needs == {"segments"}
    for name in ("faithfulness", "stability", "localization"):
        assert get_metric(name).modalities == ("time_series",)
    for name in ("sanity", "robustness", "inter_class_sensitivity", "certification",
                 "deletion", "insertion", "saliency_metric"):
        assert "image" in get_metric(name).modalities
    with pytest.raises(UnknownNameError, match="completeness"):
        get_metric("completenes")
    with pytest.raises(UnknownNameError):
        higher_is_better("all")


def test_register_a_metric_and_name_clashes():
    def mine(model, x, y, attributions, *, context=None, power: float = 1.0):
        return attributions.flatten(1).abs().pow(power).mean(1)

    register_metric(Metric("mine", mine, "faithfulness", True, "demo", ("none",)))
    try:
        assert "mine" in resolve_metrics("all", **kw())
        check_metric_options({"MINE": {"power": 2.0}})
        with pytest.raises(ConfigError, match="already registered"):
            register_metric(Metric("mine", mine, "faithfulness", True, "demo", ("none",)))
        with pytest.raises(ConfigError, match="taken"):
            register_metric(Metric("fam", mine, "x", True, "demo", ("none",),
                                   outputs={"aup": True}))
        with pytest.raises(ConfigError, match="lower-case"):
            register_metric(Metric("Mine2", mine, "x", True, "demo", ("none",)))
        with pytest.raises(ConfigError, match="needs"):
            register_metric(Metric("mine3", mine, "x", True, "demo", ("none",),
                                   needs=frozenset({"labels"})))
        x, y, _ = data(4)
        s = score(SmallCNN(), x, y, x.clone(), ["mine"], options={"mine": {"power": 2.0}})
        assert torch.allclose(s.per_sample["mine"], x.flatten(1).pow(2).mean(1))
    finally:
        del METRICS["mine"]


def test_resolve_all_groups_case_and_duplicates():
    base = ["sanity", "faithfulness", "inter_class_sensitivity", "robustness", "stability"]
    cs = ["completeness", "soundness", "deletion", "insertion", "saliency_metric"]
    gt = ["aup", "aur", "aupr", "accuracy_auc"]
    ica = ["wjac", "euc"]  # [ICA]: need the ground truth, not a background
    dist = ["decay_rate", "top10_share"]  # [TSB] Figure 3: any map
    pix = ["pix_time_feature", "pix_time_only", "pix_feature_only", "pix_neither"]  # Figure 8
    assert resolve_metrics("all", **kw()) == base + cs + dist
    assert resolve_metrics("all", **kw(has_groundtruth=True, has_background=True)) == \
        base + gt + cs + ica + dist + pix
    assert resolve_metrics("all", **kw(has_groundtruth=True)) == base + cs + ica + dist + pix
    assert resolve_metrics("all", **kw(modality="image")) == \
        ["sanity", "inter_class_sensitivity", "robustness", *cs, "accuracy_drop_iid",
         "accuracy_drop_ood", "insertion_blur", *dist]
    assert resolve_metrics("all", **kw(task="segmentation")) == \
        ["localization", *(f"localization_{b}" for b in ("flat", "front", "middle", "back"))]
    assert resolve_metrics(" Certification , SANITY,sanity", **kw()) == \
        [*METRIC_GROUPS["certification"], "sanity"]
    assert resolve_metrics(["groundtruth", "aup"], **kw(has_groundtruth=True,
                                                         has_background=True)) == gt
    assert resolve_metrics("all", **kw(modality="text")) == ["comprehensiveness", "sufficiency"]
    assert resolve_metrics("all", **kw(modality="text", has_groundtruth=True)) == \
        ["comprehensiveness", "sufficiency", "token_f1", "token_auprc"]
    with pytest.raises(NotApplicableError, match="no metric applies"):  # text has no segments
        resolve_metrics("all", **kw(modality="text", task="segmentation"))
    with pytest.raises(ConfigError, match="no metrics"):
        resolve_metrics(" , ", **kw())


def test_resolve_errors_say_why_and_what_applies():
    with pytest.raises(UnknownNameError) as err:
        resolve_metrics("faithfulness,sanityy", **kw())
    assert "sanity" in str(err.value) and "certification" in str(err.value)
    assert "all" in str(err.value)
    with pytest.raises(NotApplicableError, match="known informative cells") as err:
        resolve_metrics("aup", **kw())
    assert "faithfulness" in str(err.value) and "aur" not in str(err.value)
    with pytest.raises(NotApplicableError, match="background sampler"):
        resolve_metrics("aur", **kw(has_groundtruth=True))
    with pytest.raises(NotApplicableError, match="time series only") as err:
        resolve_metrics("stability", **kw(modality="image"))
    assert "robustness" in str(err.value)
    with pytest.raises(NotApplicableError, match="segmentation"):
        resolve_metrics("localization", **kw())
    with pytest.raises(NotApplicableError, match="classification"):
        resolve_metrics("sanity", **kw(task="segmentation"))
    with pytest.raises(UnknownNameError, match="modality"):
        resolve_metrics("sanity", **kw(modality="audio"))


def test_check_metric_options():
    check_metric_options(None)
    check_metric_options({"robustness": {"radius": 0.2}, "groundtruth": {"stop_at_zero": True},
                          "aup": {"shared_background": True}, "certification": {"fill": 0.5},
                          "localization": {"theta": 0.3}, "saliency_metric": {"threshold": 0.4},
                          "stability": {}})
    with pytest.raises(ConfigError, match="raduis") as err:
        check_metric_options({"robustness": {"raduis": 0.2}})
    assert "radius" in str(err.value) and "n_perturbations" in str(err.value)
    with pytest.raises(ConfigError, match="context"):
        check_metric_options({"sanity": {"context": None}})
    with pytest.raises(ConfigError, match="batch_size"):
        check_metric_options({"faithfulness": {"batch_size": 8}})
    with pytest.raises(UnknownNameError, match="metric with options"):
        check_metric_options({"robust": {"radius": 0.2}})
    with pytest.raises(ConfigError, match="mapping"):
        check_metric_options({"robustness": 0.2})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="mapping"):
        check_metric_options([("robustness", {})])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- scoring


def test_score_rows_groundtruth_once_and_seed_offset():
    model = SmallCNN()
    x, y, box = data(8)
    s = torch.rand(8, T, F, generator=torch.Generator().manual_seed(1))
    bg = CountingBackground()
    ctx = MetricContext(groundtruth=box, background=bg, batch_size=5)
    got = score(model, x, y, s, ["aup", "faithfulness", "aur", "accuracy_auc"], context=ctx,
                options={"faithfulness": {"fraction": 0.25}}, seed=3)
    assert bg.calls == [8] * 11  # one ground-truth evaluation for three outputs
    ref = evaluate_groundtruth(model, x, y, box, s, CountingBackground(),
                               generator=make_generator(3 + 7919), batch_size=5)
    rows = got.rows()
    mean, se, n = mean_se(got.per_sample["faithfulness"])
    assert rows[:3] == [("faithfulness", "mean", mean), ("faithfulness", "se", se),
                        ("faithfulness", "n", 8.0)]
    gt_rows = ref.to_rows()
    assert rows[3:3 + len(gt_rows)] == gt_rows  # all of them, not only the requested three
    assert [r[:2] for r in rows[3 + len(gt_rows):]] == [("groundtruth", "seconds"),
                                                        ("faithfulness", "seconds")]
    assert list(got.per_sample) == ["faithfulness"]
    arrays = got.arrays()
    for key, value in ref.per_sample_arrays().items():
        np.testing.assert_array_equal(arrays[key], value)  # NaN where undefined, alike
    assert got.results["groundtruth"].summary() == pytest.approx(ref.summary(), nan_ok=True)
    assert got.per_sample["faithfulness"].dtype == torch.float32


def test_groundtruth_family_output_is_the_results_rows_and_arrays():
    model = SmallCNN()
    x, y, box = data(6)
    s = torch.rand(6, T, F, generator=torch.Generator().manual_seed(2))
    ctx = MetricContext(groundtruth=box, background=CountingBackground(), generator=5)
    out = groundtruth_scores(model, x, y, s, context=ctx, shared_background=True)
    ref = evaluate_groundtruth(model, x, y, box, s, CountingBackground(), generator=5,
                               shared_background=True)
    assert isinstance(out, MetricOutput) and out.per_sample == {}
    assert out.rows == ref.to_rows()
    assert set(out.arrays) == set(ref.per_sample_arrays())
    assert torch.equal(out.arrays["correct"], torch.from_numpy(ref.per_sample_arrays()["correct"]))
    with pytest.raises(NotApplicableError, match="groundtruth"):
        groundtruth_scores(model, x, y, s, context=MetricContext(background=CountingBackground()))


def test_score_certification_and_games_match_the_building_blocks():
    model = SmallCNN(seed=1)
    x, _, _ = data(9, seed=4)
    labels = top_labels(model, x, 2)
    y = labels[:, 0].clone()
    y[:3] = labels[:3, 1]  # three samples whose label is not the prediction: re-explained
    y[3] = (labels[3, 0] + 1) % C if (labels[3, 0] + 1) % C != labels[3, 1] else \
        (labels[3, 0] + 2) % C
    attributions = GRAD(model, x, y)
    calls: list[int] = []

    def spy(m, inputs, target):
        calls.append(inputs.shape[0])
        return GRAD(m, inputs, target)

    ctx = MetricContext(explain_fn=spy, fill=0.3)
    got = score(model, x, y, attributions, ["certification", "deletion", "insertion",
                                            "saliency_metric"], context=ctx, seed=2,
                options={"saliency_metric": {"threshold": 0.4}})
    # maps for the two labels, as the bench computed them before: one explain call, two targets
    maps = explain(model, x, [labels[:, 0], labels[:, 1]], "gradient",
                   postprocess="tsb").attributions.transpose(0, 1)
    ref = certify(model, x, maps, labels, fill=0.3, seed=2)
    torch.testing.assert_close(got.per_sample["completeness"], ref.worst_completeness)
    torch.testing.assert_close(got.per_sample["soundness"], ref.worst_soundness)
    dele = deletion_game(model, x, maps[:, 0], labels[:, 0], fill=0.3).auc
    ins = insertion_game(model, x, maps[:, 0], labels[:, 0], fill=0.3).auc
    sm = saliency_metric(model, x, maps[:, 0], labels[:, 0], threshold=0.4, fill_value=0.3)
    torch.testing.assert_close(got.per_sample["deletion"], dele)
    torch.testing.assert_close(got.per_sample["insertion"], ins)
    torch.testing.assert_close(got.per_sample["saliency_metric"], sm)
    assert list(got.per_sample)[:2] == ["completeness", "soundness"]
    assert set(got.seconds) == {"certification", "deletion", "insertion", "saliency_metric"}
    # only maps the given attributions cannot stand for were explained
    n_not_pred = int((y != labels[:, 0]).sum())
    n_not_second = int((y != labels[:, 1]).sum())
    assert sum(calls) == n_not_pred + n_not_second + 3 * n_not_pred


def test_score_randomness_and_distractors():
    model = SmallCNN()
    x, y, _ = data(5)
    a = GRAD(model, x, y)
    ctx = MetricContext(explain_fn=GRAD, batch_size=10)
    s3 = score(model, x, y, a, ["robustness"], context=ctx, seed=3)
    direct = robustness(model, x, y, a, context=ctx.replace(generator=3))
    assert torch.equal(s3.per_sample["robustness"], direct)
    assert not torch.equal(s3.per_sample["robustness"],
                           score(model, x, y, a, ["robustness"], context=ctx).per_sample[
                               "robustness"])
    g = torch.Generator().manual_seed(3)  # a Generator in the context is used as it is
    shared = score(model, x, y, a, ["robustness"], context=ctx.replace(generator=g), seed=99)
    assert torch.equal(shared.per_sample["robustness"], direct)
    pool = torch.randn(7, T, F, generator=torch.Generator().manual_seed(8))
    dctx = ctx.replace(distractors=pool)
    d1 = score(model, x, y, a, ["completeness"], context=dctx, seed=1,
               options={"certification": {"fill": "distractor", "n_distractors": 3}})
    d2 = score(model, x, y, a, ["completeness"], context=dctx, seed=1,
               options={"completeness": {"fill": "distractor", "n_distractors": 3}})
    assert torch.equal(d1.per_sample["completeness"], d2.per_sample["completeness"])
    assert "soundness" not in d1.per_sample
    with pytest.raises(NotApplicableError, match="distractors"):
        score(model, x, y, a, ["deletion"], context=ctx, options={"deletion": {"fill":
                                                                              "distractor"}})


def test_score_fails_before_any_work():
    model = SmallCNN()
    x, y, box = data(4)
    calls = []

    def spy(m, inputs, target):
        calls.append(1)
        return GRAD(m, inputs, target)

    ctx = MetricContext(explain_fn=spy)
    with pytest.raises(ConfigError, match="radius"):
        score(model, x, y, x, ["sanity", "robustness"], context=ctx,
              options={"robustness": {"raduis": 1.0}})
    with pytest.raises(UnknownNameError):
        score(model, x, y, x, ["sanity", "robustnes"], context=ctx)
    with pytest.raises(NotApplicableError, match="groundtruth"):
        score(model, x, y, x, ["sanity", "aup"], context=ctx)
    with pytest.raises(ConfigError, match="explain_fn"):
        score(model, x, y, x, ["faithfulness", "inter_class_sensitivity"])
    with pytest.raises(ConfigError, match="twice"):
        score(model, x, y, x, ["completeness"], context=ctx,
              options={"completeness": {"fill": 0.1}, "soundness": {"fill": 0.2}})
    assert calls == []
    # the games score the given maps without explain_fn when asked to
    out = score(model, x, y, x.abs(), ["deletion"], options={"deletion": {"target": "label"}})
    assert out.per_sample["deletion"].shape == (4,)

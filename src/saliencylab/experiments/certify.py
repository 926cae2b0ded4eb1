"""The finding of [CS] Gupta, Saunshi, Yu, Lyu, Arora (NeurIPS 2022) on data we ship.

[CS] learns masks ``M = upsample(sigmoid(W))`` against distractors and certifies them by
completeness (the kept cells preserve the label's probability) and soundness (a mask cannot
make a label more probable than the input itself supports). On CIFAR-10 (ResNet-164, gray fill)
more total-variation regularisation gave slightly lower completeness and much higher soundness:
lambda_TV 0 / .001 / .01 / .1 -> .92/.17, .91/.18, .83/.39, .77/.57.

:func:`run_certify` repeats the experiment on

- scikit-learn's digits (8x8, 10 classes; scaled to [0, 1] and standardised with the training
  mean and std, so gray = the mean = 0) with the [SGT] ``mnist_cnn``;
- the [TSB] "Middle" / "Gaussian" synthetic time series with the [TSB] TCN (gray = the training
  data's mean, 0.5 after min-max scaling),

learns masks for lambda_TV in {0, 0.001, 0.01, 0.1} for the predicted and the second most
likely label, and scores them next to Gradient x Input, SmoothGrad, a random map and a centred
Gaussian map: completeness and soundness (gray and distractor fill, worst case over the two
labels), the deletion and insertion games and the Saliency Metric (threshold tuned on a holdout
part of the explained samples). Outputs in ``run_dir``: ``certify.csv``, ``certify.md``,
``settings.json``, and ``report/index.html`` with ``report/masks_digits.png`` and
``report/masks_series.png``.

Example:
    >>> from saliencylab.experiments.certify import run_certify
    >>> index = run_certify("runs/certify", quick=True)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from saliencylab.errors import SaliencyLabError
from saliencylab.utils import make_generator, resolve_device

__all__ = ["CertifySettings", "gaussian_map", "load_digits_dataset", "run_certify"]

LAMBDAS_TV: tuple[float, ...] = (0.0, 0.001, 0.01, 0.1)
CIFAR_REFERENCE = {0.0: (0.92, 0.17), 0.001: (0.91, 0.18), 0.01: (0.83, 0.39), 0.1: (0.77, 0.57)}


@dataclass(frozen=True)
class CertifySettings:
    """Sizes of one :func:`run_certify` run (``quick()``: minutes on a laptop CPU)."""

    steps_image: int = 2000
    steps_series: int = 2000
    n_eval_image: int = 200
    n_hold_image: int = 50
    n_eval_series: int = 50
    n_hold_series: int = 14
    epochs_image: int = 60
    epochs_series: int = 20
    n_train_series: int = 1000
    n_distractors: int = 10  # K while learning masks [CS]
    eval_distractors: int = 10  # K for the distractor-filled insertion curves
    lambda_l1: float = 1e-3  # [CS] CIFAR-10
    smoothgrad_samples: int = 50
    smoothgrad_noise: float = 0.15  # stdev as a fraction of the data's range (SmoothGrad paper)
    batch_size: int = 4096

    @classmethod
    def quick(cls) -> CertifySettings:
        return cls(steps_image=300, steps_series=200, n_eval_image=24, n_hold_image=8,
                   n_eval_series=12, n_hold_series=4, epochs_image=30, epochs_series=5,
                   n_train_series=500, eval_distractors=5, smoothgrad_samples=20)


@dataclass
class _Split:
    x: Tensor
    y: Tensor


@dataclass
class _ImageData:
    train: _Split
    val: _Split
    test: _Split
    mean: float
    std: float


def load_digits_dataset(seed: int = 0, n_val: int = 200, n_test: int = 397) -> _ImageData:
    """scikit-learn's digits as ``(N, 1, 8, 8)`` float32, standardised with the training mean and
    std (a gray image, the mean, is 0); a seeded shuffle split into train / val / test.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn ships the digits; it is an optional dependency
        raise SaliencyLabError("the digits experiment needs scikit-learn (pip install "
                               "scikit-learn)") from exc
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=make_generator(seed))
    x, y = x[order], y[order]
    n_train = len(y) - n_val - n_test
    mean, std = float(x[:n_train].mean()), float(x[:n_train].std())
    x = (x - mean) / std
    cut = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
    return _ImageData(*(_Split(x[c], y[c]) for c in cut), mean=mean, std=std)


def gaussian_map(shape: tuple[int, ...], kind: str) -> Tensor:
    """A centred Gaussian map: ``(1, 1, H, W)`` for images (sigma = min(H, W) / 4) or
    ``(1, T, 1)`` over time for series (sigma = T / 4).

    >>> gaussian_map((1, 8, 8), "image").shape, gaussian_map((50, 3), "time_series").shape
    (torch.Size([1, 1, 8, 8]), torch.Size([1, 50, 1]))
    """
    if kind == "image":
        h, w = shape[-2:]
        sigma = min(h, w) / 4
        r = (torch.arange(h) - (h - 1) / 2).pow(2)[:, None]
        c = (torch.arange(w) - (w - 1) / 2).pow(2)[None, :]
        return torch.exp(-(r + c) / (2 * sigma**2)).view(1, 1, h, w)
    t = shape[0]
    d = (torch.arange(t) - (t - 1) / 2).pow(2)
    return torch.exp(-d / (2 * (t / 4) ** 2)).view(1, t, 1)


# ------------------------------------------------------------------------------------------------
# One dataset: masks, baselines, metrics


def _maps(model: nn.Module, x: Tensor, labels: Tensor, pool: Tensor, kind: str,
          settings: CertifySettings, steps: int, value_range: float, seed: int,
          timings: dict[str, float], tag: str) -> dict[str, Tensor]:
    """Every method's maps: label-specific ``(B, 2, ...)`` or shared ``(B, ...)``."""
    from saliencylab.explain import explain
    from saliencylab.explain.masks import learn_masks

    maps: dict[str, Tensor] = {}
    for lam in LAMBDAS_TV:
        t0 = time.perf_counter()
        res = learn_masks(model, x, labels, pool, lambda_tv=lam, lambda_l1=settings.lambda_l1,
                          n_distractors=settings.n_distractors, steps=steps, seed=seed)
        timings[f"{tag}_masks_tv{lam:g}"] = time.perf_counter() - t0
        maps[f"learned mask, TV {lam:g}"] = res.masks
    targets = [labels[:, 0], labels[:, 1]]
    t0 = time.perf_counter()
    maps["Gradient x Input"] = explain(model, x, targets, "gradient_x_input",
                                       seed=seed).attributions.transpose(0, 1)
    maps["SmoothGrad"] = explain(
        model, x, targets, "smoothgrad", seed=seed, n_samples=settings.smoothgrad_samples,
        stdevs=settings.smoothgrad_noise * value_range,
    ).attributions.transpose(0, 1)
    timings[f"{tag}_baselines"] = time.perf_counter() - t0
    gen = make_generator(seed)
    maps["random"] = torch.rand(x.shape, generator=gen).to(x.device)
    g = gaussian_map(tuple(x.shape[1:]), kind).to(x.device)
    maps["centred Gaussian"] = g.expand(x.shape[0], *g.shape[1:])
    return maps


def _evaluate(model: nn.Module, x: Tensor, labels: Tensor, maps: Tensor, *, gray: float,
              pool: Tensor, n_hold: int, settings: CertifySettings, seed: int
              ) -> dict[str, Tensor]:
    """Per-sample scores of one method on the evaluation part (holdout: SM threshold)."""
    from saliencylab.metrics.certification import (
        certify,
        deletion_game,
        insertion_game,
        saliency_metric,
        tune_saliency_threshold,
    )

    ev, ho = slice(n_hold, None), slice(0, n_hold)
    bs = settings.batch_size
    specific = maps.dim() == x.dim() + 1
    pred_maps = maps[:, 0] if specific else maps
    out: dict[str, Tensor] = {}
    for name, fill in (("gray", gray), ("distractor", pool)):
        r = certify(model, x[ev], maps[ev], labels[ev], fill=fill,
                    n_distractors=settings.eval_distractors, seed=seed, batch_size=bs)
        out[f"completeness_{name}"] = r.worst_completeness
        out[f"soundness_{name}"] = r.worst_soundness
        out[f"completeness_pred_{name}"] = r.completeness[:, 0]
        out[f"completeness_second_{name}"] = r.completeness[:, 1]
        out[f"soundness_pred_{name}"] = r.soundness[:, 0]
        out[f"soundness_second_{name}"] = r.soundness[:, 1]
    target = labels[:, 0]
    out["deletion"] = deletion_game(model, x[ev], pred_maps[ev], target[ev], fill=gray,
                                    batch_size=bs).auc
    out["insertion"] = insertion_game(model, x[ev], pred_maps[ev], target[ev], fill=gray,
                                      batch_size=bs).auc
    thr = tune_saliency_threshold(model, x[ho], pred_maps[ho], target[ho], fill_value=gray,
                                  batch_size=bs)
    out["saliency_metric"] = saliency_metric(model, x[ev], pred_maps[ev], target[ev],
                                             threshold=thr, fill_value=gray, batch_size=bs)
    out["sm_threshold"] = torch.tensor([thr])
    return out


COLUMNS = ("completeness_gray", "soundness_gray", "completeness_distractor",
           "soundness_distractor", "deletion", "insertion", "saliency_metric")
HEADERS = ("compl. (gray)", "sound. (gray)", "compl. (distr.)", "sound. (distr.)",
           "deletion ↓", "insertion ↑", "saliency metric ↓")


def _summarise(dataset: str, method: str, scores: dict[str, Tensor]) -> dict[str, Any]:
    row: dict[str, Any] = {"dataset": dataset, "method": method}
    for key, v in scores.items():
        v = v.detach().double().cpu()
        if key == "sm_threshold":
            row[key] = float(v[0])
            continue
        row[key] = float(v.mean())
        row[f"{key}_se"] = float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    row["n"] = int(len(scores["deletion"]))
    return row


# ------------------------------------------------------------------------------------------------
# Figures and report


def _plot_digits(path: Path, x: Tensor, labels: Tensor, y: Tensor, maps: dict[str, Tensor],
                 n_show: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    correct = (labels[:, 0] == y).nonzero().flatten().tolist()[:n_show] or [0]
    learned = [k for k in maps if k.startswith("learned")]
    cols = 1 + 2 * len(learned)
    fig, axes = plt.subplots(len(correct), cols, figsize=(1.3 * cols, 1.45 * len(correct)),
                             squeeze=False)
    for r, i in enumerate(correct):
        axes[r, 0].imshow(x[i, 0].cpu(), cmap="gray")
        axes[r, 0].set_title(f"input (y={int(y[i])})", fontsize=7)
        for j, key in enumerate(learned):
            for which, col in ((0, 1 + j), (1, 1 + len(learned) + j)):
                ax = axes[r, col]
                ax.imshow(maps[key][i, which, 0].cpu(), cmap="viridis", vmin=0, vmax=1)
                label = int(labels[i, which])
                tag = "correct" if which == 0 else "2nd"
                ax.set_title(f"{tag} {label}, TV {key.split()[-1]}", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_series(path: Path, x: Tensor, labels: Tensor, y: Tensor, maps: dict[str, Tensor],
                 n_show: int = 2) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    correct = (labels[:, 0] == y).nonzero().flatten().tolist()
    # one example of each class if there is one
    show = []
    for c in (1, 0):
        show += [i for i in correct if int(y[i]) == c][:1]
    show = (show or [0])[:n_show]
    keys = ["learned mask, TV 0", "learned mask, TV 0.1"]
    cols = 1 + 2 * len(keys)
    fig, axes = plt.subplots(len(show), cols, figsize=(2.2 * cols, 2.1 * len(show)),
                             squeeze=False)
    for r, i in enumerate(show):
        axes[r, 0].imshow(x[i].T.cpu(), cmap="gray", aspect="auto")
        axes[r, 0].set_title(f"input (y={int(y[i])})", fontsize=8)
        for j, key in enumerate(keys):
            for which, col in ((0, 1 + j), (1, 1 + len(keys) + j)):
                ax = axes[r, col]
                ax.imshow(maps[key][i, which].T.cpu(), cmap="viridis", vmin=0, vmax=1,
                          aspect="auto")
                tag = "correct" if which == 0 else "2nd"
                ax.set_title(f"{tag} {int(labels[i, which])}, TV {key.split()[-1]}",
                             fontsize=8)
        axes[r, 0].set_ylabel("feature")
    for ax in axes[-1]:
        ax.set_xlabel("time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.3f} ± {row[key + '_se']:.3f}"


def _markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| dataset | method | " + " | ".join(HEADERS) + " |",
             "|---|---|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [_fmt(row, c) for c in COLUMNS]
        lines.append(f"| {row['dataset']} | {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _html(rows: list[dict[str, Any]], settings: dict[str, Any], info: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("dataset", "method", *HEADERS))
    body = []
    for row in rows:
        cells = [row["dataset"], row["method"]] + [_fmt(row, c) for c in COLUMNS]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    ref = ", ".join(f"TV {k:g}: {c:.2f}/{s:.2f}" for k, (c, s) in CIFAR_REFERENCE.items())
    facts = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>" for k, v in info.items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>saliencylab: completeness and soundness</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 6px}}
td{{text-align:right}}td:nth-child(-n+2){{text-align:left}}</style></head><body>
<h1>Masking explanations certified by completeness and soundness</h1>
<p>[CS] Gupta, Saunshi, Yu, Lyu, Arora, NeurIPS 2022. Completeness and soundness are the worst
case over the predicted and the second most likely label (mean ± standard error over samples;
higher is better). Deletion (lower is better), insertion (higher is better) and the Saliency
Metric (lower is better) score the map of the predicted label with gray fill.
CIFAR-10 reference (ResNet-164, gray fill, completeness/soundness): {html.escape(ref)}.</p>
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2>Learned masks, digits</h2><img src="masks_digits.png" alt="digit masks">
<h2>Learned masks, Middle / Gaussian series</h2><img src="masks_series.png" alt="series masks">
<h2>Run</h2><ul>{facts}</ul>
<pre>{html.escape(json.dumps(settings, indent=1))}</pre>
</body></html>
"""


# ------------------------------------------------------------------------------------------------
# The experiment


def _top2(model: nn.Module, x: Tensor) -> Tensor:
    from saliencylab.metrics.certification import top_labels

    return top_labels(model, x, 2)


def run_certify(run_dir: str | Path, *, quick: bool = True, seed: int = 0,
                settings: CertifySettings | None = None, progress: bool = False) -> Path:
    """Run the [CS] experiment on digits and a synthetic series design; returns the HTML page.

    Args:
        run_dir: where ``certify.csv``, ``certify.md``, ``settings.json`` and ``report/`` go.
        quick: :meth:`CertifySettings.quick` (a few minutes on a 2-core CPU: 300 / 200 mask
            steps, 32 / 16 explained samples) instead of the paper's 2000 steps.
        seed: seeds the data split, the models, the masks' distractor draws and the metrics.
        settings: explicit sizes (overrides ``quick``).
        progress: show the training progress bars.

    Returns:
        The path of ``run_dir/report/index.html``.
    """
    from saliencylab.data import load_synthetic
    from saliencylab.models import build_model
    from saliencylab.train import TrainConfig, fit

    settings = settings or (CertifySettings.quick() if quick else CertifySettings())
    run_dir = Path(run_dir)
    report = run_dir / "report"
    report.mkdir(parents=True, exist_ok=True)
    device = resolve_device(None)
    timings: dict[str, float] = {}
    info: dict[str, Any] = {"device": str(device), "torch_threads": torch.get_num_threads()}
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()

    # --- images: digits + the [SGT] MNIST CNN
    t0 = time.perf_counter()
    digits = load_digits_dataset(seed)
    cnn = build_model("mnist_cnn", in_channels=1, image_size=8, n_classes=10, seed=seed)
    res = fit(cnn, digits, TrainConfig(epochs=settings.epochs_image, batch_size=64, seed=seed,
                                       patience=10, device=str(device)), progress=progress)
    timings["digits_train"] = time.perf_counter() - t0
    info["digits_test_accuracy"] = round(res.test_accuracy, 4)
    cnn = res.model.eval()
    n_img = settings.n_hold_image + settings.n_eval_image
    x_img = digits.test.x[:n_img].to(device)
    y_img = digits.test.y[:n_img].to(device)
    pool_img = digits.train.x.to(device)
    lab_img = _top2(cnn, x_img)
    value_range = float(pool_img.max() - pool_img.min())
    maps_img = _maps(cnn, x_img, lab_img, pool_img, "image", settings, settings.steps_image,
                     value_range, seed, timings, "digits")
    t0 = time.perf_counter()
    for method, m in maps_img.items():
        scores = _evaluate(cnn, x_img, lab_img, m, gray=0.0, pool=pool_img,
                           n_hold=settings.n_hold_image, settings=settings, seed=seed)
        rows.append(_summarise("digits", method, scores))
    timings["digits_metrics"] = time.perf_counter() - t0
    _plot_digits(report / "masks_digits.png", x_img, lab_img, y_img, maps_img)

    # --- time series: Middle / Gaussian + the [TSB] TCN
    t0 = time.perf_counter()
    data = load_synthetic("Middle", "Gaussian", n_train=settings.n_train_series, seed=seed)
    tcn = build_model("tcn", n_features=data.n_features, n_time=data.n_time, seed=seed)
    res = fit(tcn, data, TrainConfig(epochs=settings.epochs_series, seed=seed, patience=5,
                                     device=str(device)), progress=progress)
    timings["series_train"] = time.perf_counter() - t0
    info["series_test_accuracy"] = round(res.test_accuracy, 4)
    tcn = res.model.eval()
    n_ts = settings.n_hold_series + settings.n_eval_series
    x_ts = data.test.x[:n_ts].to(device)
    y_ts = data.test.y[:n_ts].to(device)
    pool_ts = data.train.x.to(device)
    gray_ts = float(pool_ts.mean())
    info["series_gray_value"] = round(gray_ts, 4)
    lab_ts = _top2(tcn, x_ts)
    maps_ts = _maps(tcn, x_ts, lab_ts, pool_ts, "time_series", settings, settings.steps_series,
                    float(pool_ts.max() - pool_ts.min()), seed, timings, "series")
    t0 = time.perf_counter()
    for method, m in maps_ts.items():
        scores = _evaluate(tcn, x_ts, lab_ts, m, gray=gray_ts, pool=pool_ts,
                           n_hold=settings.n_hold_series, settings=settings, seed=seed)
        rows.append(_summarise("Middle/Gaussian", method, scores))
    timings["series_metrics"] = time.perf_counter() - t0
    _plot_series(report / "masks_series.png", x_ts, lab_ts, y_ts, maps_ts)

    timings["total"] = time.perf_counter() - start
    info["seconds"] = round(timings["total"], 1)
    settings_out = {"quick": quick, "seed": seed, **asdict(settings),
                    "lambdas_tv": list(LAMBDAS_TV),
                    "timings_s": {k: round(v, 2) for k, v in timings.items()}, **info}

    import pandas as pd

    pd.DataFrame(rows).to_csv(run_dir / "certify.csv", index=False)
    (run_dir / "certify.md").write_text(_markdown(rows))
    (run_dir / "settings.json").write_text(json.dumps(settings_out, indent=2))
    index = report / "index.html"
    index.write_text(_html(rows, settings_out, info))
    return index

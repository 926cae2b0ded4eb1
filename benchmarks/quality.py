"""Speed of the [OBJ] quality metrics against Quantus (and Captum / per-sample loops), one run.

Löffler et al., "Don't Get Me Wrong: How to Apply Deep Visual Interpretations to Time Series".
Same model (the registry's [OBJ] FCN), same data (GunPoint test
split from aeon: 150 series x 150 steps x 1 channel; random data of that shape if aeon has no
copy), same saliency method through the same ``explain`` call; each pair is timed back to back:

================================  ============================================================
saliencylab                       baseline
================================  ============================================================
robustness (r 0.05, 10 draws)     quantus.MaxSensitivity (uniform noise, Frobenius norms);
                                  captum.metrics.sensitivity_max
sanity (cascade, SSIM)            quantus.MPRT (top_down, cumulative), SSIM per sample with
                                  scikit-image (Gaussian, sigma 1.5) as its similarity_func;
                                  ours with include_norm=True: the same 9 layers
faithfulness (swap, 15 %)         quantus.RegionPerturbation (one region of ceil(0.15 T),
                                  mean baseline); a per-sample loop as the authors' scripts
inter_class_sensitivity           quantus.RandomLogit (binary data: the other class is the
                                  least likely one), cosine
stability (DTW, window 20)        per-pair ``dtaidistance.dtw.distance_fast`` calls
================================  ============================================================

Quantus runs on NumPy copies with its own batching (``--quantus-batch``); values are printed next
to ours where they estimate the same quantity (noise draws differ, so only roughly equal). Quantus
calls ``explain`` on each batch of perturbed or re-targeted inputs, which seeds a sampling method
(IG's random baseline) by position in the batch: while the batch holds every sample that is each
sample's own draws, so our rows against Quantus use ``shared_draws=True``; our default (draws of
its own for every perturbed copy, [OBJ] §4.2) is timed against Captum's ``sensitivity_max``, which
explains the copies in one call as we do.

    python benchmarks/quality.py                      # CPU, gradient maps
    python benchmarks/quality.py --method integrated_gradients --device cuda
    python benchmarks/quality.py --smoke              # a tiny setting, seconds
    python benchmarks/quality.py --profile robustness # cProfile of one of our metrics

Quantus is a benchmark-only dependency: ``pip install --no-deps quantus cachetools
opencv-python-headless scikit-image`` (``pip install quantus`` pulls opencv-python, which is
not needed). Without it the Quantus rows are skipped.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from saliencylab.explain import explain
from saliencylab.metrics import (
    MetricContext,
    faithfulness,
    inter_class_sensitivity,
    make_explain_fn,
    robustness,
    sanity,
    stability,
)
from saliencylab.models import build_model

N_TIME, N_FEATURES = 150, 1


# --------------------------------------------------------------------------- data and model


def load_data(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, str]:
    try:
        from aeon.datasets import load_gunpoint

        xtr, ytr = load_gunpoint(split="train")
        xte, yte = load_gunpoint(split="test")

        def conv(x, y):
            return (torch.tensor(np.asarray(x), dtype=torch.float32).transpose(1, 2),
                    torch.tensor(np.asarray(y).astype(int) - 1))

        (xtr, ytr), (xte, yte) = conv(xtr, ytr), conv(xte, yte)
        source = "GunPoint (aeon)"
    except Exception as exc:  # noqa: BLE001 - any failure: fall back to random data
        g = torch.Generator().manual_seed(0)
        xtr, xte = torch.randn(50, N_TIME, 1, generator=g), torch.randn(150, N_TIME, 1, generator=g)
        ytr, yte = (xtr.mean((1, 2)) > 0).long(), (xte.mean((1, 2)) > 0).long()
        source = f"random GunPoint-shaped data ({type(exc).__name__})"
    reps = math.ceil(n / xte.shape[0])
    return xtr, ytr, xte.repeat(reps, 1, 1)[:n], yte.repeat(reps)[:n], source


def build(device: torch.device) -> tuple[nn.Module, str]:
    torch.manual_seed(0)
    return build_model("fcn", n_features=N_FEATURES, n_time=N_TIME).to(device), "registry fcn"


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()


class ChannelFirst(nn.Module):
    """Quantus wants (N, C, T) arrays; our models take (N, T, F)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.transpose(1, 2))


# ----------------------------------------------------------------------------------- timing


REPEATS = 2


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Best wall time of ``REPEATS`` runs (the machine may be shared) and the last result."""
    best, out = math.inf, None
    for _ in range(REPEATS):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def summary(values: object) -> str:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    return f"{v.mean():+.4f}" if v.size else "n/a"


def row(name: str, ours: float, base_name: str, base: float | None, ours_val: object = None,
        base_val: object = None) -> None:
    if base is None:
        print(f"{name:<26} {ours:8.2f} s   {base_name:<34} {'skipped':>9}")
        return
    vals = ""
    if ours_val is not None and base_val is not None:
        vals = f"   mean ours {summary(ours_val)}, baseline {summary(base_val)}"
    print(f"{name:<26} {ours:8.2f} s   {base_name:<34} {base:8.2f} s   {base / ours:6.1f}x{vals}")


# -------------------------------------------------------------------------------- baselines


def loop_faithfulness(model: nn.Module, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor,
                      fraction: float) -> np.ndarray:
    """The authors' style: per sample, NumPy argmax, a copy, one model call per input."""
    out = []
    with torch.no_grad():
        for i in range(x.shape[0]):
            sample, sal = x[i].cpu().numpy(), maps[i].cpu().numpy()
            p = torch.softmax(model(x[i:i + 1]), 1)[0, y[i]].item()
            t, c = np.unravel_index(np.argmax(sal), sal.shape)
            length = math.ceil(fraction * sample.shape[0])
            lo = max(0, t - (length - 1) // 2)
            hi = min(sample.shape[0] - 1, lo + length - 1)
            mod = sample.copy()
            mod[lo:hi + 1, c] = sample[lo:hi + 1, c][::-1]
            xm = torch.tensor(mod, device=x.device).unsqueeze(0)
            out.append(p - torch.softmax(model(xm), 1)[0, y[i]].item())
    return np.array(out)


def pairwise_stability(maps: torch.Tensor, y: torch.Tensor, window: int) -> np.ndarray:
    from dtaidistance import dtw

    arr, lab = maps.detach().cpu().double().numpy(), y.cpu().numpy()
    out = np.full(len(lab), np.nan)
    for i in range(len(lab)):
        d = [sum(dtw.distance_fast(np.ascontiguousarray(arr[i, :, c]),
                                   np.ascontiguousarray(arr[j, :, c]), window=window,
                                   use_pruning=False)  # pruning: inf when DTW = Euclidean
                 for c in range(arr.shape[2]))
             for j in range(len(lab)) if j != i and lab[j] == lab[i]]
        out[i] = -np.mean(d) if d else np.nan
    return out


def cosine_distance(a: np.ndarray, b: np.ndarray, batched: bool = False, **_: object):
    """quantus.similarity_func.cosine (scipy's 1 - cos) for the batched call RandomLogit makes."""
    from scipy.spatial.distance import cosine

    return np.array([cosine(u, v) for u, v in zip(a, b, strict=True)]) if batched else cosine(a, b)


def skimage_ssim_1d(a: np.ndarray, b: np.ndarray, batched: bool = False, **_: object):
    from skimage.metrics import structural_similarity

    def one(u: np.ndarray, v: np.ndarray) -> float:
        u, v = u.reshape(-1).astype(np.float64), v.reshape(-1).astype(np.float64)
        rng = max(u.max(), v.max()) - min(u.min(), v.min())
        return structural_similarity(u, v, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False,
                                     data_range=rng if rng > 0 else 1e-12)

    return np.array([one(u, v) for u, v in zip(a, b, strict=True)]) if batched else one(a, b)


# ------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=150)
    ap.add_argument("--method", default="gradient")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=40, help="full-batch Adam epochs on train")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="our metrics' batch_size (default: sized by the memory budget)")
    ap.add_argument("--quantus-batch", type=int, default=64)
    ap.add_argument("--radius", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs per timing")
    ap.add_argument("--no-quantus", action="store_true")
    ap.add_argument("--explain-budget", type=int, default=None,
                    help="explain()'s memory_budget (elements per chunk) for ours and Quantus "
                         "alike (default: saliencylab.utils.memory_budget())")
    ap.add_argument("--smoke", action="store_true", help="a tiny setting that runs in seconds")
    ap.add_argument("--only", nargs="*", default=None,
                    help="metrics to time (robustness sanity ssim faithfulness "
                         "inter_class_sensitivity stability); default all")
    ap.add_argument("--profile", default=None,
                    help="print a cProfile of our metric of this name and exit")
    args = ap.parse_args()
    if args.smoke:
        args.samples, args.epochs, args.repeats = 6, 2, 1
    global REPEATS
    REPEATS = max(1, args.repeats)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    device = torch.device(args.device)

    xtr, ytr, x, y, source = load_data(args.samples)
    model, model_name = build(device)
    xtr, ytr, x, y = xtr.to(device), ytr.to(device), x.to(device), y.to(device)
    train(model, xtr, ytr, args.epochs)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    print(f"data: {source}, x {tuple(x.shape)}; model: {model_name}, test accuracy {acc:.3f}; "
          f"method: {args.method}; device: {device}; torch threads {args.threads}")

    budget = {} if args.explain_budget is None else {"memory_budget": args.explain_budget}
    fn = make_explain_fn(args.method, postprocess="tsb", **budget)
    bs = args.batch_size
    maps = fn(model, x, y)
    for _ in range(2):  # warm-up: first calls pay for lazy initialisation
        fn(model, x.repeat(4, 1, 1), y.repeat(4))

    quantus = None
    if not args.no_quantus:
        try:
            import quantus
        except Exception as exc:  # noqa: BLE001
            print(f"quantus unavailable ({type(exc).__name__}: {exc}); its rows are skipped")
    xq, yq = x.transpose(1, 2).cpu().numpy(), y.cpu().numpy()
    aq = maps.transpose(1, 2).cpu().numpy()
    wrapped = ChannelFirst(model).eval()

    def q_explain(model, inputs, targets, **_):
        inp = torch.as_tensor(np.asarray(inputs), dtype=torch.float32, device=device)
        tgt = torch.as_tensor(np.asarray(targets), device=device).long()
        a = explain(model, inp, tgt, args.method, postprocess="tsb", **budget).attributions
        return a.detach().cpu().numpy()

    qcommon = dict(model=wrapped, x_batch=xq, y_batch=yq, explain_func=q_explain,
                   device=str(device), batch_size=args.quantus_batch)
    qflags = dict(abs=False, normalise=False, disable_warnings=True, display_progressbar=False)
    ctx = MetricContext(explain_fn=fn, batch_size=bs, generator=0)
    print(f"\n{'metric':<26} {'ours':>10}   {'baseline':<34} {'time':>9}   speed-up")

    def want(name: str) -> bool:
        return args.only is None or name in args.only

    if args.profile is not None:
        import cProfile
        import pstats

        ours_fns = {"robustness": lambda: robustness(model, x, y, maps, context=ctx,
                                                     radius=args.radius, relative=True),
                    "sanity": lambda: sanity(model, x, y, maps, context=ctx, include_norm=True),
                    "inter_class_sensitivity": lambda: inter_class_sensitivity(
                        model, x, y, maps, context=ctx)}
        prof = cProfile.Profile()
        prof.runcall(ours_fns[args.profile])
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
        return

    if want("robustness"):
        # robustness -------------------------------------------------------------------------
        t_ours, ours = timed(lambda: robustness(model, x, y, maps, context=ctx, radius=args.radius,
                                                relative=True))
        # Quantus explains each perturbed batch at its samples' positions, so a seeded sampling
        # explainer (IG's random baseline) keeps each sample's draws: our shared_draws=True.
        t_shared, shared = timed(lambda: robustness(model, x, y, maps, context=ctx,
                                                    radius=args.radius, relative=True,
                                                    shared_draws=True))
        if quantus is not None:
            metric = quantus.MaxSensitivity(
                nr_samples=10, lower_bound=args.radius,  # default: batch_uniform_noise in ±r
                return_nan_when_prediction_changes=False, **qflags)
            t_q, q = timed(lambda: metric(a_batch=aq, **qcommon))
            row("robustness (shared draws)", t_shared, "quantus.MaxSensitivity", t_q, shared,
                -np.asarray(q))
        else:
            row("robustness (relative)", t_ours, "quantus.MaxSensitivity", None)
        from captum.metrics import sensitivity_max

        def captum_fn(inputs, target):
            inp = inputs[0] if isinstance(inputs, tuple) else inputs
            return (fn(model, inp, target),)

        t_c, c = timed(lambda: sensitivity_max(captum_fn, x, perturb_radius=args.radius,
                                               n_perturb_samples=10, target=y,
                                               max_examples_per_batch=bs))
        row("robustness (relative)", t_ours, "captum sensitivity_max", t_c, ours, -c.cpu())

    if want("sanity"):
        # sanity -----------------------------------------------------------------------------
        # include_norm: Quantus randomises every module with reset_parameters, BatchNorm included
        t_ours, ours = timed(lambda: sanity(model, x, y, maps, context=ctx, include_norm=True))
        if quantus is not None:
            metric = quantus.MPRT(layer_order="top_down", similarity_func=skimage_ssim_1d,
                                  return_average_correlation=True, **qflags)
            t_q, q = timed(lambda: metric(a_batch=aq, **qcommon))
            row("sanity", t_ours, "quantus.MPRT + skimage SSIM", t_q, ours, -np.asarray(q))
        else:
            row("sanity", t_ours, "quantus.MPRT + skimage SSIM", None)

    if want("ssim"):
        # the similarity step alone: SSIM of 10 map pairs per sample
        from saliencylab.metrics import ssim

        other = torch.roll(maps, 1, dims=0)
        many_a, many_b = maps.repeat(10, 1, 1), other.repeat(10, 1, 1)
        t_ours, ours = timed(lambda: ssim(many_a, many_b))
        t_s, ref = timed(lambda: skimage_ssim_1d(many_a.cpu().numpy(), many_b.cpu().numpy(),
                                                 batched=True))
        row(f"ssim ({many_a.shape[0]} pairs)", t_ours, "scikit-image, one call per pair", t_s,
            ours.cpu(), ref)

    if want("faithfulness"):
        # faithfulness -----------------------------------------------------------------------
        t_ours, ours = timed(lambda: faithfulness(model, x, y, maps, context=ctx))
        t_l, loop = timed(lambda: loop_faithfulness(model, x, y, maps, 0.15))
        row("faithfulness", t_ours, "per-sample loop (authors' style)", t_l, ours, loop)
        if quantus is not None:
            patch = math.ceil(0.15 * N_TIME)
            metric = quantus.RegionPerturbation(
                patch_size=patch, regions_evaluation=1, order="morf", perturb_baseline="mean",
                **qflags)
            try:
                t_q, q = timed(lambda: metric(a_batch=aq, **qcommon))
                row("faithfulness", t_ours, "quantus.RegionPerturbation (1 reg.)", t_q)
            except Exception as exc:  # noqa: BLE001
                print(f"{'faithfulness':<26} quantus.RegionPerturbation failed: "
                      f"{type(exc).__name__}: {str(exc)[:80]}")

    if want("inter_class_sensitivity"):
        # inter-class sensitivity ------------------------------------------------------------
        # shared draws: RandomLogit, too, explains the other class at each sample's position
        t_ours, ours = timed(lambda: inter_class_sensitivity(model, x, y, maps, context=ctx,
                                                             shared_draws=True))
        if quantus is not None:
            metric = quantus.RandomLogit(num_classes=2, similarity_func=cosine_distance,
                                         seed=0, **qflags)
            t_q, q = timed(lambda: metric(a_batch=aq, **qcommon))
            # quantus' cosine is scipy's cosine *distance* 1 - cos: ours is -cos
            row("inter_class_sensitivity", t_ours, "quantus.RandomLogit (cosine)", t_q, ours,
                np.asarray(q) - 1)
        else:
            row("inter_class_sensitivity", t_ours, "quantus.RandomLogit (cosine)", None)

    if want("stability"):
        # stability --------------------------------------------------------------------------
        t_ours, ours = timed(lambda: stability(model, x, y, maps, window=20))
        t_p, pair = timed(lambda: pairwise_stability(maps, y, 20))
        row("stability", t_ours, "per-pair dtaidistance calls", t_p, ours, pair)


if __name__ == "__main__":
    main()

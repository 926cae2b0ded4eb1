"""``saliencylab.explain.explain`` against a direct Captum call, method by method, same run.

For every method the script times, on the same model ([TSB] TCN, T = F = 50) and batch:

- ``captum``: the Captum class called directly with the same settings (for our own
  implementations -- GradientSHAP, SmoothGrad, LRP -- the Captum class they stand in for:
  ``GradientShap``, ``NoiseTunnel(Saliency)``, and ``InputXGradient`` for LRP, because Captum's
  LRP has no Conv1d rule; for GradCAM ``LayerGradCam`` plus ``LayerAttribution.interpolate``);
- ``explain``: our call with the method's defaults, whole batch;
- ``chunked``: our call with ``batch_size = batch / 4``.

It prints seconds (best of ``--repeat`` interleaved runs, more for a call of a few
milliseconds: up to half a second per side, at most 200 runs) and the ratios explain / captum and
chunked / captum. A ratio near 1 means the uniform API, validation and per-sample seeding cost
nothing; chunking costs nothing when the chunks still fill the machine.

    python benchmarks/explain.py                       # batch 16, CPU, 1 thread
    python benchmarks/explain.py --batch 32 --device cuda --methods gradient,lime
    python benchmarks/explain.py --quick               # LIME / KernelSHAP with 200 samples
    python benchmarks/explain.py --smoke               # 4 x 10 x 10, seconds

DeepLIFT and DeepLIFT-SHAP are our one-pass rules against Captum's ``DeepLift`` /
``DeepLiftShap``; by default ours composes the max pool's rule after a ReLU where Captum's loses
it (the same work; ``rules="captum"`` gives Captum's maps).

Methods without a Captum counterpart (``learned_mask``: [CS]'s learned masks, our own
optimisation) are listed as skipped.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from saliencylab.explain import METHODS, explain
from saliencylab.models import build_model

N_TIME = N_FEATURES = 50
SECONDS_PER_SIDE = 0.5  # cheap methods repeat up to this long (at most 200 runs) per side


NO_CAPTUM = {"learned_mask": "no Captum counterpart ([CS] learned masks are our own)",
             "tsb_random": "no Captum counterpart (another method's map, permuted: [TSB] §4.3)"}


def _captum_calls(model, x, target, settings):
    """Direct Captum calls with the settings ``explain`` uses by default."""
    import captum.attr as ca
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    n, n_time, n_feat = x.shape
    g = torch.Generator().manual_seed(0)
    uniform = torch.rand(x.shape, generator=g).to(x)
    dist = torch.rand((5 * n, *x.shape[1:]), generator=g).to(x)
    step_mask = torch.arange(n_time)[:, None].expand(n_time, n_feat)[None].contiguous()
    step_mask = step_mask.to(x.device)
    ppe = max(1, 256 // n)
    layer = model.feature_layer

    def gradcam():
        cam = ca.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
        up = ca.LayerAttribution.interpolate(cam, n_time, "linear")
        return up[:, 0, :, None].expand_as(x)

    def per_sample(cls, **kw):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return cls.attribute(x, target=target, **kw)
        return run

    lime = ca.Lime(model, similarity_func=get_exp_kernel_similarity_function("cosine", 5.0))
    return {
        "gradient": lambda: ca.Saliency(model).attribute(x, target=target, abs=True),
        "gradient_x_input": lambda: ca.InputXGradient(model).attribute(x, target=target),
        "integrated_gradients": lambda: ca.IntegratedGradients(model).attribute(
            x, baselines=uniform, target=target, n_steps=50),
        "deeplift": lambda: ca.DeepLift(model).attribute(x, baselines=uniform, target=target),
        "deeplift_shap": lambda: ca.DeepLiftShap(model).attribute(
            x, baselines=dist, target=target),
        "gradient_shap": lambda: ca.GradientShap(model).attribute(
            x, baselines=dist, target=target, n_samples=5, stdevs=0.09),
        "smoothgrad": lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=5, stdevs=1.0, target=target),
        "guided_backprop": lambda: ca.GuidedBackprop(model).attribute(x, target=target),
        "gradcam": gradcam,
        "guided_gradcam": lambda: ca.GuidedBackprop(model).attribute(x, target=target)
        * gradcam(),
        "lrp": lambda: ca.InputXGradient(model).attribute(x, target=target),
        "lime": per_sample(lime, feature_mask=step_mask, n_samples=settings["lime_samples"],
                           perturbations_per_eval=50, baselines=0.0),
        "kernel_shap": per_sample(ca.KernelShap(model), feature_mask=step_mask,
                                  n_samples=settings["lime_samples"], perturbations_per_eval=50,
                                  baselines=0.0),
        "occlusion": lambda: ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(1, n_feat), strides=(1, n_feat), baselines=0.0,
            target=target, perturbations_per_eval=ppe),
        "feature_ablation": lambda: ca.FeatureAblation(model).attribute(
            x, baselines=0.0, target=target, perturbations_per_eval=ppe),
        "feature_permutation": lambda: ca.FeaturePermutation(model).attribute(
            x, target=target, feature_mask=step_mask, perturbations_per_eval=ppe),
        "shapley_value_sampling": lambda: ca.ShapleyValueSampling(model).attribute(
            x, baselines=0.0, target=target, feature_mask=step_mask, n_samples=25,
            perturbations_per_eval=ppe),
        "random": lambda: torch.rand(x.shape),
        "feature_permuted_random": lambda: ca.Saliency(model).attribute(x, target=target)[
            ..., torch.randperm(n_feat)],
    }


def _once(fn) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's notices about requires_grad and hooks
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _interleaved(fns: list, repeat: int) -> list[float]:
    """Best time of each function, the runs interleaved so that load changes hit all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], _once(fn))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--quick", action="store_true", help="LIME / KernelSHAP: 200 samples")
    parser.add_argument("--smoke", action="store_true",
                        help="4 x 10 x 10, one repeat, LIME / KernelSHAP with 50 samples")
    args = parser.parse_args()
    n_time = n_feat = 10 if args.smoke else N_TIME
    if args.smoke:
        args.batch, args.repeat = 4, 1
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    model = build_model("tcn", n_features=n_feat, n_time=n_time, seed=0).to(device).eval()
    x = torch.rand(args.batch, n_time, n_feat, generator=torch.Generator().manual_seed(1))
    x = x.to(device)
    target = torch.arange(args.batch, device=device) % 2
    settings = {"lime_samples": 50 if args.smoke else 200 if args.quick else 1000}
    captum_calls = _captum_calls(model, x, target, settings)

    print(f"TCN [TSB] on {args.batch} x {n_time} x {n_feat}, device {device}, "
          f"{args.threads} threads, best of {args.repeat}; chunked = batch_size {args.batch // 4}")
    header = f"{'method':24s} {'captum s':>9s} {'explain s':>10s} {'ratio':>7s} " \
             f"{'chunked s':>10s} {'ratio':>7s}"
    print(header)
    print("-" * len(header))
    for name in args.methods.split(","):
        if name in NO_CAPTUM:
            print(f"{name:24s} skipped: {NO_CAPTUM[name]}")
            continue
        params = {}
        if name in ("lime", "kernel_shap"):
            params["n_samples"] = settings["lime_samples"]
        heavy = name in ("lime", "kernel_shap", "feature_ablation", "shapley_value_sampling")
        repeat = min(2, args.repeat) if heavy else args.repeat
        least = 2 if name == "feature_permutation" else 1  # it shuffles across a chunk
        ours = lambda bs=None, p=params, n=name: explain(  # noqa: E731
            model, x, target, n, batch_size=bs, **p)
        _once(ours)  # warm-up (imports, first-call allocations) for both sides
        once = _once(captum_calls[name])
        if not args.smoke:  # a few-ms call: more runs, so the best of them is not noise
            repeat = max(repeat, min(200, int(SECONDS_PER_SIDE / max(once, 1e-6))))
        t_captum, t_ours, t_chunk = _interleaved(
            [captum_calls[name], ours, lambda o=ours, lo=least: o(max(lo, args.batch // 4))],
            repeat)
        print(f"{name:24s} {t_captum:9.3f} {t_ours:10.3f} {t_ours / t_captum:6.2f}x "
              f"{t_chunk:10.3f} {t_chunk / t_captum:6.2f}x", flush=True)
    print("ratio: explain's time / Captum's (below 1: explain is faster)")


if __name__ == "__main__":
    main()

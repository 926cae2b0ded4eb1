"""Batched TSR against the one-masked-input-per-call loop ([TSB] Ismail et al., NeurIPS 2020).

Times, in the same run and on the same model and inputs, the naive Temporal Saliency Rescaling
(a Python loop over samples, time steps and features with one attribution call per masked input,
as in the authors' code and TSInterpret) and ``saliencylab.explain.tsr.temporal_saliency_rescaling``
(all masked copies as rows of a few big batches), for Captum's Saliency (gradient) and
IntegratedGradients, on a TCN with 50 x 50 inputs. Prints both times, the ratio, and the largest
difference between the two maps (float32 kernels differ between batch sizes by ~1e-7, which can
leave a tiny delta where the exact one is 0; with --dtype float64 the maps agree to ~1e-12).

    python benchmarks/tsr.py                      # 4 samples, IG with 16 steps
    python benchmarks/tsr.py --samples 2 --ig-steps 8 --threads 1 --dtype float64
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from saliencylab.explain.tsr import default_batch_size, temporal_saliency_rescaling
from saliencylab.models import build_model

N_TIME = N_FEATURES = 50
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


def build_tcn() -> tuple[nn.Module, str]:
    """The registry's reference TCN (channels 5, 5, 50; kernel 4), random weights."""
    torch.manual_seed(0)
    model = build_model("tcn", n_features=N_FEATURES, n_time=N_TIME)
    return model.eval(), "registry tcn (channels 5,5,50, kernel 4)"


def naive_tsr(attribute, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reference loop (paper defaults: mask with x[0, 0], alpha = mean Delta, delta = 0 below
    alpha): 1 + T + (#relevant t) * F attribution calls of one input each, per sample."""
    out = torch.zeros_like(x)
    n, n_time, n_feat = x.shape
    for b in range(n):
        xb, tb = x[b : b + 1], target[b : b + 1]
        base = attribute(xb, tb).detach()
        fill = float(xb[0, 0, 0])
        big = torch.zeros(n_time, dtype=x.dtype)
        for t in range(n_time):
            masked = xb.clone()
            masked[0, t, :] = fill
            big[t] = (base - attribute(masked, tb).detach()).abs().sum()
        alpha = big.mean()
        for t in range(n_time):
            if big[t] > alpha:
                for i in range(n_feat):
                    masked = xb.clone()
                    masked[0, t, i] = fill
                    small = (base - attribute(masked, tb).detach()).abs().sum()
                    out[b, t, i] = small * big[t]
    return out


def call_costs(attribute, x: torch.Tensor, target: torch.Tensor, batch_size: int,
               repeats: int = 200) -> tuple[float, float]:
    """Seconds of one single-input ``attribute`` call, and per row of one full-batch call."""
    one, t = x[:1], target[:1]
    start = time.perf_counter()
    for _ in range(repeats):
        attribute(one, t)
    single = (time.perf_counter() - start) / repeats
    rows = one.expand(batch_size, -1, -1).clone()
    rows_t = t.expand(batch_size)
    attribute(rows, rows_t)
    start = time.perf_counter()
    attribute(rows, rows_t)
    return single, (time.perf_counter() - start) / batch_size


def timed(fn):
    """Result, wall seconds and process CPU seconds (the latter is less sensitive to other
    programs on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


class _Counter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, x, t):
        self.calls += 1
        return self.fn(x, t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--ig-steps", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dtype = getattr(torch, args.dtype)
    model, model_name = build_tcn()
    model = model.to(dtype)
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.samples, N_TIME, N_FEATURES, generator=gen, dtype=dtype)
    with torch.no_grad():
        target = model(x).argmax(1)

    sal, ig = Saliency(model), IntegratedGradients(model)
    baseline = torch.zeros(1, N_TIME, N_FEATURES, dtype=dtype)
    methods = {
        "gradient": (
            lambda a, t: sal.attribute(a, target=t, abs=True),
            default_batch_size(N_TIME, N_FEATURES),
        ),
        f"integrated_gradients (n_steps={args.ig_steps})": (
            lambda a, t: ig.attribute(a, baselines=baseline, target=t, n_steps=args.ig_steps),
            max(1, default_batch_size(N_TIME, N_FEATURES) // args.ig_steps),
        ),
    }

    print(
        f"TSR on {model_name}, {args.samples} samples of {N_TIME}x{N_FEATURES}, "
        f"{args.dtype}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    head = f"{'method':<34}{'naive s':>9}{'fast s':>8}{'wall x':>8}{'cpu x':>8}{'calls':>14}"
    print(head + f"{'max|diff|/max':>15}{'one call':>10}{'per row':>9}{'bound':>8}")
    for name, (attribute, batch_size) in methods.items():
        # Warm-up both (oneDNN builds kernels per shape, the allocator grows its pools): the
        # naive loop only ever sees one-row inputs, the fast path its chunk shapes.
        attribute(x[:1], target[:1])
        temporal_saliency_rescaling(attribute, x, target, batch_size=batch_size)
        counted = _Counter(attribute)
        slow, w_slow, c_slow = timed(lambda a=counted: naive_tsr(a, x, target))
        n_slow, counted.calls = counted.calls, 0
        fast, w_fast, c_fast = timed(
            lambda a=counted, bs=batch_size: temporal_saliency_rescaling(
                a, x, target, batch_size=bs
            )
        )
        rel = float((fast - slow).abs().max() / slow.abs().max().clamp_min(1e-30))
        calls = f"{n_slow}->{counted.calls}"
        one_call, per_row = call_costs(attribute, x, target, batch_size)
        print(
            f"{name:<34}{w_slow:>9.2f}{w_fast:>8.2f}{w_slow / w_fast:>7.1f}x"
            f"{c_slow / c_fast:>7.1f}x{calls:>14}{rel:>15.1e}"
            f"{one_call * 1e3:>10.3f}{per_row * 1e3:>9.3f}{one_call / per_row:>7.1f}x"
        )
    print("one call: ms per single-input attribute call; per row: ms per row inside one call of "
          "batch_size rows; bound: their ratio, the most any batching can gain over the loop")


if __name__ == "__main__":
    main()

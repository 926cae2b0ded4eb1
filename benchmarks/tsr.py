"""Batched TSR against the one-masked-input-per-call loop ([TSB] Ismail et al., NeurIPS 2020).

Times, in the same run and on the same model and inputs, the naive Temporal Saliency Rescaling
(a Python loop over samples, time steps and features with one attribution call per masked input,
as in the authors' code and TSInterpret) and ``saliencylab.explain.tsr.temporal_saliency_rescaling``
(all masked copies as rows of a few big batches), for Captum's Saliency (gradient) and
IntegratedGradients, on a TCN with 50 x 50 inputs. Prints both times, the ratio, and the largest
difference between the two maps (float32 kernels differ between batch sizes by ~1e-7, which can
leave a tiny delta where the exact one is 0; with --dtype float64 the maps agree to ~1e-12).

The fast side is ``explain(model, x, y, method, tsr=True)`` (its attribution chunks sized by the
memory budget, the gradient from one autograd call per chunk); the naive side calls Captum's
``Saliency`` / ``IntegratedGradients`` (zero baseline, default 50 steps) directly.

    python benchmarks/tsr.py                      # 2 samples, IG with 50 steps, 1 thread
    python benchmarks/tsr.py --samples 2 --ig-steps 8 --threads 1 --dtype float64
    python benchmarks/tsr.py --smoke              # 1 sample of 10 x 10, seconds
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from captum.attr import IntegratedGradients, Saliency
from torch import nn

from saliencylab.explain import explain
from saliencylab.models import build_model

N_TIME = N_FEATURES = 50
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


def build_tcn(n_time: int = N_TIME, n_features: int = N_FEATURES) -> tuple[nn.Module, str]:
    """The registry's reference TCN (channels 5, 5, 50; kernel 4), random weights."""
    torch.manual_seed(0)
    model = build_model("tcn", n_features=n_features, n_time=n_time)
    return model.eval(), "registry tcn (channels 5,5,50, kernel 4)"


def naive_tsr(attribute, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reference loop (paper defaults: mask with 0, alpha = mean Delta, delta = 0 below
    alpha): 1 + T + (#relevant t) * F attribution calls of one input each, per sample."""
    out = torch.zeros_like(x)
    n, n_time, n_feat = x.shape
    for b in range(n):
        xb, tb = x[b : b + 1], target[b : b + 1]
        base = attribute(xb, tb).detach()
        fill = 0.0  # X-bar = 0 of [TSB] Algorithm 1
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


def call_costs(single, batched, x: torch.Tensor, target: torch.Tensor, batch_size: int,
               repeats: int = 50) -> tuple[float, float]:
    """Seconds of one single-input call of ``single`` (what the loop pays per masked input) and
    per row of one ``batch_size``-row call of ``batched`` (what the batched TSR pays)."""
    one, t = x[:1], target[:1]
    single(one, t)
    start = time.perf_counter()
    for _ in range(repeats):
        single(one, t)
    one_call = (time.perf_counter() - start) / repeats
    rows = one.expand(batch_size, -1, -1).clone()
    rows_t = t.expand(batch_size)
    batched(rows, rows_t)
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        batched(rows, rows_t)
        best = min(best, time.perf_counter() - start)
    return one_call, best / batch_size


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
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--ig-steps", type=int, default=50, help="IG steps (default: ours, 50)")
    parser.add_argument("--time", type=int, default=N_TIME)
    parser.add_argument("--features", type=int, default=N_FEATURES)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--smoke", action="store_true", help="1 sample of 10 x 10, IG 8 steps")
    args = parser.parse_args()
    if args.smoke:
        args.samples, args.time, args.features, args.ig_steps = 1, 10, 10, 8
    torch.set_num_threads(args.threads)

    dtype = getattr(torch, args.dtype)
    n_time, n_feat = args.time, args.features
    model, model_name = build_tcn(n_time, n_feat)
    model = model.to(dtype)
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.samples, n_time, n_feat, generator=gen, dtype=dtype)
    with torch.no_grad():
        target = model(x).argmax(1)

    sal, ig = Saliency(model), IntegratedGradients(model)
    zero = torch.zeros(1, n_time, n_feat, dtype=dtype)
    steps = args.ig_steps
    methods = {
        "gradient": (
            lambda a, t: sal.attribute(a, target=t, abs=True),
            ("gradient", {}),
        ),
        f"integrated_gradients (n_steps={steps})": (
            lambda a, t: ig.attribute(a, baselines=zero, target=t, n_steps=steps),
            ("integrated_gradients", {"baseline": "zero", "n_steps": steps}),
        ),
    }

    print(
        f"TSR on {model_name}, {args.samples} samples of {n_time}x{n_feat}, "
        f"{args.dtype}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )
    head = f"{'TSR +':<34}{'naive s':>9}{'fast s':>8}{'wall x':>8}{'cpu x':>8}{'calls':>13}"
    print(head + f"{'max|diff|/max':>15}{'one call':>10}{'per row':>9}{'bound':>8}{'of bound':>9}")
    for name, (naive_attribute, (method, params)) in methods.items():
        def fast(a=x, t=target, m=method, p=params):
            return explain(model, a, t, m, tsr=True, **p).attributions

        def batched(a, t, m=method, p=params):
            return explain(model, a, t, m, **p).attributions

        # Warm-up both (oneDNN builds kernels per shape, the allocator grows its pools): the
        # naive loop only ever sees one-row inputs, the fast path its chunk shapes.
        naive_attribute(x[:1], target[:1])
        fast()
        counted = _Counter(naive_attribute)
        slow, w_slow, c_slow = timed(lambda a=counted: naive_tsr(a, x, target))
        n_slow = counted.calls
        quick, w_fast, c_fast = timed(fast)
        rel = float((quick - slow).abs().max() / slow.abs().max().clamp_min(1e-30))
        from saliencylab.explain.tsr import temporal_saliency_rescaling

        counter = _Counter(batched)
        temporal_saliency_rescaling(counter, x, target, batch_size=_tsr_rows(method, params, x))
        calls = f"{n_slow}->{counter.calls}"
        # per row at the size of the TSR's chunks (at most its B * T rows of phase 1)
        rows = min(_tsr_rows(method, params, x), x.shape[0] * x.shape[1])
        one_call, per_row = call_costs(naive_attribute, batched, x, target, rows)
        bound = one_call / per_row
        ratio = w_slow / w_fast
        print(
            f"{name:<34}{w_slow:>9.2f}{w_fast:>8.2f}{ratio:>7.1f}x"
            f"{c_slow / c_fast:>7.1f}x{calls:>13}{rel:>15.1e}"
            f"{one_call * 1e3:>10.3f}{per_row * 1e3:>9.3f}{bound:>7.1f}x"
            f"{ratio / bound:>8.0%}", flush=True,
        )
    print("one call: ms per single-input Captum call (what the loop pays per masked input); per "
          "row: ms per row of one explain call of the TSR chunk's rows; bound: their ratio, the "
          "most batching can gain over the loop; of bound: wall x / bound")


def _tsr_rows(method: str, params: dict, x: torch.Tensor) -> int:
    """The rows per attribution call explain(..., tsr=True) uses (memory budget and cache cap)."""
    from saliencylab.explain.api import Setup, prepare
    from saliencylab.explain.registry import get_method
    from saliencylab.explain.tsr import default_batch_size

    setup = Setup(model=None, inner=None, space=x, extra=(), modality="time_series", seed=0,
                  batch_size=None, embedding_layer=None, valid=None, output_shape=(2,),
                  probe_target=torch.zeros(1, dtype=torch.long))
    prep = prepare(get_method(method), setup, params)
    rows = default_batch_size(x.shape[1], x.shape[2], x.device)
    return min(rows, prep.chunk_rows) if prep.chunk_rows else rows


if __name__ == "__main__":
    main()

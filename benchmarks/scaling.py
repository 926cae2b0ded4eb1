"""How ``explain`` and TSR scale with the number of series N and their length T.

Times ``explain`` (Gradient, Integrated Gradients) and ``explain(..., tsr=True)`` (TSR +
Gradient) on the registry's TCN for N in {10, 100, 1000} (T = 50) and T in {50, 200, 800}
(N = 100), F features, and fits the exponent of time ~ size^k on a log-log scale (target:
k <= 1.1, linear; chunks sized by the memory budget keep the cost per row constant instead of
falling off a cliff once a chunk no longer fits).

TSR's cost per series grows with T itself (T masked copies, plus F per relevant step), so its
T-exponent is measured against T * (work per row) and its expected value is about 2 in T alone;
the table prints both.

The scaling of the ground-truth evaluation (saliencylab.metrics) belongs to its own benchmark:
HOOK(metrics scaling) -- not measured here.

    python benchmarks/scaling.py                 # F = 10, 1 thread
    python benchmarks/scaling.py --smoke         # N in {4, 8, 16}, T in {10, 20, 40}: seconds
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from saliencylab.explain import explain
from saliencylab.models import build_model


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _exponent(sizes: list[int], times: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--ig-steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke:
        ns, n_fixed, ts, t_fixed, args.repeat, args.ig_steps = [4, 8, 16], 8, [10, 20, 40], 10, \
            1, 8
    else:
        ns, n_fixed, ts, t_fixed = [10, 100, 1000], 100, [50, 200, 800], 50
    f = args.features
    cases = {
        "gradient": ("gradient", {}, None),
        f"integrated_gradients ({args.ig_steps} steps)": (
            "integrated_gradients", {"n_steps": args.ig_steps}, None),
        "tsr + gradient": ("gradient", {}, True),
    }
    print(f"TCN, F = {f}, {torch.get_num_threads()} torch thread(s), best of {args.repeat}")
    for axis, sizes in (("N", ns), ("T", ts)):
        fixed = f"T = {t_fixed}" if axis == "N" else f"N = {n_fixed}"
        print(f"\nscaling in {axis} ({fixed})")
        print(f"{'method':<34}" + "".join(f"{axis + '=' + str(s):>11}" for s in sizes)
              + f"{'exponent':>10}{'last/first':>12}{'linear':>9}")
        for name, (method, params, tsr) in cases.items():
            times = []
            for size in sizes:
                n, t = (size, t_fixed) if axis == "N" else (n_fixed, size)
                model = build_model("tcn", n_features=f, n_time=t, seed=0).eval()
                x = torch.rand(n, t, f, generator=torch.Generator().manual_seed(0))
                y = torch.arange(n) % 2
                run = lambda m=model, a=x, b=y, me=method, ts=tsr, p=params: explain(  # noqa: E731
                    m, a, b, me, tsr=ts, **p)
                run(a=x[:2], b=y[:2])  # warm-up
                times.append(_best(run, args.repeat))
            k = _exponent(sizes, times)
            growth, linear = times[-1] / times[0], sizes[-1] / sizes[0]
            note = ""
            if tsr and axis == "T":  # T masked copies of a series of length T: ~T^2 by design
                k_row = _exponent(sizes, [s / size for s, size in zip(times, sizes, strict=True)])
                note = f"  (per masked copy: exponent {k_row:.2f})"
            print(f"{name:<34}" + "".join(f"{s:>10.3f}s" for s in times)
                  + f"{k:>10.2f}{growth:>11.1f}x{linear:>8.0f}x" + note, flush=True)
    print("\nexponent: slope of log(time) against log(size); 1.0 is linear; last/first: the "
          "time ratio between the largest and smallest size, linear: the size ratio")
    print("ground-truth evaluation scaling: HOOK, measured by the metrics benchmark (not here)")


if __name__ == "__main__":
    main()

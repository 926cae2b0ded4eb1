"""How ``explain`` and TSR scale with the number of series N and their length T.

Times ``explain`` (Gradient, Integrated Gradients), ``explain(..., tsr=True)`` (TSR +
Gradient) and the [TSB] ground-truth evaluation (``evaluate_groundtruth``, 11 fractions, a
Gaussian background) on the registry's TCN for N in {10, 100, 1000} (T = 50) and T in {50, 200, 800}
(N = 100), F features, and fits the exponent of time ~ size^k on a log-log scale (target:
k <= 1.1, linear; chunks sized by the memory budget keep the cost per row constant instead of
falling off a cliff once a chunk no longer fits).

TSR's cost per series grows with T itself (T masked copies, plus F per relevant step), so its
T-exponent is measured against T * (work per row) and its expected value is about 2 in T alone;
the table prints both.

    python benchmarks/scaling.py                 # F = 10, 1 thread (TSR in T up to 200)
    python benchmarks/scaling.py --tsr-long      # TSR at T = 800 too (many minutes)
    python benchmarks/scaling.py --smoke         # N in {4, 8, 16}, T in {10, 20, 40}: seconds
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from saliencylab.explain import explain
from saliencylab.metrics import evaluate_groundtruth
from saliencylab.models import build_model


def _best(fn, repeat: int) -> float:
    """Least process CPU time of ``repeat`` runs: one torch thread, so it is the work done, and
    other processes' load on a shared machine does not enter it (wall time does)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _groundtruth(model, x: torch.Tensor, y: torch.Tensor) -> None:
    """The ground-truth evaluation of a random map against a central box."""
    n, t, f = x.shape
    box = torch.zeros(n, t, f, dtype=torch.bool)
    box[:, t // 5: 4 * t // 5, f // 5: 4 * f // 5] = True
    saliency = torch.rand(n, t, f, generator=torch.Generator().manual_seed(1))

    def background(k: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(k, t, f, generator=gen)

    evaluate_groundtruth(model, x, y, box, saliency, background, generator=0).summary()


def _exponent(sizes: list[int], times: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--ig-steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--tsr-long", action="store_true",
                        help="time TSR at T = 800 too (T masked copies of 800 steps: many "
                             "minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.smoke:
        ns, n_fixed, ts, t_fixed, args.repeat, args.ig_steps = [4, 8, 16], 8, [10, 20, 40], 10, \
            1, 8
    else:
        ns, n_fixed, ts, t_fixed = [10, 100, 1000], 100, [50, 200, 800], 50
    f = args.features
    def explainer(method: str, tsr: bool | None = None, **params):
        return lambda m, a, b: explain(m, a, b, method, tsr=tsr, **params)

    cases = {
        "gradient": explainer("gradient"),
        f"integrated_gradients ({args.ig_steps} steps)": explainer(
            "integrated_gradients", n_steps=args.ig_steps),
        "tsr + gradient": explainer("gradient", tsr=True),
        "ground-truth evaluation": _groundtruth,
    }
    print(f"TCN, F = {f}, {torch.get_num_threads()} torch thread(s), best of {args.repeat}, "
          "process CPU seconds")
    for axis, axis_sizes in (("N", ns), ("T", ts)):
        fixed = f"T = {t_fixed}" if axis == "N" else f"N = {n_fixed}"
        print(f"\nscaling in {axis} ({fixed})")
        print(f"{'method':<34}" + "".join(f"{axis + '=' + str(s):>11}" for s in axis_sizes)
              + f"{'exponent':>10}{'last/first':>12}{'linear':>9}")
        for name, case in cases.items():
            times, sizes = [], axis_sizes
            if name.startswith("tsr") and axis == "T" and not args.tsr_long:
                sizes = [v for v in sizes if v <= 200] or sizes[:1]  # ~T^2: minutes at 800
            for size in sizes:
                n, t = (size, t_fixed) if axis == "N" else (n_fixed, size)
                model = build_model("tcn", n_features=f, n_time=t, seed=0).eval()
                x = torch.rand(n, t, f, generator=torch.Generator().manual_seed(0))
                y = torch.arange(n) % 2
                run = lambda m=model, a=x, b=y, c=case: c(m, a, b)  # noqa: E731
                run(a=x[:2], b=y[:2])  # warm-up
                times.append(_best(run, args.repeat))
            k = _exponent(sizes, times)
            growth, linear = times[-1] / times[0], sizes[-1] / sizes[0]
            note = ""
            # TSR: T masked copies of a series of length T, ~T^2 by design
            if name.startswith("tsr") and axis == "T":
                k_row = _exponent(sizes, [s / size for s, size in zip(times, sizes, strict=True)])
                note = f"  (per masked copy: exponent {k_row:.2f})"
            gap = " " * 11 * (len(axis_sizes) - len(times))
            print(f"{name:<34}" + "".join(f"{s:>10.3f}s" for s in times) + gap
                  + f"{k:>10.2f}{growth:>11.1f}x{linear:>8.0f}x" + note, flush=True)
    print("\nexponent: slope of log(time) against log(size); 1.0 is linear; last/first: the "
          "time ratio between the largest and smallest size, linear: the size ratio")


if __name__ == "__main__":
    main()

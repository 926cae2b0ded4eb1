"""Time the generation of the 70 [TSB] datasets, and compare with a per-sample reference loop.

[TSB] (Ismail et al., NeurIPS 2020) generated every feature of every sample with one TimeSynth
call: a Python loop over samples x features (x time steps for the AR process), with numpy. Here
the same processes are drawn for the whole batch at once in torch. This script

1. generates all 70 datasets (10 designs x 7 processes) at the default sizes (1000 train incl.
   validation + 100 test, 50 x 50), without the cache, and prints the time of each;
2. runs a naive reference generator written like the authors' code (loop over samples and
   features, TimeSynth-style per-step AR sampling and a per-feature Matérn covariance built with
   ``np.vectorize`` + ``scipy.special.kv`` and ``np.random.multivariate_normal``) on a few
   samples, times ours on the same number of samples, and prints the ratio.

    python benchmarks/data_generation.py [--threads 1] [--ref-samples 40]
"""

from __future__ import annotations

import argparse
import os
import time

# One BLAS thread for numpy (the loops' multivariate_normal) as for torch: a fair, quiet baseline.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.special import gamma, kv  # noqa: E402

from saliencylab.data import DESIGNS, PROCESSES, SyntheticConfig, generate_synthetic  # noqa: E402
from saliencylab.data.synthetic import make_split  # noqa: E402
from saliencylab.utils import make_generator  # noqa: E402

# ------------------------------------------------------------------------------------------------
# Naive reference: per-sample, per-feature numpy loops, as createSimulationDataProcesses.py +
# TimeSynth (sample_irregular_time, AutoRegressive.sample_next, GaussianProcess with Matern).


def ref_irregular_time(n_time: int, rng: np.random.RandomState) -> np.ndarray:
    num_points = 2 * n_time
    grid = np.linspace(0, 20, num_points)
    resolution = 20.0 / num_points
    keep = np.sort(rng.choice(num_points, size=n_time, replace=False))
    return np.sort(grid[keep] + rng.normal(0.0, resolution, size=n_time))


def ref_autoregressive(times: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    out = np.zeros(len(times))
    previous = 0.0
    for i in range(len(times)):  # TimeSeries.sample: noise then AutoRegressive.sample_next
        noise = rng.normal(0.0, 0.3)
        previous = 0.9 * previous + rng.normal(0.0, 0.5)
        out[i] = previous + noise
    return out


def _matern(x1: float, x2: float, nu: float = 1.5, variance: float = 1.0) -> float:
    if x1 - x2 == 0.0:
        return variance
    d = np.sqrt(2 * nu) * np.abs(x1 - x2)
    return variance * (np.power(2, 1 - nu) / gamma(nu)) * np.power(d, nu) * kv(nu, d)


def ref_gaussian_process(times: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    pairs = np.dstack(np.meshgrid(times, times)).reshape(-1, 2)
    cov = np.vectorize(_matern)(pairs[:, 0], pairs[:, 1]).reshape(-1, len(times))
    cov[np.diag_indices_from(cov)] += 1e-12
    signal = rng.multivariate_normal(np.zeros(len(times)), cov)
    return signal + rng.normal(0.0, 0.3, size=len(times))


def numpy_gaussian_process(times: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """A kinder loop baseline: closed-form Matérn 3/2 in numpy, still one draw per feature."""
    d = np.sqrt(3.0) * np.abs(times[:, None] - times[None, :])
    cov = (1 + d) * np.exp(-d) + 1e-12 * np.eye(len(times))
    signal = rng.multivariate_normal(np.zeros(len(times)), cov)
    return signal + rng.normal(0.0, 0.3, size=len(times))


REFERENCE = {
    "AutoRegressive": ("AutoRegressive", ref_autoregressive),
    "GaussianProcess (numpy kernel)": ("GaussianProcess", numpy_gaussian_process),
    "GaussianProcess (TimeSynth kernel)": ("GaussianProcess", ref_gaussian_process),
}


def ref_dataset(kind: str, n: int, n_time: int = 50, n_features: int = 50, seed: int = 0):
    """Middle box (30 x 30 at (10, 10)), labels +-1, one sample and one feature at a time."""
    sample_feature = REFERENCE[kind][1]
    rng = np.random.RandomState(seed)
    data = np.zeros((n, n_time, n_features))
    labels = rng.randint(-1, 1, n)
    labels[labels == 0] = 1
    for i in range(n):
        times = ref_irregular_time(n_time, rng)
        for f in range(n_features):
            data[i, :, f] = sample_feature(times, rng)
        data[i, 10:40, 10:40] += labels[i]
    return data, labels


# ------------------------------------------------------------------------------------------------


def _timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--ref-samples", type=int, default=100,
                        help="samples drawn by the naive loops")
    parser.add_argument("--timesynth-gp-samples", type=int, default=2,
                        help="samples for the TimeSynth-kernel GP loop (~6 s per sample)")
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    if args.smoke:
        args.ref_samples, args.timesynth_gp_samples = 3, 1
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s); default sizes: 1000 train "
          f"(900 + 100 val) + 100 test, 50 x 50")

    # 1. All 70 datasets.
    generate_synthetic(SyntheticConfig(design="Middle", n_train=20, n_test=2))  # warm-up
    times: dict[tuple[str, str], float] = {}
    designs = DESIGNS[:1] if args.smoke else DESIGNS
    for design in designs:
        for process in PROCESSES:
            config = SyntheticConfig(design=design, process=process)
            times[design, process] = _timed(lambda c=config: generate_synthetic(c))
    width = max(map(len, DESIGNS))
    print("\nseconds per dataset (1100 samples each)")
    print(" " * width + "".join(f"{p[:10]:>11}" for p in PROCESSES))
    for design in designs:
        print(f"{design:<{width}}" + "".join(f"{times[design, p]:11.3f}" for p in PROCESSES))
    total = sum(times.values())
    print(f"total for {len(times)} datasets: {total:.1f} s ({total / len(times) * 1000:.0f} ms "
          "per dataset)")

    # 2. Naive per-sample reference vs ours, same number of samples.
    print("\nnaive per-sample / per-feature loop (numpy, like the reference) vs batched torch, "
          "Middle box, 50 x 50:")
    for kind, (process, _) in REFERENCE.items():
        if args.smoke and "TimeSynth" in kind:
            continue
        n = args.timesynth_gp_samples if "TimeSynth" in kind else args.ref_samples
        naive = _timed(lambda k=kind, n=n: ref_dataset(k, n))
        config = SyntheticConfig(design="Middle", process=process)
        ours = _timed(lambda c=config, n=n: make_split(c, n, make_generator(0)), repeats=3)
        ours_full = _timed(lambda c=config: make_split(c, 1100, make_generator(0)),
                           repeats=1 if args.smoke else 3)
        print(f"  {kind:<35} n={n:<4} naive {naive / n * 1e3:9.2f} ms/sample | ours "
              f"{ours / n * 1e3:6.3f} ms/sample (n={n}), {ours_full / 1100 * 1e3:6.3f} "
              f"ms/sample (n=1100) | ratio {naive / ours:8.0f}x at n={n}, "
              f"{(naive / n) / (ours_full / 1100):8.0f}x per sample vs n=1100")

if __name__ == "__main__":
    main()

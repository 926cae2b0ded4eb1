"""Batched LIME / KernelSHAP (``saliencylab.explain.surrogate``) against Captum, same run.

On GunPoint (the test split, z-normalised; random ``(N, 150, 1)`` data if it cannot be loaded)
and the registry's ``fcn`` model in eval mode (random weights: the cost does not depend on
training), the script times ``explain(model, x, y, method=m, seed=0)`` for ``m`` in lime,
kernel_shap with ``implementation="batched"`` (default) and ``implementation="captum"``, at the
[OBJ] defaults (1000 samples, 50 time segments). Load on a shared machine hits wall time, so the
process CPU time is printed as well; the runs are interleaved. It also prints the largest
difference between the two maps (LIME: the same masks, so only the solvers' tolerance; KernelSHAP:
different random draws of the same distribution).

    python benchmarks/surrogate.py                 # 30 samples, 1 thread, CPU
    python benchmarks/surrogate.py --n 150 --threads 2 --device cuda
"""

from __future__ import annotations

import argparse
import time

import torch

from saliencylab.explain import explain
from saliencylab.models import build_model


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from saliencylab.data import load_ucr

        test = load_ucr("GunPoint").test
        x, y = test.x[:n].float(), test.y[:n].long()
        if x.shape[0] >= n:
            return x, y, "GunPoint test split"
    except Exception as exc:  # offline without the shipped copy: the cost is the same
        print(f"(GunPoint not available: {exc}; random data instead)")
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 150, 1, generator=g), torch.randint(0, 2, (n,), generator=g), "random"


def _timed(fn) -> tuple[float, float, torch.Tensor]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - w0, time.process_time() - c0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="series to explain")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--methods", default="lime,kernel_shap")
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    if args.smoke:
        args.n = 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    x, y, source = _data(args.n)
    x, y = x.to(device), y.to(device)
    model = build_model("fcn", n_features=1, n_time=150, n_classes=2).to(device).eval()
    print(f"FCN on {source} {tuple(x.shape)}, device {device}, {args.threads} thread(s), "
          f"best of {args.repeat}")
    explain(model, x[:2], y[:2], "kernel_shap", n_samples=20)  # warm-up: imports, allocations

    header = (f"{'method':12s} {'batched wall':>12s} {'cpu':>8s} {'captum wall':>12s} "
              f"{'cpu':>8s} {'ratio wall':>10s} {'ratio cpu':>9s} {'max |diff|':>10s}")
    print(header)
    print("-" * len(header))
    for method in args.methods.split(","):
        best = {"batched": [float("inf")] * 2, "captum": [float("inf")] * 2}
        maps = {}
        for _ in range(args.repeat):
            for impl in ("batched", "captum"):  # interleaved: load changes hit both alike
                wall, cpu, e = _timed(lambda i=impl, m=method: explain(
                    model, x, y, method=m, seed=0, implementation=i))
                best[impl] = [min(best[impl][0], wall), min(best[impl][1], cpu)]
                maps[impl] = e.attributions
        (bw, bc), (cw, cc) = best["batched"], best["captum"]
        diff = (maps["batched"] - maps["captum"]).abs().max().item()
        print(f"{method:12s} {bw:12.2f} {bc:8.2f} {cw:12.2f} {cc:8.2f} {cw / bw:9.1f}x "
              f"{cc / bc:8.1f}x {diff:10.2e}", flush=True)


if __name__ == "__main__":
    main()

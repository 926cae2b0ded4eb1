"""What ``saliencylab.runtime.tune_cpu_allocator`` saves: explanations on GunPoint with glibc's
default allocator settings and with the tuned ones, each in a fresh process, same run.

The [OBJ] FCN (registry ``fcn``, untrained: the cost does not depend on the weights) explains
GunPoint's 150 test series (aeon ships them; random data of that shape otherwise) with each
method; the script prints wall, user and system seconds, minor page faults and the wall ratio.

    python benchmarks/allocator.py
    python benchmarks/allocator.py --methods lime integrated_gradients --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = """
import json, resource, sys, time, torch
from saliencylab.runtime import tune_cpu_allocator
tuned = tune_cpu_allocator()
from saliencylab.explain import explain
from saliencylab.models import build_model
method, threads, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
try:
    from saliencylab.data import load_ucr
    data = load_ucr("GunPoint")
    x, y = data.test.x, data.test.y
except Exception:  # no aeon: GunPoint-shaped random data
    x, y = torch.randn(150, 150, 1), torch.randint(0, 2, (150,))
model = build_model("fcn", n_features=1, n_time=x.shape[1], n_classes=2).eval()
params = {"integrated_gradients": {"n_steps": 60, "baseline": "zero"},
          "smoothgrad": {"n_samples": 60, "stdevs": 0.2}}.get(method, {})
explain(model, x[:4], y[:4], method=method, seed=0, **params)  # warm-up
r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
explain(model, x[:n], y[:n], method=method, seed=0, **params)
wall, r1 = time.perf_counter() - w0, resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"tuned": tuned, "wall": wall, "user": r1.ru_utime - r0.ru_utime,
                  "sys": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt}))
"""


def run(method: str, threads: int, tune: bool, n: int = 150) -> dict:
    env = {**os.environ, "SALIENCYLAB_TUNE_MALLOC": "1" if tune else "0"}
    out = subprocess.run([sys.executable, "-c", _CHILD, method, str(threads), str(n)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+",
                        default=["lime", "kernel_shap", "integrated_gradients", "smoothgrad"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    n = 8 if args.smoke else 150
    if args.smoke:
        args.methods = ["integrated_gradients"]
    print(f"explain on GunPoint test ({n} x 150 x 1), fcn, {args.threads} torch thread(s)")
    print(f"{'method':<22}{'allocator':>10}{'wall s':>9}{'user s':>9}{'sys s':>8}"
          f"{'faults':>11}{'speed-up':>10}")
    for method in args.methods:
        default, tuned = run(method, args.threads, False, n), run(method, args.threads, True, n)
        if not tuned["tuned"]:
            print(f"{method:<22}  (the setting does not apply on this system)")
        for name, r in (("default", default), ("tuned", tuned)):
            ratio = f"{default['wall'] / r['wall']:.2f}x" if name == "tuned" else ""
            print(f"{method:<22}{name:>10}{r['wall']:>9.2f}{r['user']:>9.2f}{r['sys']:>8.2f}"
                  f"{r['faults']:>11}{ratio:>10}")


if __name__ == "__main__":
    main()

"""GPU check: every explanation method on every model, TSR, an SGT epoch and a quality metric.

On a CUDA machine this runs, for each registered model (``saliencylab.models.MODELS``, built with
``build_model_for`` on a small dataset of its kind: synthetic ``Middle`` for classifiers,
``SyntheticSegmentation`` for segmenters, ``digits`` for the image CNN; eval mode) and each
registered explanation method (``saliencylab.explain.METHODS``), the same ``explain`` call on the
CPU and on the GPU, checks that the maps agree (``max |cpu - gpu| / max |cpu|`` within a tolerance
per method family; sampling methods run with the same seed) and prints the throughput of both
(samples/s) and the ratio. It then does the same for TSR + Gradient, one epoch of saliency guided
training and the robustness (max-sensitivity) metric. Exit status 1 when a check fails.

Without a GPU it prints that no GPU was found and exits 0 (``--device cpu`` runs the whole check
CPU against CPU, to test the script itself).

Run:  python benchmarks/gpu_check.py [--smoke] [--n 16]   (a few minutes on an H200)
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from functools import partial

import torch

#: relative tolerance (of the CPU map's max |value|) per method family
TOLERANCE = {"gradient": 1e-3, "sampling": 2e-2, "random": None}
SAMPLING = {
    "lime", "kernel_shap", "shapley_value_sampling", "feature_permutation", "gradient_shap",
    "smoothgrad", "deeplift_shap", "learned_mask",
}
RANDOM = {"random", "feature_permuted_random"}  # maps are random draws: shape/finite check only
SMOKE_MODELS = ("tcn", "lstm")
SMOKE_METHODS = ("gradient", "integrated_gradients", "occlusion")


def family(method: str) -> str:
    if method in RANDOM:
        return "random"
    return "sampling" if method in SAMPLING else "gradient"


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[torch.Tensor, float]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    scale = float(a.abs().max()) or 1.0
    return float((a - b).abs().max()) / scale


def dataset_for(kind: str, n: int):
    from saliencylab.data import load_dataset

    if kind == "segmenter":
        data = load_dataset("SyntheticSegmentation")
    elif kind == "image_classifier":
        data = load_dataset("digits")
    else:
        data = load_dataset("Middle", n_train=max(2 * n, 40), n_test=n, cache=False)
    x, y = data.test.x[:n], data.test.y[:n]
    return data, x, y


class Report:
    def __init__(self):
        self.failures: list[str] = []

    def row(self, what: str, n: int, t_cpu: float, t_dev: float, check: str) -> None:
        cpu_rate, dev_rate = n / max(t_cpu, 1e-9), n / max(t_dev, 1e-9)
        print(f"{what:<44} {cpu_rate:>10.1f} {dev_rate:>10.1f} {dev_rate / cpu_rate:>8.2f}x  "
              f"{check}", flush=True)

    def fail(self, what: str, why: str) -> str:
        self.failures.append(f"{what}: {why}")
        return f"FAIL ({why})"


def compare(report: Report, what: str, fam: str, a: torch.Tensor, b: torch.Tensor) -> str:
    if a.shape != b.shape:
        return report.fail(what, f"shapes {tuple(a.shape)} vs {tuple(b.shape)}")
    if not torch.isfinite(b.detach().cpu().double()).all():
        return report.fail(what, "non-finite values on the device")
    tol = TOLERANCE[fam]
    if tol is None:
        return "ok (random: shape, finite)"
    err = rel_err(a, b)
    if err > tol:
        return report.fail(what, f"rel err {err:.2e} > {tol:.0e}")
    return f"ok (rel err {err:.1e} <= {tol:.0e})"


def check_methods(report, device, models, methods, n) -> None:
    from saliencylab.errors import NotApplicableError
    from saliencylab.explain import explain
    from saliencylab.models import MODELS, build_model_for

    for name in models:
        kind = MODELS[name].kind
        data, x, y = dataset_for(kind, n)
        cpu_model = build_model_for(name, data, seed=0).eval()
        dev_model = copy.deepcopy(cpu_model).to(device).eval()
        target = None if kind == "segmenter" else y
        for method in methods:
            what = f"{name} / {method}"

            def run(model, inputs, tgt, method=method):
                return explain(model, inputs, tgt, method, seed=0).attributions

            try:
                a, t_cpu = timed(partial(run, cpu_model, x, target), torch.device("cpu"))
                dev_target = None if target is None else target.to(device)
                b, t_dev = timed(partial(run, dev_model, x.to(device), dev_target), device)
            except NotApplicableError as exc:
                print(f"{what:<44} {'n/a':>10} {'':>10} {'':>9}  {str(exc)[:60]}")
                continue
            except Exception as exc:  # noqa: BLE001 - a check script reports every failure
                report.fail(what, f"{type(exc).__name__}: {exc}")
                print(f"{what:<44} FAIL {type(exc).__name__}: {str(exc)[:80]}")
                continue
            report.row(what, len(x), t_cpu, t_dev, compare(report, what, family(method), a, b))


def check_tsr(report, device, n) -> None:
    from saliencylab.explain import explain
    from saliencylab.models import build_model_for

    data, x, y = dataset_for("classifier", min(n, 4))
    cpu_model = build_model_for("tcn", data, seed=0).eval()
    dev_model = copy.deepcopy(cpu_model).to(device).eval()
    a, t_cpu = timed(lambda: explain(cpu_model, x, y, "gradient", tsr=True).attributions,
                     torch.device("cpu"))
    b, t_dev = timed(
        lambda: explain(dev_model, x.to(device), y.to(device), "gradient", tsr=True).attributions,
        device,
    )
    what = "tsr (gradient, tcn)"
    report.row(what, len(x), t_cpu, t_dev, compare(report, what, "gradient", a, b))


def check_sgt(report, device, n) -> None:
    from saliencylab.models import build_model_for
    from saliencylab.train.saliency_guided import SaliencyGuided
    from saliencylab.utils import make_generator

    data, _, _ = dataset_for("classifier", n)
    x, y = data.train.x, data.train.y
    for name in ("tcn", "lstm"):
        times = {}
        for dev in (torch.device("cpu"), device):
            model = build_model_for(name, data, seed=0).to(dev).train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            proc, gen = SaliencyGuided(k=0.5), make_generator(0, dev)

            def epoch(model=model, opt=opt, proc=proc, gen=gen, dev=dev):
                loss = torch.zeros(())
                for start in range(0, len(x), 50):
                    xb, yb = x[start : start + 50].to(dev), y[start : start + 50].to(dev)
                    opt.zero_grad(set_to_none=True)
                    loss, _ = proc.loss(model, xb, yb, gen)
                    loss.backward()
                    opt.step()
                return loss.detach()

            epoch()  # warm-up (cuDNN / allocator)
            loss, times[dev.type] = timed(epoch, dev)
            if not torch.isfinite(loss.cpu()):
                report.fail(f"sgt epoch {name}", f"non-finite loss on {dev}")
        check = "ok (finite loss)" if not any(f.startswith(f"sgt epoch {name}")
                                              for f in report.failures) else "FAIL"
        report.row(f"sgt epoch ({name}, k=0.5)", len(x), times["cpu"],
                   times[device.type if device.type != "cpu" else "cpu"], check)


def check_metric(report, device, n) -> None:
    from saliencylab.metrics import MetricContext, make_explain_fn, robustness
    from saliencylab.models import build_model_for

    data, x, y = dataset_for("classifier", n)
    cpu_model = build_model_for("tcn", data, seed=0).eval()
    dev_model = copy.deepcopy(cpu_model).to(device).eval()

    def run(model, xs, ys):
        ctx = MetricContext(explain_fn=make_explain_fn("gradient"),
                            generator=torch.Generator().manual_seed(0))
        return robustness(model, xs, ys, context=ctx, n_perturbations=4)

    a, t_cpu = timed(lambda: run(cpu_model, x, y), torch.device("cpu"))
    b, t_dev = timed(lambda: run(dev_model, x.to(device), y.to(device)), device)
    what = "robustness (gradient, tcn)"
    report.row(what, len(x), t_cpu, t_dev, compare(report, what, "sampling", a, b))


def main() -> int:
    from saliencylab.explain import METHODS
    from saliencylab.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a minimal subset")
    parser.add_argument("--n", type=int, default=16, help="samples explained per model")
    parser.add_argument("--device", default="cuda",
                        help="device checked against the CPU (cpu: test the script itself)")
    parser.add_argument("--threads", type=int, default=4, help="CPU torch threads")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no GPU found (torch.cuda.is_available() is False): nothing checked")
        return 0
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False  # compare in full float32
    torch.backends.cudnn.allow_tf32 = False
    n = 4 if args.smoke else args.n
    models = SMOKE_MODELS if args.smoke else tuple(MODELS)
    methods = SMOKE_METHODS if args.smoke else tuple(METHODS)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}) vs cpu ({torch.get_num_threads()} threads), torch "
          f"{torch.__version__}, {n} samples per model; throughput in samples/s\n")
    print(f"{'what':<44} {'cpu':>10} {'device':>10} {'ratio':>9}  check")
    report = Report()
    t0 = time.perf_counter()
    check_methods(report, device, models, methods, n)
    check_tsr(report, device, n)
    check_sgt(report, device, n)
    if not args.smoke:
        check_metric(report, device, n)
    print(f"\n{len(report.failures)} failure(s) in {time.perf_counter() - t0:.0f} s")
    for failure in report.failures:
        print("  " + failure)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Test accuracy of the [OBJ] FCN and TCN on GunPoint, trained with the shared trainer.

[OBJ] Löffler et al. train with Adam (lr 0.002) and early stopping. GunPoint ships with aeon, so
this runs offline: 50 training series (10 held out, stratified, for validation and early
stopping), 150 test series of length 150. A published FCN reaches 100 % test accuracy on GunPoint
(Wang, Yan, Oates 2017: error 0.000); the bar here is >= 95 %.

The [OBJ] FCN pools its class map with a global **max** (SPEC.md section 2); the FCN of Wang et
al. uses global **average** pooling. Both are trained by default (``fcn`` and
``fcn:pooling=avg``), as is the [OBJ] TCN (``tcn_obj``).

Usage:
    .venv/bin/python benchmarks/gunpoint_accuracy.py --seeds 0 1 2 3 4    # CPU, ~20 min
    .venv/bin/python benchmarks/gunpoint_accuracy.py --models fcn "tcn_obj:pooling=max" --seeds 0

Prints one markdown table: test accuracy per seed, mean, epochs run, selected epoch and training
time of ``fit`` (wall clock and process CPU time, including validation every epoch; on a shared
machine the CPU time is the steadier number).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from saliencylab.data import load_ucr
from saliencylab.models import build_model
from saliencylab.train import TrainConfig, fit


def parse_model(spec: str) -> tuple[str, dict]:
    """``"fcn:pooling=avg;filters=[8,8]"`` -> ``("fcn", {"pooling": "avg", "filters": [8, 8]})``."""
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return name, options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="GunPoint")
    parser.add_argument("--models", nargs="+", default=["fcn", "fcn:pooling=avg", "tcn_obj"],
                        help="registry names, optionally with options: name:key=value;key=value")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="L2 penalty (Adam weight_decay); [OBJ] also trains with L2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    if args.smoke:
        args.models, args.seeds, args.epochs, args.patience = ["fcn", "tcn_obj"], [0], 1, 1
    torch.set_num_threads(args.threads)

    data = load_ucr(args.dataset)
    print(f"{args.dataset}: train {tuple(data.train.x.shape)}, val {tuple(data.val.x.shape)}, "
          f"test {tuple(data.test.x.shape)}, {data.n_classes} classes; Adam lr {args.lr}, "
          f"weight decay {args.weight_decay}, "
          f"batch {args.batch_size}, up to {args.epochs} epochs, patience {args.patience}, "
          f"device {args.device}, {torch.get_num_threads()} threads\n")
    rows = []
    for spec in args.models:
        name, options = parse_model(spec)
        accs, epochs, best, seconds, cpu = [], [], [], [], []
        for seed in args.seeds:
            model = build_model(name, data.n_features, data.n_time, data.n_classes, seed=seed,
                                **options)
            config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                 weight_decay=args.weight_decay,
                                 patience=args.patience, seed=seed, device=args.device,
                                 min_test_accuracy=0.95)
            t0, c0 = time.perf_counter(), time.process_time()
            result = fit(model, data, config, progress=False)
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            accs.append(result.test_accuracy)
            epochs.append(len(result.epoch_seconds))
            best.append(result.best_epoch)
        n_params = sum(p.numel() for p in model.parameters())
        rows.append((spec, n_params, accs, epochs, best, seconds, cpu))

    print("| model | parameters | test accuracy per seed (%) | mean (%) | epochs run | "
          "selected epoch | wall time per run (s) | CPU time per run (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n_params, accs, epochs, best, seconds, cpu in rows:
        per_seed = " / ".join(f"{100 * a:.2f}" for a in accs)
        print(f"| {name} | {n_params:,} | {per_seed} | {100 * statistics.mean(accs):.2f} | "
              f"{' / '.join(map(str, epochs))} | {' / '.join(map(str, best))} | "
              f"{statistics.mean(seconds):.1f} | {statistics.mean(cpu):.1f} |")
    base = statistics.mean(rows[0][5])
    print("\nwall time per run relative to " + rows[0][0] + ": " + ", ".join(
        f"{name} {statistics.mean(seconds) / base:.2f}x" for name, _, _, _, _, seconds, _ in rows))


if __name__ == "__main__":
    main()

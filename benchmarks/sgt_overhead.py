"""Per-epoch cost of saliency guided training [SGT] against traditional training, same run.

[SGT] (Ismail, Corrada Bravo, Feizi, NeurIPS 2021) reports a CIFAR-10 epoch going from 24 s to
75 s (3.1x). This script trains TCN and LSTM on Middle / Gaussian ([TSB] benchmark, 1000 training
samples, batch 50, Adam 1e-3) and times, per epoch:

- ``traditional``: cross-entropy (``saliencylab.train.procedures.Traditional``);
- ``sgt``: ``SaliencyGuided(k=0.5)`` as shipped (top-k selection, scatter, batched masking, the
  clean and masked forwards fused into one batch);
- ``sgt (separate fwd)``: the same with ``fuse_forward=False``;
- ``reference-style``: what the authors' loop does — gradient moved to the CPU, a full sort, a
  per-sample Python loop drawing the random values with NumPy, two separate forwards.

The procedures' training steps are interleaved (each trains its own model on the same batches),
so load from other processes hits all of them alike; the table shows the median epoch time (wall
clock and process CPU) and the ratio to traditional.

Run:  python benchmarks/sgt_overhead.py [--epochs 5] [--device auto] [--k 0.5] [--lstm-hidden 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saliencylab.data import load_synthetic
from saliencylab.models import build_model
from saliencylab.train.procedures import Traditional
from saliencylab.train.saliency_guided import SaliencyGuided
from saliencylab.utils import make_generator, resolve_device


class ReferenceStyleSGT:
    """The authors' SGT step: full sort, per-sample masking loop with NumPy (for timing only)."""

    name = "reference_style"

    def __init__(self, k: float, seed: int = 0):
        self.k = k
        self.rng = np.random.default_rng(seed)

    def params(self) -> dict:
        return {"name": self.name, "k": self.k}

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator=None):
        model.eval()
        leaf = x.detach().clone().requires_grad_(True)
        out = model(leaf)
        (grads,) = torch.autograd.grad(out.gather(1, y[:, None]).sum(), leaf)
        grads = grads.detach().cpu()
        n_feat = int(self.k * x[0].numel())
        temp = x.detach().clone().view(x.shape[0], -1)
        order = torch.argsort(grads.reshape(grads.shape[0], -1), dim=1)[:, :n_feat]
        for i in range(temp.shape[0]):  # per-sample loop, as in the reference code
            lo, hi = torch.min(temp[i]).item(), torch.max(temp[i]).item()
            values = self.rng.uniform(lo, hi, size=(len(order[i]),))
            temp[i][order[i].to(x.device)] = torch.tensor(values, dtype=x.dtype, device=x.device)
        x_masked = temp.view(x.shape).detach()
        model.train()
        logits = model(x)
        masked = model(x_masked)
        kl = F.kl_div(
            F.log_softmax(masked, 1), F.log_softmax(logits, 1), log_target=True,
            reduction="batchmean",
        )
        return F.cross_entropy(logits, y) + kl, logits


def time_epochs(runs: dict, x, y, batch_size: int, epochs: int, device) -> dict:
    """Train every run for ``epochs`` epochs, interleaved step by step; per-epoch seconds.

    Each step is timed in wall-clock and process-CPU time; interleaving at step granularity makes
    load from other processes hit every procedure alike. Returns ``{name: [(wall, cpu), ...]}``.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    shuffle = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=shuffle)
        totals = {name: [0.0, 0.0] for name in runs}
        for model, *_ in runs.values():
            model.train()
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            for name, (model, optimizer, procedure, gen) in runs.items():
                sync()
                w0, c0 = time.perf_counter(), time.process_time()
                optimizer.zero_grad(set_to_none=True)
                loss, _ = procedure.loss(model, xb, yb, gen)
                loss.backward()
                optimizer.step()
                sync()
                totals[name][0] += time.perf_counter() - w0
                totals[name][1] += time.process_time() - c0
        for name, (wall, cpu) in totals.items():
            out[name].append((wall, cpu))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per procedure")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--k", type=float, default=0.5)
    parser.add_argument("--models", default="tcn,lstm")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--lstm-hidden", type=int, default=None,
        help="LSTM hidden size (default: the model zoo's; 5 = the [TSB] reference size)",
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    n_samples = 1000
    if args.smoke:
        args.epochs, n_samples = 1, 100
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    data = load_synthetic("Middle", "Gaussian")
    # 1000 training samples: the train split plus the validation split
    x = torch.cat([data.train.x, data.val.x])[:n_samples]
    y = torch.cat([data.train.y, data.val.y])[:n_samples]
    print(f"device {device}, {len(x)} samples of {tuple(x.shape[1:])}, batch 50, k={args.k}, "
          f"{args.epochs} timed epochs (median), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")

    procedures = {
        "traditional": lambda: Traditional(),
        "sgt": lambda: SaliencyGuided(k=args.k),
        "sgt (separate fwd)": lambda: SaliencyGuided(k=args.k, fuse_forward=False),
        "reference-style": lambda: ReferenceStyleSGT(k=args.k),
    }
    rows = []
    for model_name in args.models.split(","):
        runs = {}
        for name, make in procedures.items():
            torch.manual_seed(0)
            kwargs = {}
            if model_name == "lstm" and args.lstm_hidden:
                kwargs["hidden_size"] = args.lstm_hidden
            model = build_model(model_name, data.n_features, data.n_time, **kwargs).to(device)
            runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3), make(),
                          make_generator(1, device))
        # the first epoch warms up (allocator, lazy init) and is dropped
        times = time_epochs(runs, x, y, 50, args.epochs + 1, device)
        med = {
            name: [statistics.median(t[c] for t in epochs[1:]) for c in (0, 1)]
            for name, epochs in times.items()
        }
        base = med["traditional"]
        for name in procedures:
            wall, cpu = med[name]
            rows.append((model_name, name, wall, wall / base[0], cpu, cpu / base[1]))

    head = f"{'model':<6} {'procedure':<20} {'wall s':>8} {'x trad':>7} {'cpu s':>8} {'x trad':>7}"
    print("\n" + head)
    for model_name, name, wall, rwall, cpu, rcpu in rows:
        print(f"{model_name:<6} {name:<20} {wall:>8.3f} {rwall:>6.2f}x {cpu:>8.3f} {rcpu:>6.2f}x")
    print("\nper-epoch medians; steps of all procedures interleaved; cpu = process CPU time, "
          "robust to other processes' load")
    print("\n[SGT] paper: 3.1x (CIFAR-10, 24 s -> 75 s per epoch).")


if __name__ == "__main__":
    main()

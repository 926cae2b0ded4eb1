"""Batched ground-truth evaluation against a per-sample loop ([TSB] Ismail et al., NeurIPS 2020).

Times, in the same run, on the same model, inputs, maps and background draws:

- ``saliencylab.metrics.evaluate_groundtruth``: one batched sort for all maps, all d x N masked
  inputs through the model in chunks of ``batch_size``, precision / recall as tensor reductions;
- a straightforward implementation of the same definition (written below): per sample a NumPy
  argsort and cumulative sum, per fraction d a masked copy and one model call, precision / recall
  with NumPy sums, as the authors' scripts do.

Both get the same pre-drawn background (one fresh draw per sample and fraction), so their values
must agree: the script prints both times, the ratio and the largest differences, and exits with
an error if the per-sample correctness or the selected sets differ.

    python benchmarks/metrics.py                           # TCN, 100 samples of 50 x 50, CPU
    python benchmarks/metrics.py --samples 100 --threads 2 --device cuda
    python benchmarks/metrics.py --scaling                 # times over T and N, log-log slopes
    python benchmarks/metrics.py --smoke                   # a tiny setting, seconds

``--scaling`` times ``evaluate_groundtruth`` (TCN, 50 features, 11 fractions) for T in
{50, 200, 800} at N = 100 and N in {10, 100, 1000} at T = 50 and prints the log-log exponent of
each step; :func:`scaling_table` is importable for other scaling benchmarks.

One thread by default: on a shared, loaded machine OpenMP thread contention makes small
batch-1 model calls erratic (hundreds of ms), which would flatter the batched path.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch
from torch import nn

from saliencylab.metrics import DEFAULT_FRACTIONS, evaluate_groundtruth, mass_top_mask
from saliencylab.models import build_model

N_TIME = N_FEATURES = 50


def build_tcn(device: torch.device) -> tuple[nn.Module, str]:
    torch.manual_seed(0)
    model = build_model("tcn", n_features=N_FEATURES, n_time=N_TIME)
    return model.to(device).eval(), "registry tcn"


def train_quickly(model: nn.Module, steps: int, device: torch.device) -> float:
    """A few full-batch Adam steps on fresh Middle-box data, so masking changes predictions."""
    x, y, _, _, _ = make_data(256, seed=1)
    x, y = x.to(device), y.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def make_data(n: int, seed: int = 0):
    """Middle-box data (30 x 30 box at (10, 10)), labels by sign, a random U[0,1) map."""
    g = torch.Generator().manual_seed(seed)
    box = torch.zeros(n, N_TIME, N_FEATURES, dtype=torch.bool)
    box[:, 10:40, 10:40] = True
    y = torch.arange(n) % 2
    x = torch.randn(n, N_TIME, N_FEATURES, generator=g) + box * (2 * y - 1).view(-1, 1, 1)
    saliency = torch.rand(n, N_TIME, N_FEATURES, generator=g)
    draws = torch.randn(len(DEFAULT_FRACTIONS), n, N_TIME, N_FEATURES, generator=g)
    return x, y, box, saliency, draws


class FreeModel(nn.Module):
    """Constant logits: isolates the cost of ranking, masking, copying and precision/recall."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], 2)


class PreDrawn:
    """``background(n, generator)`` that hands out pre-drawn tensors, one per call, in order."""

    def __init__(self, draws: torch.Tensor):
        self.draws, self.i = draws, 0

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        out = self.draws[self.i]
        self.i += 1
        assert out.shape[0] == n
        return out


def loop_reference(model, x, y, box, saliency, draws, fractions, rtol=1e-6):
    """Per sample: argsort, cumsum, then per d one masked copy and one model call.

    ``model=None`` skips the masked copies and model calls.
    """
    n = len(x)
    device = next(model.parameters()).device if model is not None else None
    n_d = len(fractions)
    correct = np.zeros((n_d, n), dtype=bool)
    sel_all = np.zeros((n_d, n, N_TIME * N_FEATURES), dtype=bool)
    prec = {lvl: np.full((n_d, n), np.nan) for lvl in ("cell", "time", "feature")}
    rec = {lvl: np.full((n_d, n), np.nan) for lvl in ("cell", "time", "feature")}
    x_np, s_np, b_np, bg_np = x.numpy(), saliency.numpy().astype(np.float64), box.numpy(), \
        draws.numpy()
    with torch.no_grad():
        for i in range(n):
            s = s_np[i].ravel()
            order = np.argsort(-s, kind="stable")
            csum = np.cumsum(s[order])
            total, nnz = csum[-1], int((s > 0).sum())
            for j, d in enumerate(fractions):
                thr = d * total * (1 - rtol)
                if d >= 1:
                    k = nnz
                elif thr <= 0:
                    k = 0
                else:
                    k = min(int(np.argmax(csum >= thr)) + 1, nnz)
                sel = np.zeros(s.size, dtype=bool)
                sel[order[:k]] = True
                sel_all[j, i] = sel
                if model is not None:
                    xm = x_np[i].ravel().copy()
                    xm[sel] = bg_np[j, i].ravel()[sel]
                    xm_t = torch.from_numpy(xm.reshape(1, N_TIME, N_FEATURES)).to(device)
                    correct[j, i] = int(model(xm_t).argmax(1)) == int(y[i])
                sel2, s2, b2 = sel.reshape(N_TIME, N_FEATURES), s_np[i], b_np[i]
                for lvl, (sv, bv, pv) in {
                    "cell": (s, b2.ravel(), sel),
                    "time": (s2.sum(1), b2.any(1), sel2.any(1)),
                    "feature": (s2.sum(0), b2.any(0), sel2.any(0)),
                }.items():
                    tp, sm, bm = sv[pv & bv].sum(), sv[pv].sum(), sv[bv].sum()
                    prec[lvl][j, i] = tp / sm if sm > 0 else np.nan
                    rec[lvl][j, i] = tp / bm if bm > 0 else np.nan
    return correct, sel_all, prec, rec


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_groundtruth(n: int, n_time: int, *, n_features: int = N_FEATURES, repeats: int = 2,
                     device: torch.device | str = "cpu", batch_size: int | None = None) -> float:
    """Best wall time (s) of ``evaluate_groundtruth(...).summary()`` on ``n`` random series of
    ``n_time x n_features`` through an untrained registry TCN, 11 fractions, Gaussian
    background drawn inside (as the experiments do)."""
    device = torch.device(device)
    torch.manual_seed(0)
    model = build_model("tcn", n_features=n_features, n_time=n_time).to(device).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, n_time, n_features, generator=g)
    y = torch.arange(n) % 2
    box = torch.zeros(n, n_time, n_features, dtype=torch.bool)
    box[:, n_time // 5: 4 * n_time // 5, n_features // 5: 4 * n_features // 5] = True
    s = torch.rand(n, n_time, n_features, generator=g)

    def background(k: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(k, n_time, n_features, generator=gen, device=gen.device)

    best = math.inf
    for _ in range(max(1, repeats)):
        _sync(device)
        t0 = time.perf_counter()
        evaluate_groundtruth(model, x, y, box, s, background, generator=0,
                             batch_size=batch_size).summary()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def scaling_table(times: tuple[int, ...] = (50, 200, 800), ns: tuple[int, ...] = (10, 100, 1000),
                  *, n_at: int = 100, t_at: int = 50, repeats: int = 2,
                  device: torch.device | str = "cpu") -> dict[str, list[tuple[int, float, float]]]:
    """Times of the ground-truth evaluation over T (at N = ``n_at``) and over N (at
    T = ``t_at``), printed as a table with the log-log exponent of each step (1 = linear).

    Returns ``{"T": [(T, seconds, exponent), ...], "N": [...]}`` (the first exponent is NaN).
    """
    out: dict[str, list[tuple[int, float, float]]] = {}
    for axis, values in (("T", times), ("N", ns)):
        rows: list[tuple[int, float, float]] = []
        for v in values:
            n, t = (n_at, v) if axis == "T" else (v, t_at)
            sec = time_groundtruth(n, t, repeats=repeats, device=device)
            slope = (math.log(sec / rows[-1][1]) / math.log(v / rows[-1][0]) if rows
                     else math.nan)
            rows.append((v, sec, slope))
            fixed = f"N = {n_at}" if axis == "T" else f"T = {t_at}"
            note = "" if math.isnan(slope) else f"   exponent {slope:.2f}"
            print(f"scaling {axis} = {v:<5} ({fixed}, F = {N_FEATURES}): "
                  f"{sec * 1000:9.1f} ms{note}", flush=True)
        overall = math.log(rows[-1][1] / rows[0][1]) / math.log(rows[-1][0] / rows[0][0])
        print(f"scaling {axis} {values[0]} -> {values[-1]}: exponent {overall:.2f} "
              f"(target <= 1.1)", flush=True)
        out[axis] = rows
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=None,
                    help="rows per model call (default: sized by the memory budget)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--scaling", action="store_true",
                    help="also time T in {50, 200, 800} and N in {10, 100, 1000}")
    ap.add_argument("--smoke", action="store_true", help="a tiny setting that runs in seconds")
    args = ap.parse_args()
    if args.smoke:
        args.samples, args.repeats, args.train_steps = 8, 1, 2
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, model_name = build_tcn(device)
    train_acc = train_quickly(model, args.train_steps, device)
    x, y, box, saliency, draws = make_data(args.samples)
    fractions = list(DEFAULT_FRACTIONS)

    # warm-up both paths (first calls allocate)
    evaluate_groundtruth(model, x, y, box, saliency, PreDrawn(draws), batch_size=args.batch_size)
    loop_reference(model, x[:2], y[:2], box[:2], saliency[:2], draws[:, :2], fractions)

    ours_t, ref_t = [], []
    for _ in range(args.repeats):
        _sync(device)
        t0 = time.perf_counter()
        res = evaluate_groundtruth(model, x, y, box, saliency, PreDrawn(draws),
                                   batch_size=args.batch_size)
        summary = res.summary()
        _sync(device)
        ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        correct, sel, prec, rec = loop_reference(model, x, y, box, saliency, draws, fractions)
        ref_t.append(time.perf_counter() - t0)

    # Everything but the network: the same two paths with a model that costs nothing.
    free = FreeModel().to(device)
    free_ours_t, free_ref_t = [], []
    for _ in range(args.repeats):
        _sync(device)
        t0 = time.perf_counter()
        evaluate_groundtruth(free, x, y, box, saliency, PreDrawn(draws),
                             batch_size=args.batch_size).summary()
        _sync(device)
        free_ours_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop_reference(free, x, y, box, saliency, draws, fractions)
        free_ref_t.append(time.perf_counter() - t0)

    ours_sel = mass_top_mask(saliency, fractions).reshape(len(fractions), args.samples, -1)
    same_sel = bool((ours_sel.numpy() == sel).all())
    same_correct = bool((res.correct.numpy() == correct).all())
    diffs = {}
    for lvl, pr in (("cell", res.cell), ("time", res.time), ("feature", res.feature)):
        for name, ours, ref in (("precision", pr.precision, prec[lvl]),
                                ("recall", pr.recall, rec[lvl])):
            o = ours.numpy()
            if not (np.isnan(o) == np.isnan(ref)).all():
                diffs[f"{lvl}_{name}"] = float("inf")
            else:
                ok = ~np.isnan(o)
                diffs[f"{lvl}_{name}"] = float(np.abs(o[ok] - ref[ok]).max(initial=0.0))

    ours_best, ref_best = min(ours_t), min(ref_t)
    print(f"device {device}, threads {args.threads}, model {model_name}, "
          f"{args.samples} samples of {N_TIME}x{N_FEATURES}, {len(fractions)} fractions, "
          f"batch_size {args.batch_size or 'by memory'}, best of {args.repeats}; train accuracy "
          f"after {args.train_steps} steps {train_acc:.2f}")
    print(f"per-sample loop        : {ref_best * 1000:9.1f} ms")
    print(f"evaluate_groundtruth   : {ours_best * 1000:9.1f} ms")
    print(f"speed-up               : {ref_best / ours_best:9.1f}x")
    print(f"no-op model (overhead) : loop {min(free_ref_t) * 1000:.1f} ms, ours "
          f"{min(free_ours_t) * 1000:.1f} ms, speed-up {min(free_ref_t) / min(free_ours_t):.1f}x")
    print(f"identical selected sets: {same_sel}")
    print(f"identical correctness  : {same_correct} "
          f"(accuracy % by d: {[round(v, 1) for v in res.accuracy().tolist()]})")
    print("max |diff| precision/recall (cell, time, feature): "
          + ", ".join(f"{k}={v:.1e}" for k, v in diffs.items()))
    print(f"AUP {summary['aup']:.4f}  AUR {summary['aur']:.4f}  AUPR {summary['aupr']:.4f}  "
          f"acc-drop AUC {summary['accuracy_auc']:.2f}")
    ok = same_sel and same_correct and max(diffs.values()) < 1e-9
    if args.scaling or args.smoke:
        if args.smoke:
            scaling_table((10, 20, 40), (4, 8, 16), n_at=8, t_at=10, repeats=1, device=device)
        else:
            scaling_table(repeats=args.repeats, device=device)
    if not ok:
        print("MISMATCH between the batched evaluation and the loop", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Batched learned masks against a loop of single-input runs ([CS] Gupta et al., NeurIPS 2022).

Times, in the same run and on the same model and inputs, ``learn_masks`` for N inputs x 2
labels (the predicted and the second most likely) in one batched optimisation, and a Python
loop of N single-input runs (each learning the input's 2 masks, the way per-image mask code
such as the authors' or tint's runs). Both use the same steps and K distractors; the loop passes
``sample_ids=[i]``, so it sees the same distractor draws and must reach the same masks; the
largest difference is printed (float32 kernels differ between batch sizes by ~1e-7 per step).

Models: the [SGT] MNIST CNN on 8x8 digit-sized images (default) or the [TSB] TCN on 50 x 50
series (``--model tcn``), both with random weights (the timing does not depend on training).

    python benchmarks/masks.py                       # 64 inputs x 2 labels, 200 steps, CNN
    python benchmarks/masks.py --model tcn --n 16 --steps 50 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from saliencylab.explain.masks import learn_masks
from saliencylab.metrics.certification import top_labels
from saliencylab.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="inputs (each gets 2 masks)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--k", type=int, default=10, help="distractors per step")
    parser.add_argument("--model", choices=("cnn", "tcn"), default="cnn")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="a tiny setting (seconds), for tests")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.steps, args.k = 4, 3, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    if args.model == "cnn":
        model = build_model("mnist_cnn", image_size=8, n_classes=10, seed=0)
        shape = (1, 8, 8)
    else:
        model = build_model("tcn", n_features=50, n_time=50, seed=0)
        shape = (50, 50)
    model = model.to(device).eval()
    x = torch.randn(args.n, *shape, generator=g).to(device)
    pool = torch.randn(1000, *shape, generator=g).to(device)
    labels = top_labels(model, x, 2)
    opts = dict(steps=args.steps, n_distractors=args.k, lambda_tv=0.01, seed=0)

    learn_masks(model, x[:2], labels[:2], pool, **{**opts, "steps": 3})  # warm-up (kernels)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    batched = learn_masks(model, x, labels, pool, **opts).masks
    sync()
    t_batched = time.perf_counter() - t0

    t0 = time.perf_counter()
    looped = torch.cat([
        learn_masks(model, x[i : i + 1], labels[i : i + 1], pool,
                    sample_ids=torch.tensor([i], device=device), **opts).masks
        for i in range(args.n)
    ])
    sync()
    t_loop = time.perf_counter() - t0

    print(f"model {args.model}, device {device}, threads {torch.get_num_threads()}, "
          f"{args.n} inputs x 2 labels, {args.steps} steps, K = {args.k}")
    print(f"loop of single-input runs: {t_loop:8.2f} s")
    print(f"batched (one run):         {t_batched:8.2f} s")
    print(f"speed-up: {t_loop / t_batched:.1f}x; largest mask difference "
          f"{(batched - looped).abs().max().item():.2e}")


if __name__ == "__main__":
    main()

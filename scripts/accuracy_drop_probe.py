"""Why the accuracy drop of a run's models is shallow: how much of the box each fraction replaces.

[TSB] §4.2 replaces the cells holding the top d % of a map's saliency mass with fresh draws of the
data's distribution and measures accuracy. This script takes the trained models of a run (e.g.
``runs/tsb-table1``), explains their test samples with Gradient (``abs``, min-max per sample, as
the benchmark does) and with a uniform random map, and prints per fraction d: the share of all
cells replaced, the share of the ground-truth box's cells replaced and the accuracy after the
replacement.

    python scripts/accuracy_drop_probe.py runs/tsb-table1 [--n 100]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from saliencylab.bench.cells import trained_models
from saliencylab.explain import explain
from saliencylab.metrics.groundtruth import masked_accuracy, mass_top_mask
from saliencylab.runtime import configure_cpu

FRACTIONS = (0.5, 0.8, 0.9, 1.0)


def _minmax(r: torch.Tensor) -> torch.Tensor:
    flat = r.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--n", type=int, default=100, help="test samples per model")
    args = parser.parse_args()
    configure_cpu()
    print("| design | map | d | cells replaced | box cells replaced | accuracy (%) |")
    print("|---|---|---|---|---|---|")
    for task, model, data in trained_models(args.run_dir):
        x, y = data.test.x[: args.n], data.test.y[: args.n]
        box = data.test.mask[: args.n].bool().expand_as(x)
        maps = {"gradient": _minmax(explain(model, x, target=y, method="gradient")
                                    .attributions.abs()),
                "uniform random": torch.rand(x.shape, generator=torch.Generator().manual_seed(0))}
        for name, saliency in maps.items():
            masks = mass_top_mask(saliency, FRACTIONS)
            correct = masked_accuracy(model, x, y, saliency, data.background, FRACTIONS)
            for d, mask, right in zip(FRACTIONS, masks, correct, strict=True):
                in_box = (mask & box).flatten(1).sum(1) / box.flatten(1).sum(1)
                print(f"| {task.dataset} | {name} | {d:g} | {mask.float().mean():.0%} | "
                      f"{in_box.mean():.0%} | {100 * right.float().mean():.0f} |")


if __name__ == "__main__":
    main()

"""What a segmentation map explains decides its localization: three choices of target, compared.

[OBJ] §3.6 scores where the relevance of class-specific features lies, but does not say which
output a segmenter's map explains. This script takes the trained segmenters of a run (e.g.
``runs/segmentation``), explains their first test series with several methods under three
targets and prints the localization (flat and middle bias) of each:

- ``segments`` (the grid's default): the true class of every step inside a labelled segment;
- ``all steps``: the true class of every step, the "no class" steps included;
- ``dominant`` (the metric's ``reference_quirks``, [OBJ]'s released code): each series' most
  frequent labelled class at every step, scored on that class's segments by relevance alone.

    python scripts/localization_targets_probe.py runs/segmentation [--n 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from saliencylab.bench.cells import explain_targets, trained_models
from saliencylab.errors import NotApplicableError
from saliencylab.explain import explain
from saliencylab.metrics import MetricContext
from saliencylab.metrics.localization import localization_biases
from saliencylab.runtime import configure_cpu

METHODS = ("gradcam", "gradient", "integrated_gradients", "lrp", "lime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--n", type=int, default=20, help="test series per model")
    args = parser.parse_args()
    configure_cpu()
    print("| model | method | target | localization (flat) | localization (middle) |")
    print("|---|---|---|---|---|")
    for task, model, data in trained_models(args.run_dir):
        part = data.test.take(slice(0, args.n))
        valid = part.valid_mask
        all_steps = part.y if valid is None else part.y.masked_fill(~valid, -1)
        targets = {"segments": explain_targets(data, part), "all steps": all_steps,
                   "dominant": explain_targets(data, part, dominant=True)}
        context = MetricContext(segments=part.y, valid=valid)
        for method in METHODS:
            for name, target in targets.items():
                try:
                    maps = explain(model, part.x, target, method=method, seed=0,
                                   postprocess="tsb", valid=valid).attributions
                except NotApplicableError:  # GradCAM or LRP on the bi-LSTM
                    print(f"| {task.model} | {method} | {name} | not applicable | |")
                    break
                scores = localization_biases(model, part.x, None, maps, context=context,
                                             reference_quirks=name == "dominant").per_sample
                flat, middle = (float(scores[f"localization_{b}"].nanmean())
                                for b in ("flat", "middle"))
                print(f"| {task.model} | {method} | {name} | {flat:.3f} | {middle:.3f} |")


if __name__ == "__main__":
    main()

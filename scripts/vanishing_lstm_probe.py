"""Why a plain LSTM stays at chance on VanishingMiddle, and what makes it learn the block.

[ICA] Table 1 reports 98.6 % test accuracy for an LSTM on the middle block (time and features
20-80 of 100). With PyTorch's initialisation, the ``vanishing`` preset's LSTM (hidden 64, 1000
training series, at most 30 epochs, early stopping after 6 without gain) stays near 50 %. This
script trains the preset's LSTM task with one setting changed at a time and prints, per setting,
the test accuracy (of the best-validation epoch, which the preset keeps), the epochs run, the
first epoch whose validation accuracy reached 95 % and how often, after that, an epoch fell back
to chance (validation accuracy at most 60 %: the training diverged and forgot the block):

- PyTorch's start (forget gates near 0.5): the preset's budget (``--seeds``), then
  ``--long`` epochs without early stopping, gradients clipped to norm 1, the [TSB] reference
  hidden size 5 (``--long`` epochs), and five times the training data;
- forget bias 1 (Jozefowicz et al., ICML 2015; Keras's default), which the preset uses
  (``model_kwargs: {lstm: {forget_bias: 1.0}}``): ``--seeds``.

    python scripts/vanishing_lstm_probe.py                       # ~10 min on 2 CPU cores
    python scripts/vanishing_lstm_probe.py --dataset VanishingEarly --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from itertools import pairwise

from saliencylab.bench.cells import TrainTask
from saliencylab.bench.config import load_config
from saliencylab.bench.plan import train_tasks
from saliencylab.models.registry import build_model_for
from saliencylab.runtime import configure_cpu
from saliencylab.train.trainer import TrainConfig, fit
from saliencylab.utils import seed_everything


def preset_task(dataset: str) -> TrainTask:
    """The ``vanishing`` preset's traditional LSTM task on ``dataset``."""
    grid = load_config(preset="vanishing")
    return next(t for t in train_tasks(grid) if t.dataset == dataset and t.model == "lstm"
                and t.training == "traditional")


def train(task: TrainTask) -> dict:
    data = task.load_data()
    seed_everything(task.seed)
    model = build_model_for(task.model, data, **task.model_kwargs)
    result = fit(model, data, TrainConfig(seed=task.seed, device="cpu", **task.train),
                 progress=False)
    val = [h["val_accuracy"] for h in result.history]
    learned = next((i for i, v in enumerate(val) if v >= 0.95), None)
    collapses = 0 if learned is None else sum(
        v <= 0.6 < before for before, v in pairwise(val[learned:]))
    return {"test accuracy (%)": f"{100 * result.test_accuracy:.1f}",
            "epochs run": str(len(val)),
            "val. accuracy ≥ 95 % at epoch": "never" if learned is None else str(learned + 1),
            "falls back to chance after": str(collapses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="VanishingMiddle")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--long", type=int, default=100,
                        help="epochs of the runs without early stopping")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configure_cpu(args.threads)

    preset = preset_task(args.dataset)
    base = replace(preset, model_kwargs={**preset.model_kwargs, "forget_bias": None})
    long_train = {**base.train, "epochs": args.long, "patience": args.long}
    runs = [(f"PyTorch's start, seed {s}", replace(base, seed=s)) for s in args.seeds]
    runs += [
        (f"PyTorch's start, {args.long} epochs, no early stop", replace(base, train=long_train)),
        ("PyTorch's start, gradients clipped to norm 1",
         replace(base, train={**base.train, "grad_clip": 1.0})),
        (f"PyTorch's start, hidden 5, {args.long} epochs, no early stop",
         replace(base, train=long_train, model_kwargs={**base.model_kwargs, "hidden_size": 5})),
        ("PyTorch's start, 5000 training series",
         replace(base, data={**base.data, "n_train": 5000})),
    ]
    runs += [(f"forget bias 1 (the preset), seed {s}", replace(preset, seed=s))
             for s in args.seeds]
    print(f"{args.dataset}, LSTM, the vanishing preset's task: data {base.data}, train "
          f"{base.train}, model {preset.model_kwargs}")
    header = ["setting", "test accuracy (%)", "epochs run", "val. accuracy ≥ 95 % at epoch",
              "falls back to chance after"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for label, task in runs:
        row = train(task)
        print("| " + " | ".join([label, *(row[h] for h in header[1:])]) + " |", flush=True)


if __name__ == "__main__":
    main()

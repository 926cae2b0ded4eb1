"""Training: a plain PyTorch loop (:mod:`.trainer`) and its procedures (:mod:`.procedures`)."""

from saliencylab.train.procedures import Traditional, TrainingProcedure
from saliencylab.train.trainer import (
    TrainConfig,
    TrainResult,
    accuracy,
    fit,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    predict_logits,
    save_checkpoint,
    write_checkpoint,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingProcedure",
    "Traditional",
    "accuracy",
    "fit",
    "load_checkpoint",
    "make_checkpoint",
    "model_from_checkpoint",
    "predict_logits",
    "save_checkpoint",
    "write_checkpoint",
]

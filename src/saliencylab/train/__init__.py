"""Training: a plain PyTorch loop (:mod:`.trainer`) and its procedures: traditional
(:mod:`.procedures`) and saliency guided (:mod:`.saliency_guided`, [SGT] NeurIPS 2021)."""

from saliencylab.train.procedures import Traditional, TrainingProcedure
from saliencylab.train.saliency_guided import SaliencyGuided, fine_tune
from saliencylab.train.trainer import (
    TrainConfig,
    TrainResult,
    accuracy,
    convert_checkpoint,
    fit,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    predict_logits,
    read_checkpoint,
    save_checkpoint,
    write_checkpoint,
)

__all__ = [
    "SaliencyGuided",
    "fine_tune",
    "TrainConfig",
    "TrainResult",
    "TrainingProcedure",
    "Traditional",
    "accuracy",
    "convert_checkpoint",
    "fit",
    "load_checkpoint",
    "make_checkpoint",
    "model_from_checkpoint",
    "predict_logits",
    "read_checkpoint",
    "save_checkpoint",
    "write_checkpoint",
]

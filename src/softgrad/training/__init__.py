"""softgrad.training: the training stack behind ``softgrad train`` — run configuration, the three models,
the loop with exact resume, checkpoints (safetensors + JSON), metrics and plots.

>>> from softgrad.training import TrainConfig
>>> TrainConfig().model, TrainConfig(optimizer='adam').lr
('mlp', 0.001)
"""

from softgrad.training.config import TrainConfig
from softgrad.training.loop import Trainer, make_optimizer, make_schedule
from softgrad.training.metrics import confusion_matrix, evaluate, make_loss
from softgrad.training.models import build_model, count_parameters

__all__ = ["TrainConfig", "Trainer", "build_model", "count_parameters", "make_loss", "make_optimizer",
           "make_schedule", "evaluate", "confusion_matrix"]

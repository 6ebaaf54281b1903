"""Training and evaluation: the loop, resume, metrics. Checkpoint files: `fftoolkit.models`."""

from fftoolkit.train.evaluate import EvalResult, evaluate_checkpoint
from fftoolkit.train.loop import TrainConfig, train

__all__ = ["EvalResult", "TrainConfig", "evaluate_checkpoint", "train"]

"""Training and evaluation: the loop, checkpoints, resume, metrics."""

from fftoolkit.train.checkpoint import export_weights, load_checkpoint, save_checkpoint
from fftoolkit.train.evaluate import EvalResult, evaluate_checkpoint
from fftoolkit.train.loop import TrainConfig, train

__all__ = ["EvalResult", "TrainConfig", "evaluate_checkpoint", "export_weights",
           "load_checkpoint", "save_checkpoint", "train"]

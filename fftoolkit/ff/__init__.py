"""The Forward-Forward algorithms: goodness, losses, overlays, update routines, predictors."""

from fftoolkit.ff.goodness import channel_goodness, goodness
from fftoolkit.ff.losses import channelwise_loss, ff_loss, split_goodness
from fftoolkit.ff.objectives import make_objective
from fftoolkit.ff.overlay import negative_labels
from fftoolkit.ff.predict import ImprovedPredictor, OriginalPredictor, make_predictor
from fftoolkit.ff.routines import Chunk, chunk_schedule, pipeline_cuts, stage_blocks

__all__ = [
    "Chunk", "ImprovedPredictor", "OriginalPredictor", "channel_goodness", "channelwise_loss",
    "chunk_schedule", "ff_loss", "goodness", "make_objective", "make_predictor",
    "negative_labels", "pipeline_cuts", "split_goodness", "stage_blocks",
]

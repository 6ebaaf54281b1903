"""Datasets for fftk: named datasets and image-folder trees as uint8 arrays, decoded once.

    from fftoolkit.data import load_dataset
    ds = load_dataset("cifar10-train-jpeg.tar.gz", "val")   # ds.images (N, H, W, C) uint8
"""

from fftoolkit.data.dataset import SPLITS, Dataset, channel_stats, check_dataset_fits
from fftoolkit.data.loader import load_dataset, prepare

__all__ = ["SPLITS", "Dataset", "channel_stats", "check_dataset_fits", "load_dataset", "prepare"]

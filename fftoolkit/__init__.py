"""fftk: train Forward-Forward networks and deploy them to low-power edge hardware."""

__version__ = "0.1.0"

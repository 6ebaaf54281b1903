"""The `torch` backend: the bundle's source network run eagerly in PyTorch (`torch-fp32`).

It is the reference every exported format is compared against, so it runs the network the
trainer built (BatchNorm unfolded, no export tricks). Lives outside `fftoolkit.runtime` so the
device runtime never imports torch; `open_reference` is imported only when asked for.
"""

from fftoolkit.reference.torch_graph import open_reference

__all__ = ["open_reference"]

"""The device side: read a bundle, run it with ONNX Runtime / LiteRT / the Edge TPU.

Needs only numpy, click and the runtimes (`pip install "fftoolkit[device]"`); never torch.
Timing it across formats is the bench harness's job (`fftoolkit.bench`).

    from fftoolkit.runtime.runner import classify, open_bundle
    run = open_bundle("bundles/tiny", backend="litert", precision="int8")
"""

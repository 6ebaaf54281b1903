"""Export: a trained checkpoint -> a bundle of ONNX / TFLite files with a manifest.

    from fftoolkit.export import ExportOptions, export_bundle
    export_bundle("runs/tiny/last.pt", "bundles/tiny", ExportOptions(quantize="int8"))
"""

from fftoolkit.export.bundle import ExportOptions, ExportResult, export_bundle
from fftoolkit.export.formats import FORMATS, TARGETS, plan

__all__ = ["FORMATS", "TARGETS", "ExportOptions", "ExportResult", "export_bundle", "plan"]

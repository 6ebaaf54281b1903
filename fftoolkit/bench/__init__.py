"""The benchmark harness (`fftk bench`): every format timed in a fresh process, logs, one table.

`bench.run_bench` orchestrates; `python -m fftoolkit.bench.worker` runs one configuration and
`python -m fftoolkit.bench.probe` times the CPU's conv rate, each in its own process. Built on
`fftoolkit.runtime` (numpy + onnxruntime/LiteRT, never torch); the torch-fp32 reference is
imported by the worker only when that format is asked for.

    from fftoolkit.bench.bench import BenchOptions, run_bench
"""

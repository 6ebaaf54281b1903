"""`python -m fftoolkit.cli` = `fftk`."""

from fftoolkit.cli import main

main()

"""`python -m fftoolkit` = `fftk`: what `torchrun ... -m fftoolkit train ...` starts per rank."""

from fftoolkit.cli import main

main()

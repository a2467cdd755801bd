"""``python -m tunix_rt.cli``: the same command line as ``tunix-rt`` (job children use it)."""

from tunix_rt.cli import main

main()

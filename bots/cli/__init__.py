"""The `otcmm` command: one module per command group, each a thin argparse front.

The top of the import graph: may import every other package; nothing imports it.
"""

from bots.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

"""The argparse conventions every `otcmm` command follows.

- No abbreviations: `--conf` is not `--config`, and `--key 0x...` is never taken for
  `--key-file` (whose "file not found" error would then print the key).
- A bad command line is one line on stderr, plus a second naming `--help`, and exit code 2;
  argparse's multi-line usage block is left to `--help`.
- Commands that handle secrets (keystores, passwords, the seed's initializer) never echo an
  argument back: argparse's "unrecognized arguments: --key 0xac09..." or "invalid int value:
  '...'" would put a private key into CI or Job logs.
- `--debug` (keep tracebacks) is accepted before or after the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

HIDDEN = "(not shown: this command handles secrets)"


class OtcmmParser(argparse.ArgumentParser):
    """`ArgumentParser` with abbreviations off and errors in at most two lines.

    Sub-parsers made from it (`add_subparsers().add_parser`) are `OtcmmParser`s too.
    `hides_values` (set by `hide_values`) keeps argument values out of its error messages.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)
        self.hides_values = False

    def error(self, message: str) -> NoReturn:
        """Print `<prog>: error: <message>` and a pointer to `--help`; exit 2."""
        if self.hides_values:
            message = hide(message)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        print(f"see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def hide(message: str) -> str:
    """An argparse message without the values it quotes.

    argparse puts the offending value last, after a colon ("argument --index: invalid int
    value: '0xac...'", "unrecognized arguments: --key 0xac..."): everything after the second
    colon goes, and unrecognized arguments are counted, not shown.
    """
    if message.startswith("unrecognized arguments"):
        return f"unrecognized arguments {HIDDEN}"
    parts = message.split(": ")
    return ": ".join(parts[:2]) + (f" {HIDDEN}" if len(parts) > 2 else "")


def hide_values(parser: argparse.ArgumentParser) -> None:
    """Mark `parser` as a command that handles secrets: its errors never quote arguments."""
    if isinstance(parser, OtcmmParser):
        parser.hides_values = True
    parser.set_defaults(hides_values=True)


def sub_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below `parser` (commands, then their actions), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
                yield child
                yield from sub_parsers(child)


def commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers that run something: those without a further level of sub-commands."""
    for child in sub_parsers(parser):
        if not any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            yield child

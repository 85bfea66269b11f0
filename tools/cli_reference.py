"""Write docs/reference/cli.md from the ``sagemaker-rt`` parser: ``python tools/cli_reference.py``.

The page is the help of the command and of each subcommand, as ``--help`` prints it at 100
columns; tests/test_docs.py fails when the committed page differs from what this generates, so
the reference never drifts from the command (run this after changing the CLI).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"
WIDTH = "100"

INTRO = """\
# The command line: `sagemaker-rt`

Generated from the command's own `--help` (`python tools/cli_reference.py`); every subcommand
takes `--help` too. Credentials, region and endpoint come from the usual AWS places
(environment, profile, shared config files), exactly as for the library.
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """The page's Markdown."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH  # argparse wraps to the terminal: fixed, so the page is stable
    try:
        from sagemaker_rt_async.cli import build_parser

        parser = build_parser()
        parts = [INTRO, "```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in _subcommands(parser).items():
            parts += [f"## `sagemaker-rt {name}`", "", "```text", sub.format_help().rstrip()]
            parts += ["```", ""]
        return "\n".join(parts)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    sys.stderr.write(f"wrote {PAGE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

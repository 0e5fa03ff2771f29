"""`paddle-wwm`: one subcommand per job.

The project's own errors (:class:`paddle_wwm.errors.PaddleWwmError`) and errors about the user's
files (missing, already there, not a directory, not permitted) end a command with one line and exit
code 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from paddle_wwm.errors import PaddleWwmError

from . import data, models, training

# Warnings other packages raise on every run that the user can do nothing about, ignored by
# (category, start of the message) before the imports that raise them; a user's own code still sees them.
FOREIGN_WARNINGS = (
    (UserWarning, "No ccache found"),  # importing paddle without a C++ compiler cache
    (UserWarning, "Setuptools is replacing distutils"),  # importing paddlehub
    (UserWarning, "Tensor do not have 'place' interface"),  # Taskflow's to_static conversion
    (UserWarning, "Truncation was not explicitly activated"),  # Taskflow fill_mask's own tokenizer call
)
USER_FILE_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def ignore_foreign_warnings() -> None:
    for category, message in FOREIGN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paddle-wwm", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    models.add_commands(sub)
    data.add_commands(sub)
    training.add_commands(sub)
    models.add_serving_commands(sub)
    training.add_quickstart(sub)
    return parser


def main(argv=None) -> int:
    ignore_foreign_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PaddleWwmError, *USER_FILE_ERRORS) as error:
        print(f"paddle-wwm {args.command}: error: {error}", file=sys.stderr)
        return 2

"""The ``imrec`` command: parse flags, call ``Library``, render tables, JSON or previews.

``app`` (cli/app.py) holds the shared error handling; each group of commands lives in a
module of its own and registers on it when imported. ``run`` imports only the group of the
command it is given (all of them for ``--help`` or an unknown name): building every command's
parameters cost a cold ``imrec search`` about 0.1 s of its 0.6 s. ``main`` is the console script.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Sequence

import typer

from image_recommender.cli.app import QUICK_EXIT, app, err
from image_recommender.cli.argv import negative_terms_last, ray_value_given

__all__ = ["app", "load_commands", "main", "run"]

# Each module's commands register on ``app`` when imported; this order is the order ``--help`` lists them in.
GROUPS = ("indexing", "searching", "duplicates", "albums", "themes", "places", "people", "info")

# Which module defines each top-level command; tests/test_house.py checks it against what the modules register.
COMMAND_GROUPS = {
    "index": "indexing",
    "embed": "indexing",
    "scan": "indexing",
    "build-index": "indexing",
    "watch": "indexing",
    "search": "searching",
    "recommend": "searching",
    "duplicates": "duplicates",
    "album": "albums",
    "themes": "themes",
    "places": "places",
    "people": "people",
    "status": "info",
    "serve": "info",
    "models": "info",
}


def load_commands(argv: Sequence[str]) -> None:
    """Register the group that defines ``argv``'s command, or every group when it names none that is known."""
    name = next((word for word in argv if not word.startswith("-")), None)
    wanted = [COMMAND_GROUPS[name]] if name in COMMAND_GROUPS else list(GROUPS)
    for group in wanted:
        importlib.import_module(f"image_recommender.cli.{group}")
    if len(wanted) > 1:  # groups loaded one by one earlier in this process: list them in GROUPS' order again
        app.registered_commands.sort(key=lambda info: GROUPS.index(_group_of(info)))


def _group_of(info: typer.models.CommandInfo) -> str:
    return str(getattr(info.callback, "__module__", "")).rpartition(".")[2]


class _NoteHandler(logging.Handler):
    """Library notes (a model being converted, a long run's estimate, a damaged cache) as one stderr line each."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"imrec: {record.getMessage()}", markup=False)


def run(argv: list[str]) -> int:
    """The command line as the console script runs it, in this process; the exit code.

    Tests call this directly: the same parsing, messages and exit codes as ``imrec``, without
    a new interpreter importing torch for every command.
    """
    notes = logging.getLogger("image_recommender")
    if not any(isinstance(handler, _NoteHandler) for handler in notes.handlers):
        notes.addHandler(_NoteHandler())
    notes.setLevel(logging.INFO)
    notes.propagate = False
    QUICK_EXIT.clear()
    load_commands(argv)
    try:
        code = app(args=ray_value_given(negative_terms_last(argv)), prog_name="imrec", standalone_mode=False)
    except typer.TyperException as exc:  # a usage mistake: one line, like every other mistake
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        err.print(f"imrec: error: {message}{where}", markup=False)
        return int(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        err.print("imrec: interrupted", markup=False)
        return 130
    return code if isinstance(code, int) else 0


def main() -> None:
    code = run(sys.argv[1:])
    if QUICK_EXIT.is_set():
        # A stopped watch has closed its library; the interpreter's teardown of torch's and
        # OpenVINO's threads took 0.3-3.7 s more on a loaded 2-core machine, so skip it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)

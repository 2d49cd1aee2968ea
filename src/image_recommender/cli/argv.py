"""Argument rewriting before typer parses: negative weighted terms and ``--ray`` without a value."""

from __future__ import annotations

import os
import re

import typer

from image_recommender.cli.app import app

_NEGATIVE_WEIGHT = re.compile(r"-(\d+(\.\d*)?|\.\d+):.+", re.DOTALL)


def negative_terms_last(args: list[str]) -> list[str]:
    """Move ``-1:dog.jpg`` style terms of search/recommend after ``--``, where they are read as terms.

    The parser would take them for unknown options. A value that follows an option expecting
    one (``--text -1:x``) stays where it is.
    """
    position = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
    if position is None or args[position] not in ("search", "recommend") or "--" in args:
        return args
    command = typer.main.get_command(app).commands[args[position]]  # type: ignore[attr-defined]
    takes_value = {
        name
        for param in command.params
        if param.param_type_name == "option" and not param.is_flag
        for name in param.opts
    }
    kept, moved = args[: position + 1], []
    for previous, arg in zip(args[position:], args[position + 1 :], strict=False):
        if _NEGATIVE_WEIGHT.fullmatch(arg) and previous not in takes_value:
            moved.append(arg)
        else:
            kept.append(arg)
    return [*kept, "--", *moved] if moved else args


def ray_value_given(args: list[str]) -> list[str]:
    """``--ray`` alone means a local Ray: give it that value when no address follows it (the end,
    another option, or the library folder: an address is never a folder)."""
    given = []
    for position, arg in enumerate(args):
        following = args[position + 1] if position + 1 < len(args) else None
        alone = following is None or following.startswith("-") or os.path.isdir(following)
        given.append("--ray=local" if arg == "--ray" and alone else arg)
    return given

"""The ``imrec`` typer app, its console script (``main``) and the one-line error handling.

Every user mistake ends as one ``imrec: error: ...`` line and a non-zero exit code; the
commands live in the sibling modules, one per group, and register on ``app``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from image_recommender import __version__
from image_recommender.errors import ImrecError

app = typer.Typer(
    name="imrec",
    help="Find similar images in a folder: OpenCLIP embeddings, SQLite catalog, FAISS HNSW index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


out = Console(highlight=False, soft_wrap=True)


err = Console(stderr=True, highlight=False, soft_wrap=True)


Command = TypeVar("Command", bound=Callable[..., Any])


class PlainArguments(typer.core.TyperCommand):
    """Help that names an argument by its metavar alone, not also by its Python type (``<list[str]>``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


WEB_EXTRA_HINT = "pip install 'image-recommender[web]'"


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"imrec {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Find similar images in a folder: OpenCLIP embeddings, SQLite catalog, FAISS HNSW index."""


def friendly(command: Command) -> Command:
    """Turn ImrecError into one stderr line and its exit code; Ctrl-C into a calm message and 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImrecError as exc:
            err.print(f"imrec: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("imrec: interrupted; everything finished so far is saved", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# Set by a command whose work and files are all closed, so the process may end without teardown.
QUICK_EXIT = threading.Event()

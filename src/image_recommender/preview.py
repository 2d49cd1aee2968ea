"""A matplotlib contact sheet: the query image(s) first, then each result with score and name."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from image_recommender.errors import ImageDecodeError, LibraryError
from image_recommender.images import load_image

THUMB_SIDE = 256


def check_output(output: Path) -> None:
    """Refuse a file type matplotlib cannot write before any work is done (``sheet.txt``)."""
    supported = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in supported:
        kinds = ", ".join(f".{kind}" for kind in sorted(supported))
        raise LibraryError(
            f"{output}: cannot write a contact sheet as {output.suffix or 'a file without a suffix'}; use one of {kinds}"
        )


def check_display() -> None:
    """``--show`` needs a screen; without one matplotlib would silently draw nothing."""
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless or plt.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        raise LibraryError(
            "--show needs a display (none found here); write the sheet to a file with --preview sheet.png"
        )


def _thumbnail(path: Path) -> Image.Image | None:
    try:
        picture = load_image(path, THUMB_SIDE)
    except ImageDecodeError:
        return None
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return picture


def contact_sheet(
    queries: Sequence[tuple[str, Path]],
    results: Sequence[tuple[str, Path]],
    output: Path | None = None,
    show: bool = False,
    columns: int = 5,
    title: str | None = None,
) -> None:
    """Draw query tiles (blue titles) and result tiles (caption: rank, score, file name).

    ``queries`` and ``results`` are (caption, image path) pairs; ``title`` shows the whole
    query, texts included. Writes ``output`` (any format matplotlib knows) and/or opens a window.
    """
    tiles = [(caption, path, True) for caption, path in queries] + [(c, p, False) for c, p in results]
    if not tiles:
        raise LibraryError("nothing to preview: the query returned no images")
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.3 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (caption, path, is_query) in zip(axes.flat, tiles, strict=False):
        picture = _thumbnail(path)
        if picture is not None:
            axis.imshow(picture)
        else:
            axis.text(0.5, 0.5, "unreadable", ha="center", va="center", transform=axis.transAxes)
        axis.set_title(caption, fontsize=8, color="tab:blue" if is_query else "black", wrap=True)
    if title:
        figure.suptitle(title, fontsize=9, wrap=True)
    figure.tight_layout()
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(output, dpi=100)
        except OSError as exc:
            plt.close(figure)
            raise LibraryError(f"{output}: cannot write preview: {exc.strerror or exc}") from None
    if show:
        plt.show()
    plt.close(figure)

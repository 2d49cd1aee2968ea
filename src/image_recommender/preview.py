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
from image_recommender.images.decode import load_image

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


# Captions wider than this many characters lose their middle ("2024/holi…/IMG_0001.jpg").
CAPTION_CHARS = 34
MOST_COLUMNS = 8


def _thumbnail(source: Path | Image.Image) -> Image.Image | None:
    """The picture (a file, or a picture already made: a video's frame) fitted into a square tile
    (white around it), so every caption sits at the same height."""
    try:
        picture = source.copy() if isinstance(source, Image.Image) else load_image(source, THUMB_SIDE)
    except ImageDecodeError:
        return None
    picture.thumbnail((THUMB_SIDE, THUMB_SIDE))
    tile = Image.new("RGB", (THUMB_SIDE, THUMB_SIDE), "white")
    tile.paste(picture, ((THUMB_SIDE - picture.width) // 2, (THUMB_SIDE - picture.height) // 2))
    return tile


def short_path(path: str, most: int = CAPTION_CHARS) -> str:
    """A library path for a caption: whole when it fits, else its start and its file name with an
    ellipsis between, so the folder still shows."""
    if len(path) <= most:
        return path
    name = path.rsplit("/", 1)[-1]
    if len(name) >= most - 4:
        return "…" + name[-(most - 1) :]
    return path[: most - len(name) - 1] + "…" + name


def grid_shape(count: int, most: int = MOST_COLUMNS) -> tuple[int, int]:
    """(rows, columns) for ``count`` tiles: at least as many columns as rows and at most ``most``,
    the fewest empty places in the last row, then the shape nearest a landscape sheet."""
    if count <= 0:
        return 0, 0

    def cost(columns: int) -> tuple[int, float]:
        rows = math.ceil(count / columns)
        return rows * columns - count, abs(columns / rows - 1.5)

    fewest = min(math.ceil(math.sqrt(count)), most)
    columns = min(range(fewest, max(fewest, min(count, most)) + 1), key=cost)
    return math.ceil(count / columns), columns


def contact_sheet(
    queries: Sequence[tuple[str, Path | Image.Image]],
    results: Sequence[tuple[str, Path | Image.Image]],
    output: Path | None = None,
    show: bool = False,
    title: str | None = None,
    highlights: Sequence[str] = (),
) -> None:
    """Draw query tiles (blue captions) and result tiles (caption: rank, score, folder and name),
    each picture in a square tile with its caption under it, in a grid shaped by the count.

    ``queries`` and ``results`` are (caption, image path or picture) pairs; ``title`` shows the whole
    query, texts included; ``highlights`` (one per result, "" for none: the words read in the
    picture that matched) are drawn across the tile's top on a highlighter's yellow. Writes
    ``output`` (any format matplotlib knows) and/or opens a window.
    """
    marked = list(highlights) + [""] * (len(results) - len(highlights))
    tiles = [(caption, path, True, "") for caption, path in queries]
    tiles += [(caption, path, False, mark) for (caption, path), mark in zip(results, marked, strict=False)]
    if not tiles:
        raise LibraryError("nothing to preview: the query returned no images")
    rows, columns = grid_shape(len(tiles))
    figure, axes = plt.subplots(rows, columns, figsize=(2.8 * columns, 3.2 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (caption, path, is_query, mark) in zip(axes.flat, tiles, strict=False):
        picture = _thumbnail(path)
        if picture is not None:
            axis.imshow(picture)
        else:
            axis.text(0.5, 0.5, "unreadable", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlim(0, THUMB_SIDE)
        axis.set_ylim(THUMB_SIDE, 0)
        color = "tab:blue" if is_query else "black"
        axis.text(0.5, -0.03, caption, fontsize=8, color=color, ha="center", va="top", transform=axis.transAxes)
        if mark:
            highlighter = {"facecolor": "#ffe066", "edgecolor": "none", "pad": 1.5}
            axis.text(0.5, 0.98, mark, fontsize=7, ha="center", va="top", transform=axis.transAxes, bbox=highlighter)
    if title:
        figure.suptitle(title, fontsize=9, wrap=True)
    figure.tight_layout()
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(output, dpi=100, bbox_inches="tight", pad_inches=0.15)  # captions never cut off
        except OSError as exc:
            plt.close(figure)
            raise LibraryError(f"{output}: cannot write preview: {exc.strerror or exc}") from None
    if show:
        plt.show()
    plt.close(figure)

"""Use search results elsewhere: copies or links in rank order in a folder, or the system's viewer.

Nothing here overwrites anything: results go into a folder that is new or empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from image_recommender.errors import LibraryError, SettingsError

MAX_OPENED = 20


def check_target(folder: Path) -> None:
    """Refuse, before any search runs, a target that is a file or a folder that already holds files."""
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"{folder}: is a file; give a folder to put the results in")
    if folder.is_dir() and any(folder.iterdir()):
        raise SettingsError(f"{folder}: is not empty; give a new or empty folder (nothing is ever overwritten)")


def ranked_name(rank: int, path: Path, count: int) -> str:
    """'001-beach.jpg': sorting by name keeps the rank order."""
    return f"{rank:0{max(3, len(str(count)))}d}-{path.name}"


def place_results(files: Sequence[Path], folder: Path, link: bool) -> list[Path]:
    """Copy (with times) or symlink each file into ``folder`` in rank order; returns the new paths."""
    check_target(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from None
    placed = []
    for rank, source in enumerate(files, start=1):
        target = folder / ranked_name(rank, source, len(files))
        try:
            if link:
                os.symlink(source.absolute(), target)
            else:
                shutil.copy2(source, target)
        except OSError as exc:
            raise LibraryError(
                f"{source}: cannot {'link' if link else 'copy'} it to {folder}: {exc.strerror or exc}"
            ) from None
        placed.append(target)
    return placed


def viewer_command() -> list[str] | None:
    """The command that opens a file with the user's default application, where one exists."""
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform.startswith("win"):
        return None  # os.startfile, below
    opener = shutil.which("xdg-open")
    return [opener] if opener else None


def check_viewer(count: int) -> None:
    if count > MAX_OPENED:
        raise SettingsError(f"--open opens each result: ask for at most {MAX_OPENED} (-k), or use --link-to DIR --open")
    if not sys.platform.startswith("win") and viewer_command() is None:
        raise SettingsError("--open needs a desktop's file opener (xdg-open), and none was found here")


def open_in_viewer(paths: Sequence[Path]) -> None:
    """Hand each path to the system's viewer without waiting for it."""
    command = viewer_command()
    for path in paths:
        if command is None:
            os.startfile(path)  # type: ignore[attr-defined]  # Windows only
        else:
            subprocess.Popen(
                [*command, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

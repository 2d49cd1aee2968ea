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


# How long the opener may take to say whether it found a program for a file. xdg-open and
# open hand the file over and exit at once; one still running after this is taken as working.
OPENER_ANSWER_SECONDS = 5.0


def open_in_viewer(paths: Sequence[Path]) -> list[str]:
    """Hand each path to the system's viewer; the paths it could not open, with the reason.

    The opener is waited for only until it answers (it starts the viewer and exits), so a
    machine without a viewer for images is told so instead of seeing a success.
    """
    command = viewer_command()
    failed = []
    for path in paths:
        if command is None:
            try:
                os.startfile(path)  # type: ignore[attr-defined]  # Windows only
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror or exc}")
            continue
        try:
            opener = subprocess.Popen(
                [*command, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            failed.append(f"{path}: {command[0]} cannot run ({exc.strerror or exc})")
            continue
        try:
            _, said = opener.communicate(timeout=OPENER_ANSWER_SECONDS)
        except subprocess.TimeoutExpired:
            continue  # still at work: a viewer was found
        if opener.returncode:
            reason = said.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {opener.returncode}"]
            failed.append(f"{path}: {os.path.basename(command[0])} could not open it ({reason[0][:160]})")
    return failed

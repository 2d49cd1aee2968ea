"""Path safety in one place: whether a path lies inside the library, judged on resolved paths."""

from __future__ import annotations

import os


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path`` resolves to ``root`` itself or to something under it.

    Both are resolved (links, ``..``) first, and the comparison includes the separator,
    so a sibling folder that merely shares the prefix (``library-private``) is outside.
    """
    real_path, real_root = os.path.realpath(path), os.path.realpath(root)
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def catalog_name(relative: str) -> tuple[str, bytes | None]:
    """A relative path as the catalog stores it: text, plus the exact bytes when the name is not UTF-8.

    Together the two are injective over real names: a name whose bytes are not UTF-8 shows as
    ``caf\\xe9.jpg`` but keeps its bytes, so a file literally named that stays distinct.
    """
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(relative)
        return raw.decode("utf-8", "backslashreplace"), raw
    return relative, None


def handle_path(descriptor: int) -> str | None:
    """Where an open handle really is, as the kernel resolved it when it was opened (links,
    ``..``, a folder swapped for a link): checking this, not the name, closes the gap between
    a check and the use of a file. None where the system cannot say (no ``/proc``)."""
    try:
        return os.readlink(f"/proc/self/fd/{descriptor}")
    except OSError:
        return None


def handle_is_inside(descriptor: int, path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """``is_inside`` judged on an open handle of ``path`` (on the name where the system cannot say)."""
    real_root = os.path.realpath(root)
    real_path = handle_path(descriptor) or os.path.realpath(path)
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)

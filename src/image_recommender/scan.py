"""Walk a library folder and diff it against the catalog: new, changed, returned and gone files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from image_recommender.catalog import Catalog, FileStat
from image_recommender.errors import LibraryError, MassRemovalError
from image_recommender.settings import STATE_DIR_NAME

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
MASS_REMOVAL_SHARE = 0.5
MASS_REMOVAL_MIN_FILES = 100


@dataclass
class ScanReport:
    """Counts of what one scan found, plus folders it could not enter."""

    scanned: int = 0
    new: int = 0
    changed: int = 0
    returned: int = 0
    removed: int = 0
    unreadable: list[str] = field(default_factory=list)


def _catalog_path(relative: str) -> tuple[str, bytes | None]:
    """The catalog's text path, plus the exact bytes when the name is not valid UTF-8."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(relative)
        return raw.decode("utf-8", "backslashreplace"), raw
    return relative, None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_images(
    root: Path, include_hidden: bool = False, follow_symlinks: bool = False, unreadable: list[str] | None = None
) -> Iterator[FileStat]:
    """Yield every image file under root, once each, never entering the state folder.

    Symbolic links are followed only while their target stays under the root, unless
    ``follow_symlinks``; folder loops are cut by remembering each folder's (device, inode).
    """
    real_root = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            folder_stat = os.stat(folder)
            if (folder_stat.st_dev, folder_stat.st_ino) in seen_dirs:
                continue
            seen_dirs.add((folder_stat.st_dev, folder_stat.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            if unreadable is not None:
                unreadable.append(f"{prefix or '.'}: {exc.strerror or exc}")
            continue
        for entry in entries:
            name = entry.name
            relative = f"{prefix}{name}"
            if relative == STATE_DIR_NAME or (name.startswith(".") and not include_hidden):
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not follow_symlinks and not _inside(target, real_root):
                        continue
                info = entry.stat(follow_symlinks=True)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append((entry.path, relative + "/"))
            elif stat.S_ISREG(info.st_mode) and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                path, raw = _catalog_path(relative)
                yield FileStat(path=path, raw_path=raw, size=info.st_size, mtime_ns=info.st_mtime_ns)


def scan_library(
    catalog: Catalog,
    root: Path,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
    allow_mass_removal: bool = False,
) -> ScanReport:
    """Bring the catalog's file list in line with the folder, refusing mass removals."""
    if not root.is_dir():
        raise LibraryError(f"{root}: library folder does not exist or is not mounted")
    report = ScanReport()
    known = catalog.file_states()
    new: list[FileStat] = []
    changed: list[tuple[int, FileStat]] = []
    returned: list[tuple[int, FileStat]] = []
    seen: set[str] = set()
    for found in walk_images(root, include_hidden, follow_symlinks, report.unreadable):
        seen.add(found.path)
        report.scanned += 1
        if found.path not in known:
            new.append(found)
            continue
        image_id, size, mtime_ns, state = known[found.path]
        same = size == found.size and mtime_ns == found.mtime_ns
        if state == "gone":
            (returned if same else changed).append((image_id, found))
        elif not same:
            changed.append((image_id, found))
    live = [path for path, (_, _, _, state) in known.items() if state != "gone"]
    gone = [known[path][0] for path in live if path not in seen]
    if gone and not allow_mass_removal:
        everything = len(gone) == len(live)
        most = len(gone) > MASS_REMOVAL_SHARE * len(live) and len(gone) >= MASS_REMOVAL_MIN_FILES
        if everything or most:
            raise MassRemovalError(
                f"{root}: {len(gone)} of {len(live)} catalogued files are missing (unmounted drive?); "
                "nothing was changed. Pass --allow-mass-removal if they were really deleted"
            )
    catalog.apply_scan(new, changed, returned, gone)
    report.new, report.changed, report.returned, report.removed = len(new), len(changed), len(returned), len(gone)
    return report

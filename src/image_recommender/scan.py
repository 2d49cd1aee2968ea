"""Walk a library folder and diff it against the catalog: new, changed, returned and gone files."""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from image_recommender.catalog.rows import FileStat
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError, MassRemovalError
from image_recommender.images.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from image_recommender.paths import catalog_name, is_inside
from image_recommender.reports import JsonReport
from image_recommender.settings import STATE_DIR_NAME

MASS_REMOVAL_SHARE = 0.5
MASS_REMOVAL_MIN_FILES = 100
# Walked files handed to the catalog at a time.
WALK_BATCH = 10_000

# What a library holds: pictures (RAW included) and videos.
_LIBRARY_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


@dataclass
class ScanReport(JsonReport):
    """Counts of what one scan found, plus folders it could not enter."""

    scanned: int = 0
    new: int = 0
    changed: int = 0
    returned: int = 0
    removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    kept: int = 0


def walk_images(
    root: Path,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
    skipped: list[tuple[str, str]] | None = None,
) -> Iterator[FileStat]:
    """Yield every image file under root, once each, never entering the state folder.

    Symbolic links are followed only while their target stays under the root, unless
    ``follow_symlinks``; folder loops are cut by remembering each folder's (device, inode).
    ``skipped`` collects (catalog name, reason) for folders and entries that could not be
    looked at ("" is the root); their catalogued files stay.
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
            if skipped is not None:
                skipped.append((catalog_name(prefix.rstrip("/"))[0], exc.strerror or str(exc)))
            continue
        for entry in entries:
            name = entry.name
            relative = f"{prefix}{name}"
            if relative == STATE_DIR_NAME or (name.startswith(".") and not include_hidden):
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not follow_symlinks and not is_inside(target, real_root):
                        continue
                info = entry.stat(follow_symlinks=True)
            except OSError as exc:
                if skipped is not None and (not entry.is_symlink() or follow_symlinks):
                    skipped.append((catalog_name(relative)[0], exc.strerror or str(exc)))
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append((entry.path, relative + "/"))
            elif stat.S_ISREG(info.st_mode) and os.path.splitext(name)[1].lower() in _LIBRARY_SUFFIXES:
                path, raw = catalog_name(relative)
                yield FileStat(path=path, raw_path=raw, size=info.st_size, mtime_ns=info.st_mtime_ns)


def scan_library(
    catalog: Catalog,
    root: Path,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
    allow_mass_removal: bool = False,
) -> ScanReport:
    """Bring the catalog's file list in line with the folder, refusing mass removals.

    The walk streams into the catalog in batches and is compared there, so memory stays
    the same whether the library holds a thousand files or ten million.
    """
    if not root.is_dir():
        raise LibraryError(f"{root}: library folder does not exist or is not mounted")
    report = ScanReport()
    skipped: list[tuple[str, str]] = []
    catalog.begin_walk()
    try:
        walked = walk_images(root, include_hidden, follow_symlinks, skipped)
        while batch := list(itertools.islice(walked, WALK_BATCH)):
            catalog.record_walk(batch)
            report.scanned += len(batch)
        report.unreadable = [f"{name or '.'}: {reason}" for name, reason in skipped]
        found = catalog.walk_differences([name for name, _ in skipped])
        missing = found.gone - found.reappeared  # a renamed folder's files are all there, under new names
        if missing and not allow_mass_removal and is_mass_removal(missing, found.live):
            raise MassRemovalError(
                f"{root}: {missing} of {found.live} catalogued files are missing (unmounted drive?); "
                "nothing was changed. Pass --allow-mass-removal if they were really deleted"
            )
        if found.any:
            catalog.apply_walk()
    finally:
        catalog.end_walk()
    report.new, report.changed, report.returned, report.removed = found.new, found.changed, found.returned, found.gone
    report.kept = found.kept
    return report


def is_mass_removal(vanished: int, catalogued: int) -> bool:
    """The unmounted-drive rule: every catalogued file vanished, or more than half of a library of
    at least ``MASS_REMOVAL_MIN_FILES`` files."""
    if vanished == 0:
        return False
    return vanished == catalogued or (
        catalogued >= MASS_REMOVAL_MIN_FILES and vanished > MASS_REMOVAL_SHARE * catalogued
    )

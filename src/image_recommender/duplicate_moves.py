"""Resolve duplicates by moving them out of the library, never deleting, and put them back.

Every non-keeper of an exact or near group moves to a folder outside the library under its
relative path. The manifest (what moves where, with sizes) is written before the first move,
so even an interrupted run can be undone; undo moves back what is still where it was put.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from image_recommender.catalog import ImageRow
from image_recommender.errors import LibraryError, SettingsError
from image_recommender.paths import is_inside
from image_recommender.query import DuplicateGroup

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Move:
    image_id: int
    source: Path
    target: Path
    size: int


@dataclass
class MoveReport:
    """What a move or an undo did: files moved, bytes, and each file left alone with the reason."""

    moved: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None
    moved_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "moved": self.moved,
            "bytes": self.bytes,
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "manifest": str(self.manifest) if self.manifest else None,
        }


def plan_moves(groups: Sequence[DuplicateGroup], root: Path, target: Path) -> list[Move]:
    """The moves that resolve ``groups`` into ``target`` (a folder outside the library)."""
    if is_inside(target, root) or is_inside(root, target):
        raise SettingsError(f"{target}: the folder for moved duplicates must be outside the library {root}")
    seen: set[int] = set()
    moves = []
    for group in groups:
        for image in group.removable:
            if image.id not in seen:
                seen.add(image.id)
                moves.append(_move(image, root, target))
    return moves


def _move(image: ImageRow, root: Path, target: Path) -> Move:
    relative = image.location(root).relative_to(root)
    return Move(image.id, image.location(root), target / relative, image.size)


def _write_manifest(path: Path, root: Path, moves: Sequence[Move]) -> None:
    entries = [{"id": m.image_id, "from": str(m.source), "to": str(m.target), "size": m.size} for m in moves]
    data = {"version": MANIFEST_VERSION, "library": str(root), "created": time.time(), "moves": entries}
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def _relocate(source: Path, target: Path) -> str | None:
    """Move one file without overwriting anything; the reason it was left alone, or None."""
    if not source.is_file() or source.is_symlink():
        return "no longer there as a regular file"
    if os.path.lexists(target):
        return f"{target} already exists"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)  # a rename, or a copy then removal across file systems
    except OSError as exc:
        return f"cannot move: {exc.strerror or exc}"
    return None


def apply_moves(moves: Sequence[Move], root: Path, target: Path) -> MoveReport:
    """Write the manifest into ``target``, then move each file; returns what happened."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"{target}: cannot create the folder: {exc.strerror or exc}") from None
    manifest = target / time.strftime("imrec-moves-%Y%m%d-%H%M%S.json")
    counter = 1
    while manifest.exists():
        counter += 1
        manifest = target / time.strftime(f"imrec-moves-%Y%m%d-%H%M%S-{counter}.json")
    _write_manifest(manifest, root, moves)
    report = MoveReport(manifest=manifest)
    for move in moves:
        reason = _relocate(move.source, move.target)
        if reason is None:
            report.moved += 1
            report.bytes += move.size
            report.moved_ids.append(move.image_id)
        else:
            report.skipped.append((str(move.source), reason))
    return report


def undo_moves(manifest: Path, root: Path) -> MoveReport:
    """Put back every file the manifest moved out of ``root`` that is still where it was put."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        library = Path(data["library"])
        entries = [(Path(entry["from"]), Path(entry["to"]), int(entry["size"])) for entry in data["moves"]]
    except FileNotFoundError:
        raise SettingsError(f"{manifest}: no such manifest") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"{manifest}: not an imrec move manifest ({exc.__class__.__name__})") from None
    if os.path.realpath(library) != os.path.realpath(root):
        raise SettingsError(f"{manifest}: moved files out of {library}, not out of the library {root}")
    report = MoveReport(manifest=manifest)
    for source, target, size in reversed(entries):
        if not is_inside(source, root):
            report.skipped.append((str(source), "outside the library the manifest names"))
            continue
        reason = _relocate(target, source)
        if reason is None:
            report.moved += 1
            report.bytes += size
        else:
            report.skipped.append((str(target), reason))
    return report

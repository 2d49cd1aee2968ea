"""Smart albums: a query kept under a name, run again whenever asked, and optionally mirrored
into a folder of links or copies that follows its results after every update.

The mirror touches only what it made: every file it creates is recorded (name, image, what
it points to, size and time), a file is removed only while it is still exactly that (a link
with the same target, a copy with the same size and time), a name already taken by someone
else's file is left alone, and every operation goes through the folder opened once without
following links, so a mirror folder swapped for a link elsewhere is refused, not followed.
Names are stable (``beach-42.jpg``: the image's name and id), so a result that only moves in
rank is not made again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from image_recommender.catalog.rows import MadeFile
from image_recommender.errors import LibraryError, SettingsError
from image_recommender.paths import is_inside
from image_recommender.search import Crop, SearchResult, Term

MODES = ("link", "copy")
_NAME = re.compile(r"[^/\\\x00-\x1f\x7f]{1,100}")


def check_album_name(name: str) -> str:
    """1 to 100 characters, no slash, backslash or control character (it names folders and URLs)."""
    if not _NAME.fullmatch(name) or not name.isprintable() or name.strip() != name or name in (".", ".."):
        raise SettingsError(f"album name {name!r}: use 1-100 characters without slashes or control characters")
    return name


@dataclass
class KeptQuery:
    """What an album keeps: the terms (with weights, signs and regions), the filters and k."""

    terms: list[Term]
    filters: dict[str, Any] = field(default_factory=dict)
    k: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"terms": [asdict(term) for term in self.terms], "filters": self.filters, "k": self.k}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str) -> KeptQuery:
        data = json.loads(text)
        terms = [
            Term(t["kind"], t["value"], t["weight"], t["negative"], Crop(**t["crop"]) if t.get("crop") else None)
            for t in data["terms"]
        ]
        return cls(terms, dict(data.get("filters") or {}), data.get("k"))


def check_mirror(folder: Path, root: Path, current: str | None) -> Path:
    """The mirror folder as an absolute path: outside the library (its copies would be indexed
    as duplicates of their originals), a folder, and new or empty unless it is already this
    album's (``current``: the album's mirror so far)."""
    folder = Path(os.path.abspath(os.path.expanduser(folder)))
    known = str(folder) == current
    if is_inside(folder, root) or is_inside(root, folder):
        raise SettingsError(f"{folder}: a mirror folder lies outside the library {root} (and does not hold it)")
    if folder.is_symlink():
        raise SettingsError(f"{folder}: is a link; give the folder itself")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"{folder}: is a file; give a folder for the album's links or copies")
    if not known and folder.is_dir() and any(folder.iterdir()):
        raise SettingsError(f"{folder}: is not empty; give a new or empty folder (nothing is ever overwritten)")
    return folder


def mirror_name(result: SearchResult) -> str:
    """``beach-42.jpg``: the picture's own name with its id, the same whatever its rank."""
    path = Path(result.path)
    return f"{path.stem}-{result.id}{path.suffix}"


@dataclass
class MirrorReport:
    """One pass over a mirror folder: files made and removed, and names left alone (with why)."""

    made: list[MadeFile] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)


def sync_mirror(
    folder: Path, mode: str, root: Path, results: Sequence[SearchResult], made: Sequence[MadeFile]
) -> MirrorReport:
    """Make the folder hold exactly the results' links or copies among the files the album made."""
    report = MirrorReport()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise LibraryError(f"{folder}: cannot use it as the album's folder ({exc.strerror or exc})") from None
    try:
        wanted = {mirror_name(result): result for result in results}
        recorded = {record.name: record for record in made}
        for name, record in recorded.items():
            if name in wanted:
                continue
            if _still_ours(directory, record, mode) and mode == "copy" and not os.path.lexists(record.target):
                try:
                    kept = _keep_aside(directory, name)
                    report.left_alone.append(f"{name}: its original left the library; the copy is kept as {kept}")
                except OSError as exc:
                    report.left_alone.append(f"{name}: its original left the library; the copy stays ({exc})")
            elif _still_ours(directory, record, mode):
                os.unlink(name, dir_fd=directory)
                report.removed.append(name)
            else:
                report.left_alone.append(f"{name}: changed or replaced since the album made it; not touched")
            report.forgotten.append(name)
        for name, result in wanted.items():
            if name in recorded and _still_ours(directory, recorded[name], mode):
                continue
            if name in recorded:
                report.forgotten.append(name)
            if _exists(directory, name):
                report.left_alone.append(f"{name}: a file the album did not make has this name; not touched")
                continue
            source = root / result.path
            try:
                report.made.append(_make(directory, name, source, result.id, mode))
            except OSError as exc:
                report.left_alone.append(f"{name}: cannot {mode} {source} ({exc.strerror or exc})")
    finally:
        os.close(directory)
    return report


REMOVED_FOLDER = "removed"


def _keep_aside(directory: int, name: str) -> str:
    """Move a copy whose original is gone into the album's ``removed/`` folder (under a free name):
    it may be the last copy of the photo, so it is never deleted."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(REMOVED_FOLDER, 0o755, dir_fd=directory)
    stem, dot, suffix = name.rpartition(".")
    for number in range(1, 10_000):
        kept = (
            f"{REMOVED_FOLDER}/{name}"
            if number == 1
            else f"{REMOVED_FOLDER}/{stem or suffix}-{number}{dot}{suffix if stem else ''}"
        )
        if not _exists(directory, kept):
            os.rename(name, kept, src_dir_fd=directory, dst_dir_fd=directory)
            return kept
    raise OSError(f"no free name for {name} in {REMOVED_FOLDER}/")


def _exists(directory: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=directory)
    except FileNotFoundError:
        return False
    return True


def _still_ours(directory: int, record: MadeFile, mode: str) -> bool:
    """Whether the file is still exactly what the album made: the same link, or the same copy."""
    try:
        info = os.lstat(record.name, dir_fd=directory)
        if mode == "link":
            return stat.S_ISLNK(info.st_mode) and os.readlink(record.name, dir_fd=directory) == record.target
        return stat.S_ISREG(info.st_mode) and (info.st_size, info.st_mtime_ns) == (record.size, record.mtime_ns)
    except OSError:
        return False


def _make(directory: int, name: str, source: Path, image_id: int, mode: str) -> MadeFile:
    """A link to ``source`` or a copy of it, created new (never over an existing name)."""
    target = str(source.absolute())
    if mode == "link":
        os.symlink(target, name, dir_fd=directory)
    else:
        with open(source, "rb") as reading:
            descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=directory)
            try:
                with os.fdopen(descriptor, "wb") as writing:
                    shutil.copyfileobj(reading, writing, 1 << 20)
                times = os.fstat(reading.fileno())
                os.utime(name, ns=(times.st_atime_ns, times.st_mtime_ns), dir_fd=directory, follow_symlinks=False)
            except BaseException:
                os.unlink(name, dir_fd=directory)  # half a copy is not left behind
                raise
    info = os.lstat(name, dir_fd=directory)
    return MadeFile(name, image_id, target, info.st_size, info.st_mtime_ns)

"""Resolve duplicates by moving them out of the library, never deleting, and put them back.

Every non-keeper of an exact or near group moves to a folder outside the library under its
relative path. The manifest (what moves where, with sizes and fingerprints) is written before
the first move, so even an interrupted run can be undone.

A plan is only a proposal: each move is checked again when it happens, on open handles, so a
link swapped in, a file changed or a keeper deleted since the last ``imrec index`` is caught:

- the source folder and file are opened first and must resolve inside the library; the file
  must be a regular file and still be what the catalog says (size and mtime, else its
  fingerprint);
- the group's keeper must still be there unchanged, so the last copy of a picture never moves;
- nothing is overwritten: the file is renamed with ``RENAME_NOREPLACE`` (or linked, then
  unlinked) and the new name is checked to be the very file that was verified, else it goes back.

An undo trusts no path in the manifest: it moves only files inside the manifest's own folder
that match the recorded size (and fingerprint), each to a place inside the library that is not
its ``.imrec`` folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from image_recommender.catalog.rows import ImageRow
from image_recommender.duplicates.finding import DuplicateGroup
from image_recommender.errors import LibraryError, SettingsError
from image_recommender.images.fingerprint import fingerprint_handle
from image_recommender.paths import handle_is_inside, is_inside

MANIFEST_VERSION = 2
KNOWN_VERSIONS = (1, 2)
# A manifest of a million moves is about 300 MB; one of 64 MB holds 200,000 and is read at once.
MAX_MANIFEST_BYTES = 64 << 20
STATE_FOLDER = ".imrec"
_OPEN_FILE = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_FOLDER = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Move:
    """One planned move: the image as catalogued, the keeper that must still be there, where to."""

    image: ImageRow
    keeper: ImageRow
    source: Path
    target: Path

    @property
    def image_id(self) -> int:
        return self.image.id

    @property
    def size(self) -> int:
        return self.image.size


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


class _Refused(Exception):
    """One file is left alone; the message says why."""


def plan_moves(groups: Sequence[DuplicateGroup], root: Path, target: Path) -> list[Move]:
    """The moves that resolve ``groups`` into ``target`` (a folder outside the library).

    A file that keeps any group stays, whatever another group says of it.
    """
    if is_inside(target, root) or is_inside(root, target):
        raise SettingsError(f"{target}: the folder for moved duplicates must be outside the library {root}")
    keepers = {group.keeper.id for group in groups}
    seen: set[int] = set()
    moves = []
    for group in groups:
        for image in group.removable:
            if image.id not in seen and image.id not in keepers:
                seen.add(image.id)
                relative = image.location(root).relative_to(root)
                moves.append(Move(image, group.keeper, image.location(root), target / relative))
    return moves


def apply_moves(moves: Sequence[Move], root: Path, target: Path, current: Mapping[int, ImageRow]) -> MoveReport:
    """Write the manifest into ``target``, then move each file that still passes every check.

    ``current`` holds the catalog's rows as they are now, read under the library's write lock:
    an image or keeper that has left the live set or changed content since the plan is skipped.
    """
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(f"{target}: cannot create the folder: {exc.strerror or exc}") from None
    manifest = target / time.strftime("imrec-moves-%Y%m%d-%H%M%S.json")
    counter = 1
    while manifest.exists():
        counter += 1
        manifest = target / time.strftime(f"imrec-moves-%Y%m%d-%H%M%S-{counter}.json")
    _write_manifest(manifest, root, target, moves)
    report = MoveReport(manifest=manifest)
    moved: set[int] = set()
    for move in moves:
        try:
            _check_catalog(move, current, moved)
            with _verified(move.keeper, root, "the copy to keep"):
                report.bytes += _move_out(move, root, target)
        except _Refused as refused:
            report.skipped.append((str(move.source), str(refused)))
            continue
        report.moved += 1
        report.moved_ids.append(move.image_id)
        moved.add(move.image_id)
    return report


def _check_catalog(move: Move, current: Mapping[int, ImageRow], moved: set[int]) -> None:
    for role, planned in (("the copy to keep", move.keeper), ("it", move.image)):
        now = current.get(planned.id)
        if planned.id in moved or now is None or now.state != "ok" or now.fingerprint != planned.fingerprint:
            raise _Refused(f"{role} changed or left the library since the duplicates were found; not moved")


@contextlib.contextmanager
def _verified(image: ImageRow, root: Path, role: str) -> Iterator[tuple[int, int, os.stat_result]]:
    """(folder handle, file handle, stat) of a catalogued file that is still what the catalog says."""
    location = image.location(root)
    with (
        _folder(location.parent, root) as folder,
        _regular_file(folder, location.name, f"{role} ({image.path}): ", "nothing moved") as (handle, info),
    ):
        unchanged = info.st_size == image.size and info.st_mtime_ns == image.mtime_ns
        if not unchanged and (info.st_size != image.size or fingerprint_handle(handle) != image.fingerprint):
            raise _Refused(f"{role} ({image.path}) changed since the last 'imrec index'; nothing moved")
        yield folder, handle, info


@contextlib.contextmanager
def _regular_file(folder: int, name: str, said: str, outcome: str) -> Iterator[tuple[int, os.stat_result]]:
    """(handle, stat) of ``name`` in the open ``folder``: never through a link, never blocking, only
    a regular file; else refused with ``said`` + the reason + ``outcome``."""
    try:
        handle = os.open(name, _OPEN_FILE, dir_fd=folder)
    except OSError as exc:
        reason = "no longer there" if exc.errno == errno.ENOENT else exc.strerror or str(exc)
        raise _Refused(f"{said}{reason}; {outcome}") from None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise _Refused(f"{said}not a regular file; {outcome}")
        yield handle, info
    finally:
        os.close(handle)


def _move_out(move: Move, root: Path, target: Path) -> int:
    """Move one verified file to its target; the bytes moved."""
    relative = PurePosixPath(move.target.relative_to(target).as_posix())
    with _verified(move.image, root, "it") as (source_folder, _, info), _made_folder(target, relative.parent) as to:
        _relocate(source_folder, move.source.name, to, relative.name, info, str(move.target))
    return info.st_size


@contextlib.contextmanager
def _folder(path: Path, base: Path) -> Iterator[int]:
    """A handle on the folder ``path``, which must resolve inside ``base`` on that handle."""
    try:
        handle = os.open(path, _OPEN_FOLDER)
    except OSError as exc:
        raise _Refused(f"{path}: {exc.strerror or exc}") from None
    try:
        if not handle_is_inside(handle, path, base):
            raise _Refused(f"{path} now leads out of {base} through a link; not touched")
        yield handle
    finally:
        os.close(handle)


@contextlib.contextmanager
def _made_folder(base: Path, relative: PurePosixPath, create: bool = True) -> Iterator[int]:
    """A handle on ``base/relative``, opened (and with ``create`` made) step by step; no step may
    lead out of ``base``."""
    with _folder(base, base) as start:
        handle = os.dup(start)
    try:
        for part in relative.parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=handle)
            try:
                child = os.open(part, _OPEN_FOLDER, dir_fd=handle)
            except OSError as exc:
                raise _Refused(f"{base / relative}: {exc.strerror or exc}") from None
            os.close(handle)
            handle = child
            if not handle_is_inside(handle, base / relative, base):
                raise _Refused(f"{base / relative} leads out of {base} through a link; not touched")
        yield handle
    finally:
        os.close(handle)


def _relocate(source: int, name: str, target: int, new_name: str, verified: os.stat_result, shown: str) -> None:
    """Give the verified file its new name without overwriting anything; if the name moved was
    swapped for another file meanwhile, that file is put back."""
    try:
        _rename_noreplace(source, name, target, new_name)
    except FileExistsError:
        raise _Refused(f"{shown} already exists") from None
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_across(source, name, target, new_name, verified, shown)
            return
        raise _Refused(f"cannot move: {exc.strerror or exc}") from None
    arrived = os.stat(new_name, dir_fd=target, follow_symlinks=False)
    if (arrived.st_dev, arrived.st_ino) != (verified.st_dev, verified.st_ino):
        with contextlib.suppress(OSError):
            _rename_noreplace(target, new_name, source, name)
        raise _Refused("was replaced while it was being moved; left where it was")


_RENAME_NOREPLACE = 1
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None
_renameat2 = getattr(_libc, "renameat2", None)


def _rename_noreplace(source: int, name: str, target: int, new_name: str) -> None:
    """renameat2(RENAME_NOREPLACE): atomic, and fails if ``new_name`` exists. Where the system or
    file system lacks it, a hard link (which also refuses to overwrite) and an unlink."""
    if _renameat2 is not None:
        done = _renameat2(source, os.fsencode(name), target, os.fsencode(new_name), _RENAME_NOREPLACE)
        if done == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code))
    os.link(name, new_name, src_dir_fd=source, dst_dir_fd=target, follow_symlinks=False)
    os.unlink(name, dir_fd=source)


def _copy_across(source: int, name: str, target: int, new_name: str, verified: os.stat_result, shown: str) -> None:
    """Another file system: copy exactly the verified bytes, then remove the source name only if it
    is still the verified file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        out = os.open(new_name, flags, 0o600, dir_fd=target)
    except FileExistsError:
        raise _Refused(f"{shown} already exists") from None
    handle = os.open(name, _OPEN_FILE, dir_fd=source)
    try:
        opened = os.fstat(handle)
        if (opened.st_ino, opened.st_dev) != (verified.st_ino, verified.st_dev):
            raise _Refused("was replaced while it was being moved; left where it was")
        left = verified.st_size
        while left > 0 and (chunk := os.read(handle, min(left, 1 << 20))):
            os.write(out, chunk)
            left -= len(chunk)
        os.fsync(out)
        os.utime(new_name, ns=(verified.st_atime_ns, verified.st_mtime_ns), dir_fd=target)
        os.chmod(new_name, stat.S_IMODE(verified.st_mode), dir_fd=target)
        now = os.stat(name, dir_fd=source, follow_symlinks=False)
        if left or (now.st_ino, now.st_size, now.st_mtime_ns) != (
            verified.st_ino,
            verified.st_size,
            verified.st_mtime_ns,
        ):
            raise _Refused("changed while it was being copied; left where it was")
        os.unlink(name, dir_fd=source)
    except _Refused:
        os.unlink(new_name, dir_fd=target)
        raise
    finally:
        os.close(handle)
        os.close(out)


def _write_manifest(path: Path, root: Path, folder: Path, moves: Sequence[Move]) -> None:
    entries = [
        {
            "id": m.image_id,
            "from": str(m.source),
            "to": str(m.target),
            "size": m.size,
            "fingerprint": m.image.fingerprint,
        }
        for m in moves
    ]
    data = {
        "version": MANIFEST_VERSION,
        "library": str(root),
        "folder": str(folder),
        "created": time.time(),
        "moves": entries,
    }
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


@dataclass(frozen=True)
class _Entry:
    back_to: PurePosixPath  # inside the library, relative
    moved_to: PurePosixPath  # inside the manifest's folder, relative
    size: int
    fingerprint: str | None
    shown: str


def read_manifest(manifest: Path, root: Path) -> list[_Entry]:
    """The manifest's moves, each checked: every path lies where a move of this library can have put
    it; anything else, and anything that is not a small regular JSON file, is one clear error."""
    try:
        handle = os.open(manifest, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SettingsError(f"{manifest}: no such manifest") from None
    except OSError as exc:
        raise SettingsError(f"{manifest}: cannot read the manifest: {exc.strerror or exc}") from None
    with open(handle, "rb") as opened:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(f"{manifest}: not a regular file, so not an imrec move manifest")
        if info.st_size > MAX_MANIFEST_BYTES:
            raise SettingsError(f"{manifest}: {info.st_size / 2**20:.0f} MB is too large for an imrec move manifest")
        raw = opened.read(MAX_MANIFEST_BYTES + 1)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SettingsError(f"{manifest}: not an imrec move manifest (not JSON)") from None
    if (
        not isinstance(data, dict)
        or data.get("version") not in KNOWN_VERSIONS
        or not isinstance(data.get("moves"), list)
    ):
        raise SettingsError(f"{manifest}: not an imrec move manifest of a known version")
    library = data.get("library")
    if not isinstance(library, str) or os.path.realpath(library) != os.path.realpath(root):
        raise SettingsError(f"{manifest}: moved files out of {library}, not out of the library {root}")
    folder = manifest.absolute().parent
    return [_entry(manifest, number, raw_entry, library, folder) for number, raw_entry in enumerate(data["moves"], 1)]


def _entry(manifest: Path, number: int, raw: object, library: str, folder: Path) -> _Entry:
    def bad(why: str) -> SettingsError:
        return SettingsError(f"{manifest}: move {number} {why}; not an imrec move manifest, nothing was moved")

    if not isinstance(raw, dict):
        raise bad("is not a record")
    source, moved_to, size = raw.get("from"), raw.get("to"), raw.get("size")
    fingerprint = raw.get("fingerprint")
    if not isinstance(source, str) or not isinstance(moved_to, str):
        raise bad("has no paths")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise bad("has no size")
    if fingerprint is not None and (not isinstance(fingerprint, str) or len(fingerprint) != 32):
        raise bad("has a malformed fingerprint")
    if any(ord(c) < 32 or ord(c) == 127 for c in source + moved_to):
        raise bad("has a control character in a path")
    back_to = _relative_below(source, library)
    if back_to is None or back_to.parts[0] == STATE_FOLDER:
        raise bad(f"would put a file back to {source}, which is not a place in the library")
    inside = _relative_below(moved_to, str(folder)) or _relative_below(moved_to, os.path.realpath(folder))
    if inside is None:
        raise bad(f"would take {moved_to}, which is not in the manifest's folder {folder}")
    return _Entry(back_to, inside, size, fingerprint, moved_to)


def _relative_below(path: str, base: str) -> PurePosixPath | None:
    """``path`` relative to ``base`` when it names something strictly below it, written plainly
    (absolute, no ``..`` or ``.`` parts); else None."""
    prefix = base.rstrip(os.sep) + os.sep
    if not os.path.isabs(path) or os.path.normpath(path) != path or not path.startswith(prefix):
        return None
    relative = PurePosixPath(path[len(prefix) :])
    return relative if relative.parts and ".." not in relative.parts else None


def undo_moves(manifest: Path, root: Path) -> MoveReport:
    """Put back every file the manifest moved out of ``root`` that is still where it was put,
    unchanged (same size, and the same fingerprint where the manifest recorded one)."""
    entries = read_manifest(manifest, root)
    folder = manifest.absolute().parent
    report = MoveReport(manifest=manifest)
    for entry in reversed(entries):
        try:
            report.bytes += _move_back(entry, folder, root)
        except _Refused as refused:
            report.skipped.append((entry.shown, str(refused)))
            continue
        report.moved += 1
    return report


def _move_back(entry: _Entry, folder: Path, root: Path) -> int:
    with (
        _made_folder(folder, entry.moved_to.parent, create=False) as source,
        _regular_file(source, entry.moved_to.name, "", "not put back") as (handle, info),
    ):
        if info.st_size != entry.size or (entry.fingerprint and fingerprint_handle(handle) != entry.fingerprint):
            raise _Refused("not the file that was moved (its size or content differ); not put back")
        with _made_folder(root, entry.back_to.parent) as target:
            _relocate(source, entry.moved_to.name, target, entry.back_to.name, info, str(root / entry.back_to))
    return info.st_size

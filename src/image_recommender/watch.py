"""Keep a library's catalog and index current while files appear, change or vanish.

File-system events (watchdog) only mark the library dirty; once the folder has been quiet
for ``debounce`` seconds the ordinary incremental update runs, so a camera import of a
thousand files costs one update, not a thousand.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from image_recommender.errors import ImrecError, LibraryError
from image_recommender.images.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from image_recommender.library import Library, UpdateSummary
from image_recommender.settings import STATE_DIR_NAME

# What a library holds: pictures (RAW included) and videos.
_LIBRARY_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


class _DirtyFlag(FileSystemEventHandler):
    """Sets ``dirty`` for events that can change the image set (never for the state folder)."""

    def __init__(self, root: str) -> None:
        self.state_dir = os.path.join(root, STATE_DIR_NAME)
        self.dirty = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw) if raw else ""
            if not path or path.startswith(self.state_dir):
                continue
            if event.is_directory or os.path.splitext(path)[1].lower() in _LIBRARY_SUFFIXES:
                self.dirty.set()
                return


def watch(
    library: Library,
    debounce: float = 2.0,
    on_update: Callable[[UpdateSummary], None] | None = None,
    on_error: Callable[[ImrecError], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Update once, then after every quiet spell that follows a change, until ``stop`` is set.

    Raises LibraryError when the library folder or its catalog is deleted, replaced or
    unmounted while watching: updating then would re-create an empty library in its place, and
    a watch of nothing must not look like a watch.
    """
    stop = stop or threading.Event()
    identity = _identity(library)
    flag = _DirtyFlag(str(library.root))
    observer = Observer()
    observer.schedule(flag, str(library.root), recursive=True)
    observer.start()
    flag.dirty.set()
    try:
        while not stop.is_set():
            if _identity(library) != identity:
                raise LibraryError(
                    f"{library.root}: the library folder or its catalog was deleted, moved or unmounted while"
                    " watching; stopped (nothing was re-created)"
                )
            if not flag.dirty.wait(timeout=0.5):
                continue
            while flag.dirty.is_set() and not stop.is_set():
                flag.dirty.clear()
                stop.wait(debounce)
            if stop.is_set() or _identity(library) != identity:
                continue
            try:
                summary = library.update()
            except ImrecError as exc:
                if on_error is not None:
                    on_error(exc)
                continue
            if on_update is not None:
                on_update(summary)
    finally:
        observer.stop()
        observer.join()


def _identity(library: Library) -> tuple[int, int, int, int] | None:
    """(device, inode) of the library folder and of its catalog file; None once either is gone."""
    try:
        folder, catalog = os.stat(library.root), os.stat(library.catalog.path)
    except OSError:
        return None
    return folder.st_dev, folder.st_ino, catalog.st_dev, catalog.st_ino

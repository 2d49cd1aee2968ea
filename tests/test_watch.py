"""Watching a library in-process: deletions, renamed folders, a deleted root, and SIGTERM."""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import indexed, indexed_copy

from image_recommender import Library
from image_recommender.catalog.store import Catalog
from image_recommender.errors import ImrecError
from image_recommender.library import UpdateSummary
from image_recommender.scan import scan_library
from image_recommender.watch import watch


@pytest.fixture(scope="module")
def indexed_photos(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> Path:
    root = tmp_path_factory.mktemp("watched") / "library"
    shutil.copytree(Path(__file__).parent / "data" / "photos", root)
    return indexed(root, model_settings)


class Watching:
    """``watch`` on a thread: its summaries, its end (an exception or None), and a stop."""

    def __init__(self, library: Library) -> None:
        self.summaries: queue.Queue[UpdateSummary] = queue.Queue()
        self.stop = threading.Event()
        self.ended: queue.Queue[BaseException | None] = queue.Queue()

        def run() -> None:
            try:
                watch(library, 0.2, self.summaries.put, None, self.stop)
            except BaseException as exc:
                self.ended.put(exc)
            else:
                self.ended.put(None)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def next(self) -> UpdateSummary:
        return self.summaries.get(timeout=60)


@pytest.fixture
def watching(indexed_photos: Path, tmp_path: Path, model_settings: dict) -> Iterator[tuple[Path, Watching]]:
    root = indexed_copy(indexed_photos, tmp_path / "library")
    library = Library.open(root, **model_settings)
    watcher = Watching(library)
    try:
        assert watcher.next().new == 0  # the first update finds the library as indexed
        yield root, watcher
    finally:
        watcher.stop.set()
        watcher.thread.join(10)
        library.close()


def test_a_deleted_photo_leaves_the_library(watching: tuple[Path, Watching]) -> None:
    root, watcher = watching
    (root / "Dragonfly_by_Bolly.jpg").unlink()
    summary = watcher.next()
    assert summary.removed == 1 and summary.indexed == 7


def test_a_deleted_library_root_stops_the_watch_and_is_not_recreated(watching: tuple[Path, Watching]) -> None:
    root, watcher = watching
    shutil.rmtree(root)
    ended = watcher.ended.get(timeout=20)
    assert isinstance(ended, ImrecError) and "deleted, moved or unmounted while watching" in str(ended)
    time.sleep(0.5)
    assert not root.exists()


def test_renaming_a_folder_with_most_of_the_library_is_a_move_not_a_lost_drive(tmp_path: Path) -> None:
    root = tmp_path / "library"
    (root / "trip").mkdir(parents=True)
    for number in range(150):
        (root / "trip" / f"{number:03d}.jpg").write_bytes(b"x" * (number + 1))
    (root / "other.jpg").write_bytes(b"other")
    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    scan_library(catalog, root)
    (root / "trip").rename(root / "trip-2024")
    report = scan_library(catalog, root)  # no MassRemovalError: every file is there, renamed
    assert (report.new, report.removed) == (150, 150)
    shutil.rmtree(root / "trip-2024")
    with pytest.raises(ImrecError, match="150 of 151 catalogued files are missing"):
        scan_library(catalog, root)  # really gone: refused as before
    catalog.close()


def test_sigterm_stops_the_watch_like_ctrl_c(indexed_photos: Path, tmp_path: Path, model_env: dict[str, str]) -> None:
    root = indexed_copy(indexed_photos, tmp_path / "library")
    process = subprocess.Popen(
        [sys.executable, "-m", "image_recommender", "watch", str(root), "--json", "--debounce", "0.2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=model_env,
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first update is done
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 130 and "stopped watching" in errors and "Traceback" not in errors

"""The face pass of indexing: every picture's content looked at once for faces, then grouped.

Like the text pass it walks the contents not looked at yet like a cursor, a batch of 16 per
transaction (a kill loses that batch at most), and records a file it cannot read with the
reason. A picture the gate rules out (``may_show_people``) is recorded as looked at, with no
faces, without running the detector. A video is looked at in up to ``VIDEO_FRAMES`` of the
frames its embedding kept (spread over them), each face keeping its frame's time; the frames
come from ``frames`` (``video.sampling.frames_at``, handed down by the library: this room does
not decode videos).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from image_recommender.catalog.faces import Face
from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import ImageDecodeError
from image_recommender.faces.detecting import DETECT_SIDE, MAX_FACES, FaceFinder, detector_copy, may_show_people
from image_recommender.faces.grouping import group_new
from image_recommender.images.decode import decode, read_file
from image_recommender.images.media import is_video
from image_recommender.reports import JsonReport

BATCH = 16
FaceProgress = Callable[[int, int], None]
FaceRecord = tuple[str, str, list[Face], str | None]
# (path, root, times, long side) -> (time, frame) for each time: how a video's frames are read.
FrameReader = Callable[[Path, Path, Sequence[float], int], Iterator[tuple[float, Image.Image]]]
# Frames of one video looked at, at most: a video costs at most this many pictures' detection
# (57 ms each on one core), however long it is.
VIDEO_FRAMES = 24


@dataclass
class FaceReport(JsonReport):
    """What one face pass did: pictures looked at (``ruled_out`` of them by the gate alone),
    how many show faces, the faces found, failures, people made, and its seconds."""

    looked: int = 0
    ruled_out: int = 0
    with_faces: int = 0
    faces: int = 0
    failed: int = 0
    new_people: int = 0
    joined: int = 0
    seconds: float = 0.0


def find_faces(
    catalog: Catalog,
    root: Path,
    finder: FaceFinder,
    progress: FaceProgress | None = None,
    workers: int | None = None,
    frames: FrameReader | None = None,
) -> FaceReport:
    """Look at every picture whose content was not looked at yet, then group the new faces.

    ``workers`` threads (default: one per core) read, decode and ask the detector at once:
    dlib's detector and Pillow's decoder release the GIL, so on 2 cores a picture takes 33 ms
    of the pass's time instead of 57 (docs/benchmarks.md, section 19).
    """
    started = time.perf_counter()
    report = FaceReport()
    done, total, _, _ = catalog.face_progress()
    after = 0
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        while rows := catalog.unread_faces(after, BATCH):
            after = rows[-1].id
            times = {row.id: catalog.frame_seconds(row.fingerprint or "") for row in rows if is_video(row.path)}
            seen = [times.get(row.id) for row in rows]
            looked = list(pool.map(_look, rows, [root] * len(rows), [finder] * len(rows), [frames] * len(rows), seen))
            records = [record for record, _ in looked if record is not None]
            catalog.store_faces(records, finder.engine)
            report.ruled_out += sum(ruled_out for _, ruled_out in looked)
            report.looked += sum(record[1] == "ok" for record in records)
            report.failed += sum(record[1] == "failed" for record in records)
            report.with_faces += sum(bool(record[2]) for record in records)
            report.faces += sum(len(record[2]) for record in records)
            done += len(records)
            if progress is not None:
                progress(done, total)
    grouped = group_new(catalog)
    report.new_people, report.joined = grouped.new_people, grouped.joined
    report.seconds = time.perf_counter() - started
    return report


def _look(
    image: ImageRow, root: Path, finder: FaceFinder, frames: FrameReader | None, times: list[float] | None
) -> tuple[FaceRecord | None, bool]:
    """(what to record of one picture or video, or None when it changed since it was embedded;
    whether the gate ruled it out)."""
    fingerprint = image.fingerprint or ""
    if times is not None:
        return _look_at_video(image, root, finder, frames, times)
    try:
        content = read_file(image.location(root), root)
        if content.fingerprint != image.fingerprint:
            return None, False  # changed since it was embedded: the next update looks at its new content
        decoded = decode(content.data, long_side=DETECT_SIDE).image
    except ImageDecodeError as exc:
        return (fingerprint, "failed", [], str(exc)), False
    if not may_show_people(decoded):
        return (fingerprint, "ok", [], None), True
    try:
        faces = finder.find(detector_copy(decoded), max(image.width or 0, image.height or 0) or None)
    except Exception as exc:  # dlib's own failure on one picture, recorded like a decode error
        return (fingerprint, "failed", [], f"face detection failed: {exc.__class__.__name__}: {exc}"[:300]), False
    return (fingerprint, "ok", faces, None), False


def _look_at_video(
    image: ImageRow, root: Path, finder: FaceFinder, frames: FrameReader | None, times: list[float]
) -> tuple[FaceRecord | None, bool]:
    """A video's faces in up to ``VIDEO_FRAMES`` of its kept frames, the largest ``MAX_FACES`` kept."""
    fingerprint = image.fingerprint or ""
    location = image.location(root)
    try:
        info = location.stat()
    except OSError as exc:
        return (fingerprint, "failed", [], f"cannot open: {exc.strerror or exc}"), False
    if (info.st_size, info.st_mtime_ns) != (image.size, image.mtime_ns):
        return None, False  # changed since it was embedded: the next update looks at its new content
    if frames is None or not times:
        return (fingerprint, "ok", [], None), True
    found: list[Face] = []
    gated = True
    original = max(image.width or 0, image.height or 0) or None
    try:
        for seconds, frame in frames(location, root, _spread(times, VIDEO_FRAMES), DETECT_SIDE):
            if may_show_people(frame):
                gated = False
                found += [dataclasses.replace(face, seconds=seconds) for face in finder.find(frame, original)]
    except ImageDecodeError as exc:
        return (fingerprint, "failed", [], str(exc)), False
    except Exception as exc:  # dlib's own failure on one frame, recorded like a decode error
        return (fingerprint, "failed", [], f"face detection failed: {exc.__class__.__name__}: {exc}"[:300]), False
    found.sort(key=lambda face: -face.side)
    return (fingerprint, "ok", found[:MAX_FACES], None), gated


def _spread(times: list[float], most: int) -> list[float]:
    """At most ``most`` of the times, evenly spread over them (the first and the last kept)."""
    if len(times) <= most:
        return times
    step = (len(times) - 1) / (most - 1)
    return sorted({times[round(i * step)] for i in range(most)})

"""The video pass: each new or changed video's kept frames embedded and written as one unit.

It runs after the pictures are embedded, with the model already loaded. A video is read once
to fingerprint it; a video whose content the catalog already holds (moved, copied, touched)
takes those frames' vectors without decoding. Otherwise its frames are sampled
(``sampling.py``), embedded ``batch`` at a time, and written with the video's facts in one
transaction: a kill loses at most the video in flight. A video damaged part-way keeps the
frames before the damage (its row says so); one that gives no frame fails with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from image_recommender.catalog.rows import ImageRow, VideoResult
from image_recommender.catalog.store import Catalog, vector_to_blob
from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import open_regular_file
from image_recommender.images.fingerprint import fingerprint_handle
from image_recommender.reports import JsonReport
from image_recommender.video.sampling import sample_video, video_metadata

Encode = Callable[[Sequence[Image.Image]], np.ndarray]
VideoProgress = Callable[[int, int, str], None]


@dataclass
class VideoReport(JsonReport):
    """One video pass: videos embedded (and their frames), reused, failed; frames decoded; where
    the time went (reading and sampling the videos, embedding the kept frames)."""

    videos: int = 0
    frames: int = 0
    reused: int = 0
    failed: int = 0
    decoded: int = 0
    seconds: float = 0.0
    sampling_seconds: float = 0.0
    embedding_seconds: float = 0.0

    def __iadd__(self, other: VideoReport) -> VideoReport:
        """Add another model's pass (a library with several models runs one for each)."""
        for name in (
            "videos",
            "frames",
            "reused",
            "failed",
            "decoded",
            "seconds",
            "sampling_seconds",
            "embedding_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


class _FrameEmbedder:
    """Kept frames embedded ``batch`` at a time as they are decoded (their pictures then let go)."""

    def __init__(self, encode: Encode, batch: int) -> None:
        self.encode, self.batch = encode, batch
        self.waiting: list[Image.Image] = []
        self.vectors: list[np.ndarray] = []
        self.seconds = 0.0

    def add(self, _seconds: float, picture: Image.Image) -> None:
        self.waiting.append(picture)
        if len(self.waiting) >= self.batch:
            self._flush()

    def finish(self) -> np.ndarray:
        self._flush()
        return np.concatenate(self.vectors) if self.vectors else np.zeros((0, 0), np.float32)

    def _flush(self) -> None:
        if self.waiting:
            started = time.perf_counter()
            self.vectors.append(self.encode(self.waiting))
            self.waiting = []
            self.seconds += time.perf_counter() - started


def embed_videos(
    catalog: Catalog,
    root: Path,
    model_id: int,
    work: Sequence[ImageRow],
    encode: Encode,
    batch: int,
    follow_symlinks: bool,
    progress: VideoProgress | None = None,
) -> VideoReport:
    """Embed the videos of ``work`` (the catalog's ``videos_to_embed`` for this model)."""
    report = VideoReport()
    started = time.perf_counter()
    for done, row in enumerate(work):
        if progress is not None:
            progress(done, len(work), row.path)
        result, decoded = _one_video(catalog, root, row, model_id, encode, batch, follow_symlinks, report)
        catalog.write_video(model_id, result)
        report.decoded += decoded
        if result.error is not None:
            report.failed += 1
        elif decoded:
            report.videos += 1
            report.frames += len(result.frames)
        else:
            report.reused += 1
    report.seconds = time.perf_counter() - started
    return report


def _one_video(
    catalog: Catalog,
    root: Path,
    row: ImageRow,
    model_id: int,
    encode: Encode,
    batch: int,
    follow_symlinks: bool,
    report: VideoReport,
) -> tuple[VideoResult, int]:
    """(what to write for the video, frames decoded: 0 when its frames were reused); the time
    spent reading and embedding is added to ``report``."""
    started = time.perf_counter()
    try:
        handle, info = open_regular_file(row.location(root), None if follow_symlinks else root)
    except OSError as exc:
        return VideoResult(row.id, error=f"cannot open: {exc.strerror or exc}"), 0
    except ImageDecodeError as exc:
        return VideoResult(row.id, error=str(exc)), 0
    with handle:
        fingerprint = fingerprint_handle(handle.fileno())
        held = catalog.frames_of_content(model_id, fingerprint)
        try:
            if held:
                stored, width, height, duration = held
                handle.seek(0)
                metadata = video_metadata(handle, info.st_mtime_ns)
                reused = VideoResult(
                    row.id,
                    fingerprint,
                    info.st_size,
                    info.st_mtime_ns,
                    width,
                    height,
                    tuple(stored),
                    metadata,
                    duration=duration,
                )
                return reused, 0
            handle.seek(0)
            embedder = _FrameEmbedder(encode, batch)
            sampled = sample_video(handle, info.st_mtime_ns, keep=embedder.add)
            vectors = embedder.finish()
        except ImageDecodeError as exc:
            return VideoResult(row.id, error=str(exc)), 0
    report.embedding_seconds += embedder.seconds
    report.sampling_seconds += time.perf_counter() - started - embedder.seconds
    frames = tuple(
        (seconds, vector_to_blob(vector)) for (seconds, _), vector in zip(sampled.frames, vectors, strict=True)
    )
    note = sampled.problem  # searchable by the frames before the damage, and says so
    result = VideoResult(
        row.id,
        fingerprint,
        info.st_size,
        info.st_mtime_ns,
        sampled.width,
        sampled.height,
        frames,
        sampled.metadata,
        note,
        duration=sampled.duration,
    )
    return result, sampled.decoded

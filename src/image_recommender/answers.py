"""What the library answers about itself: an index run's one-line summary and the status report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from image_recommender.index.sync import IndexStatus
from image_recommender.reports import JsonReport


@dataclass
class UpdateSummary(JsonReport):
    """The one-line summary of ``imrec index``."""

    scanned: int = 0
    new: int = 0
    changed: int = 0
    reused: int = 0
    embedded: int = 0
    failed: int = 0
    removed: int = 0
    indexed: int = 0
    rebuilt: bool = False
    seconds: float = 0.0
    images_per_second: float = 0.0
    unreadable: list[str] = field(default_factory=list)
    ray_nodes: int = 0
    ray_actors: int = 0
    waiting: int = 0
    embedding_images_per_second: float = 0.0
    text_read: int = 0
    text_found: int = 0
    text_failed: int = 0
    text_skipped: str = ""
    text_ruled_out_while_embedding: int = 0
    text_seconds: float = 0.0
    text_seconds_while_embedding: float = 0.0
    albums_mirrored: int = 0
    album_notes: list[str] = field(default_factory=list)
    videos: int = 0
    video_frames: int = 0
    video_frames_decoded: int = 0
    videos_reused: int = 0
    videos_failed: int = 0
    files: int = 0  # live files embedded, pictures and videos (a video has a vector per kept frame)
    videos_held: int = 0
    failed_in_library: int = 0  # files the catalog holds as failed, this run's and earlier ones
    faces_looked: int = 0
    faces_found: int = 0
    faces_failed: int = 0
    faces_ruled_out: int = 0
    faces_seconds: float = 0.0
    people_new: int = 0
    faces_skipped: str = ""

    @property
    def failed_now(self) -> int:
        """Files of this run that could not be read: pictures and videos."""
        return self.failed + self.videos_failed

    def holds(self) -> str:
        """ "index holds 69 vectors of 67 files (66 pictures, 1 video as 3 frames)": what the index counts."""
        if not self.videos_held or self.indexed < self.files:
            return f"index holds {self.indexed}"
        pictures = self.files - self.videos_held
        frames = self.indexed - pictures
        return (
            f"index holds {self.indexed} vectors of {self.files} files ({pictures} pictures,"
            f" {self.videos_held} video{'s' if self.videos_held != 1 else ''} as {frames} frames)"
        )

    def line(self) -> str:
        """The one-line summary. ``images_per_second`` is the whole run's (scan, model load and
        index included); the embedding stage's own rate is labelled as such. ``waiting`` counts
        files catalogued by an earlier run that stopped before embedding them."""
        done = self.embedded + self.reused
        rate = f", {self.images_per_second:.1f} images/s" if done else ""
        stage = f"; embedding alone {self.embedding_images_per_second:.1f} images/s" if self.embedded else ""
        cluster = f", on {self.ray_nodes} Ray node(s) with {self.ray_actors} model actor(s)" if self.ray_nodes else ""
        waiting = f" (+{self.waiting} waiting from an earlier run)" if self.waiting else ""
        text = ""
        if self.text_read or self.text_failed:
            failed = f", {self.text_failed} failed" if self.text_failed else ""
            during = (
                f", {self.text_seconds_while_embedding:.1f} s of it asking during embedding"
                if self.text_seconds_while_embedding >= 0.05
                else ""
            )
            text = f"; read text in {self.text_read} ({self.text_found} with text{failed}; {self.text_seconds:.1f} s{during})"
        elif self.text_skipped:
            text = f"; text in pictures not read: {self.text_skipped}"
        albums = f"; {self.albums_mirrored} album folder(s) brought up to date" if self.albums_mirrored else ""
        if self.faces_looked or self.faces_failed:
            failed = f", {self.faces_failed} failed" if self.faces_failed else ""
            albums = (
                f"; faces: looked at {self.faces_looked} ({self.faces_ruled_out} ruled out by colour), found"
                f" {self.faces_found}{failed}, {self.people_new} new people ({self.faces_seconds:.1f} s)"
            ) + albums
        elif self.faces_skipped:
            albums = f"; faces not looked for: {self.faces_skipped}" + albums
        videos = (
            f"; videos: {self.videos} embedded ({self.video_frames} frames kept of {self.video_frames_decoded}"
            f" decoded), {self.videos_reused} reused, {self.videos_failed} failed"
            if self.videos or self.videos_reused or self.videos_failed
            else ""
        )
        return (
            f"scanned {self.scanned}, new {self.new}{waiting}, changed {self.changed}, reused {self.reused}, "
            f"embedded {self.embedded}, failed {self.failed}, removed {self.removed}; "
            f"{self.holds()}{text}{videos}{albums} ({self.seconds:.1f} s{rate}{stage}{cluster})"
        )


@dataclass
class StatusReport:
    root: str
    catalog: str
    counts: dict[str, int]
    models: list[dict[str, Any]]
    model: str | None
    index: IndexStatus | None
    failures: list[tuple[str, str]]
    integrity: str | None = None
    text_model: str | None = None
    # The text pass: contents read, contents in the library, with text, failed; and whether it is on.
    text: dict[str, Any] = field(default_factory=dict)
    # Videos: how many are live, and those searchable by part of their frames, with why.
    videos: int = 0
    partial: list[tuple[str, str]] = field(default_factory=list)
    # The face pass: contents looked at, contents in the library, faces, failed, people; whether it is on.
    faces: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        index = None
        if self.index is not None:
            index = self.index.as_json()
        return {
            "root": self.root,
            "catalog": self.catalog,
            "counts": self.counts,
            "models": self.models,
            "model": self.model,
            "index": index,
            "failures": [{"path": path, "error": error} for path, error in self.failures],
            "integrity": self.integrity,
            "text_model": self.text_model,
            "text": self.text,
            "faces": self.faces,
            "videos": self.videos,
            "partial": [{"path": path, "note": note} for path, note in self.partial],
        }

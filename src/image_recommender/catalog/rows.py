"""The catalog's rows as the rest of the program sees them: plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from image_recommender.catalog.words import TextLine
from image_recommender.images.metadata import PhotoMetadata

if TYPE_CHECKING:
    pass


STATES = ("pending", "ok", "failed", "gone")


@dataclass(frozen=True)
class WalkDifferences:
    """What a folder walk found against the catalog; ``kept`` are missing files under folders
    that could not be read, ``live`` the catalogued files that were not gone before;
    ``reappeared`` of the gone files have a new file of the same size and time in this walk
    (a renamed or moved folder), so they are not missing."""

    new: int
    changed: int
    returned: int
    gone: int
    kept: int
    live: int
    reappeared: int = 0

    @property
    def any(self) -> bool:
        return bool(self.new or self.changed or self.returned or self.gone)


@dataclass(frozen=True)
class FileStat:
    """What a scan saw of one file."""

    path: str
    raw_path: bytes | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ImageRow:
    """One catalogued file as the rest of the program sees it."""

    id: int
    path: str
    raw_path: bytes | None
    size: int
    mtime_ns: int
    fingerprint: str | None
    width: int | None
    height: int | None
    state: str
    error: str | None
    taken_at: str | None = None
    taken_offset: str | None = None
    taken_from: str | None = None
    camera: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    duration: float | None = None  # a video's length in seconds

    def location(self, root: Path) -> Path:
        """The file on disk, exact even for names that are not valid UTF-8."""
        if self.raw_path is not None:
            return Path(root, self.raw_path.decode("utf-8", "surrogateescape"))
        return root / self.path


# The images table's columns in ImageRow's order.
IMAGE_COLUMNS = (
    "id, path, raw_path, size, mtime_ns, fingerprint, width, height, state, error,"
    " taken_at, taken_offset, taken_from, camera, latitude, longitude, duration"
)


def image_row(row: Sequence[object]) -> ImageRow:
    return ImageRow(*row)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelRow:
    """A model whose vectors the catalog holds, with what is needed to load it again."""

    id: int
    name: str
    pretrained: str
    dim: int
    weights: str
    config: str | None


@dataclass(frozen=True)
class EmbedResult:
    """The outcome for one file of one embed batch, as written in one transaction."""

    image_id: int
    fingerprint: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    width: int | None = None
    height: int | None = None
    vector: np.ndarray | None = None
    reuse_from: str | None = None
    error: str | None = None
    metadata: PhotoMetadata | None = None


@dataclass(frozen=True)
class VideoResult:
    """One video's outcome for one model: its frames (seconds, vector bytes) or why it failed;
    ``note`` says what was left out (frames after damage) while the video stays searchable."""

    image_id: int
    fingerprint: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    width: int | None = None
    height: int | None = None
    frames: tuple[tuple[float, bytes], ...] = ()
    metadata: PhotoMetadata | None = None
    note: str | None = None
    error: str | None = None
    duration: float | None = None


@dataclass(frozen=True)
class RetiredVector:
    """A vector whose file changed during this run, kept for files that now hold its content."""

    blob: bytes
    width: int | None
    height: int | None


@dataclass(frozen=True)
class WordMatch:
    """A live image whose recognised text holds the searched words: its lines, the folded text
    the index matched, and FTS5's bm25 rank (lower is better)."""

    image: ImageRow
    lines: list[TextLine]
    folded: str
    rank: float


@dataclass(frozen=True)
class AlbumRow:
    """A kept query: its name, the query as JSON, and where its results are mirrored (and how)."""

    id: int
    name: str
    query: str
    mirror: str | None
    mode: str | None


@dataclass(frozen=True)
class MadeFile:
    """A file an album made in its mirror folder: its name there, the image, what it points to
    (a link's target, a copy's source) and the size and time it had when made."""

    name: str
    image_id: int
    target: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ThemeRow:
    """A theme: its names (German, English; the user's own wins), how sure the naming is (the
    best name's share of the naming's softmax), the runners-up, its centre, its size, and how
    many images the library held when it was computed."""

    id: int
    name_de: str | None
    name_en: str | None
    user_name: str | None
    confidence: float
    runners_up: str
    centre: np.ndarray
    size: int
    images_then: int

    @property
    def name(self) -> str:
        return theme_name(self.user_name, self.name_de, self.name_en)


def theme_name(user_name: str | None, name_de: str | None, name_en: str | None) -> str:
    """What a user sees: their own name, else the German and English one, else "unbenannt"."""
    if user_name:
        return user_name
    return f"{name_de} ({name_en})" if name_de else "unbenannt (unnamed)"

"""Queries: terms (files, ids, texts, weighted, negative), their combined vector, and the k best
live images for it with exact copies folded into one result.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import QueryError, UnknownImageError
from image_recommender.filters import PhotoFilter, check_sort
from image_recommender.images.media import IMAGE_SUFFIXES
from image_recommender.index.sync import LibraryIndex

if TYPE_CHECKING:
    from PIL import Image

MAX_IMAGE_ID = 2**63 - 1  # SQLite's largest integer


_WEIGHT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)):(.+)", re.DOTALL)


TermKind = Literal["file", "id", "text"]


# Smallest region side in pixels: the model scales the region to its input (224 px for
# ViT-L-14); below this there is nothing left to recognise.
MIN_REGION_SIDE = 8


@dataclass(frozen=True)
class Crop:
    """A region of a query picture (``--crop X,Y,W,H``): X, Y, width, height as given, in pixels
    of the upright picture, or fractions of its width and height when ``fractions``."""

    x: float
    y: float
    width: float
    height: float
    fractions: bool
    text: str

    def box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels of a picture of ``size``; one line when the
        region does not lie inside it or is too small."""
        width, height = size
        scale = (width, height) if self.fractions else (1, 1)
        left, top = round(self.x * scale[0]), round(self.y * scale[1])
        right, bottom = round((self.x + self.width) * scale[0]), round((self.y + self.height) * scale[1])
        if right > width or bottom > height:
            raise QueryError(f"--crop {self.text}: reaches beyond the picture ({width} x {height} pixels)")
        if min(right - left, bottom - top) < MIN_REGION_SIDE:
            raise QueryError(f"--crop {self.text}: the region is under {MIN_REGION_SIDE} pixels on a side")
        return left, top, right, bottom

    def cut(self, picture: Image.Image) -> Image.Image:
        return picture.crop(self.box(picture.size))

    def describe(self) -> str:
        return f"[{self.text}]"


def parse_crop(text: str) -> Crop:
    """``X,Y,W,H``: four numbers, not negative, width and height above 0; all four at most 1
    means fractions of the picture, else pixels (whole numbers)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(value) for value in values):
        raise QueryError(f"--crop {text!r}: give X,Y,WIDTH,HEIGHT, in pixels or as fractions 0-1 (e.g. 0.5,0,0.5,1)")
    x, y, width, height = values
    if min(x, y) < 0 or width <= 0 or height <= 0:
        raise QueryError(f"--crop {text!r}: X and Y must not be negative, WIDTH and HEIGHT must be above 0")
    fractions = max(values) <= 1
    if fractions and (x + width > 1 + 1e-9 or y + height > 1 + 1e-9):
        raise QueryError(f"--crop {text!r}: as fractions, X+WIDTH and Y+HEIGHT must be at most 1")
    if not fractions and not all(value.is_integer() for value in values):
        raise QueryError(f"--crop {text!r}: pixels are whole numbers (fractions are all between 0 and 1)")
    return Crop(x, y, width, height, fractions, ",".join(parts))


@dataclass(frozen=True)
class Term:
    """One part of a query: what it is, how much it counts, whether it pushes away, and for a
    picture, the region of it that counts (embedded from the file)."""

    kind: TermKind
    value: str
    weight: float = 1.0
    negative: bool = False
    crop: Crop | None = None
    at: float | None = None  # for a video's id: the moment (seconds) whose frame counts

    def describe(self) -> str:
        sign = "-" if self.negative else "+"
        weight = "" if self.weight == 1.0 else f"{self.weight:g}*"
        shown = f"#{self.value}" if self.kind == "id" else repr(self.value) if self.kind == "text" else self.value
        moment = f"@{self.at:g}s" if self.at is not None else ""
        return f"{sign}{weight}{shown}{moment}{self.crop.describe() if self.crop is not None else ''}"


def _split_weight(raw: str) -> tuple[float, str]:
    match = _WEIGHT.fullmatch(raw)
    if match is None:
        return 1.0, raw
    weight = float(match.group(1))
    if weight == 0 or not np.isfinite(weight):
        raise QueryError(f"{raw!r}: a term's weight must be a non-zero number")
    return weight, match.group(2)


def parse_term(raw: str, negative: bool = False, kind: TermKind | None = None) -> Term:
    """Parse ``[WEIGHT:]VALUE``; without ``kind``, a file (or what looks like one) is an image, else text.

    A negative weight flips the term's sign. An existing file whose name merely looks
    weighted (``2:cat.jpg``) is taken as that file; a term known to be text is taken as is.
    """
    if raw == "":
        raise QueryError("empty query term")
    if kind == "text":  # words as given: "16:9 panorama" is not 16 x "9 panorama"
        if not raw.strip():
            raise QueryError("empty text query")
        return Term("text", raw, 1.0, negative)
    if os.path.isfile(raw):
        return Term("file", raw, 1.0, negative)
    weight, value = _split_weight(raw)
    if weight < 0:
        weight, negative = -weight, not negative
    guessed = kind is None
    if kind is None:
        kind = "file" if os.path.isfile(value) or _looks_like_a_path(value) else "text"
    if kind == "file" and os.path.isdir(value):
        raise QueryError(f"{value}: is a folder, not an image file")
    if kind == "file" and not os.path.isfile(value):
        hint = " (to search for these words, use --text)" if guessed else ""
        raise QueryError(f"{value}: no such image file{hint}")
    at = None
    if kind == "id":
        value, _, moment = value.partition("@")
        if not value.strip().isdigit():
            raise QueryError(f"{value!r}: an image id is a whole number (see 'imrec search --json' output)")
        value = _image_id(value)
        at = parse_moment(moment) if moment else None
    if kind == "text" and not value.strip():
        raise QueryError("empty text query")
    return Term(kind, value, weight, negative, at=at)


_MOMENT = re.compile(r"(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)")


def parse_moment(text: str) -> float:
    """ "83.5", "1:23" or "1:02:03" as seconds: the moment of a video (``--like-id 42@1:23``)."""
    match = _MOMENT.fullmatch(text.strip())
    if match is None:
        raise QueryError(f"@{text}: give a video's moment as seconds (83.5) or minutes:seconds (1:23)")
    parts = [float(part) for part in match.groups() if part is not None]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _looks_like_a_path(value: str) -> bool:
    """A bare term naming a missing file or a folder is a mistake to report, not words to search for.

    ``--text`` still searches for any words, these included.
    """
    has_image_suffix = os.path.splitext(value)[1].lower() in IMAGE_SUFFIXES
    return has_image_suffix or os.path.isdir(value) or (os.sep in value and not any(c.isspace() for c in value))


def _image_id(digits: str) -> str:
    """A digit string as an id; one beyond SQLite's integers cannot name an image."""
    if int(digits) > MAX_IMAGE_ID:
        raise UnknownImageError(f"image id {digits.strip()}: no indexed image with that id")
    return str(int(digits))


def parse_file_or_id(raw: str, negative: bool = False) -> Term:
    """For --unlike and recommend: an existing file, else a number is an indexed image id."""
    weight, value = _split_weight(raw) if not os.path.isfile(raw) else (1.0, raw)
    if not os.path.isfile(value) and value.strip().isdigit():
        return Term("id", _image_id(value), abs(weight), negative != (weight < 0))
    return parse_term(raw, negative, "file")


def combine(vectors: Sequence[np.ndarray], terms: Sequence[Term]) -> np.ndarray:
    """The normalised weighted sum; refuses queries whose terms cancel out."""
    total = np.zeros_like(vectors[0], dtype=np.float64)
    for vector, term in zip(vectors, terms, strict=True):
        total += (-term.weight if term.negative else term.weight) * vector.astype(np.float64)
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise QueryError("the query's terms cancel each other out; give more weight to what you like")
    return (total / norm).astype(np.float32)


@dataclass(frozen=True)
class SearchResult:
    """One ranked match, with when and with which camera it was taken (where known)."""

    rank: int
    id: int
    path: str
    score: float
    width: int | None
    height: int | None
    taken_at: str | None = None
    camera: str | None = None
    taken_from: str | None = None  # "exif", or "mtime" when ``taken_at`` is only the file's time
    copies: tuple[str, ...] = ()  # other paths holding exactly this file (folded into this result)
    text_match: tuple[str, ...] = ()  # the recognised lines that hold the searched words
    theme: str | None = None  # the name of the theme it belongs to, where the library has themes
    place: str | None = None  # where it was taken: "Westerland, Schleswig-Holstein, Germany"
    place_short: str | None = None  # the same for a line: "Westerland, Germany", "St. Pauli, Hamburg"
    paths: tuple[str, ...] = ()  # one photo's files: a RAW's JPEG/HEIC sibling (shown) and the RAW
    timestamp: float | None = None  # a video's best-matching moment, in seconds from its start
    duration: float | None = None  # a video's length in seconds

    def as_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "id": self.id,
            "path": self.path,
            "score": round(self.score, 6),
            "width": self.width,
            "height": self.height,
            "taken_at": self.taken_at,
            "taken_from": self.taken_from,
            "camera": self.camera,
            "copies": list(self.copies),
            "text_match": list(self.text_match) or None,
            "theme": self.theme,
            "place": self.place,
            "place_short": self.place_short,
            "paths": list(self.paths) or [self.path],
            "kind": "video" if self.timestamp is not None else "image",
            "timestamp": None if self.timestamp is None else round(self.timestamp, 3),
            "duration": None if self.duration is None else round(self.duration, 3),
        }


@dataclass(frozen=True)
class SearchKnobs:
    """How hard a search looks: the HNSW beam, the IVF lists visited, the candidates re-ranked
    exactly (0: chosen by the index's kind and size)."""

    ef_search: int = 0
    nprobe: int = 0
    rerank: int = 0


# Candidates asked for beyond k, so ties at the k-th place are broken by id, not by the index.
TIE_MARGIN = 8


# How far a search looks for k distinct pictures when exact copies fill its first places.
MAX_FOLD_WANTED = 2000


def search_vectors(
    catalog: Catalog,
    index: LibraryIndex,
    query: np.ndarray,
    k: int,
    knobs: SearchKnobs = SearchKnobs(),
    exclude_images: Sequence[int] = (),
    photo_filter: PhotoFilter | None = None,
    min_score: float | None = None,
    all_copies: bool = False,
) -> list[SearchResult]:
    """The k best live images for a query vector, after filters.

    ``photo_filter`` (folder, dates, camera, place) is applied inside the index search, so k
    results come back whenever k images match. Exact copies of one file are one result (the
    others listed as its ``copies``) unless ``all_copies``; the search then looks further so
    that k distinct pictures come back.
    """
    model_id = index.model.id
    excluded = catalog.labels_of_images(exclude_images, model_id) if exclude_images else np.zeros(0, np.int64)
    filtered = photo_filter is not None and photo_filter.active
    allowed = catalog.live_labels_matching(model_id, photo_filter) if photo_filter is not None and filtered else None
    wanted = k
    while True:
        # TIE_MARGIN more: equal scores at the k-th place are picked by id, the same for every kind.
        candidates = index.nearest(
            query, wanted, knobs.ef_search, allowed, excluded, knobs.nprobe, knobs.rerank, TIE_MARGIN
        )
        if min_score is not None:
            candidates = [item for item in candidates if item[0] >= min_score]
        images = catalog.images_by_labels([label for _, label in candidates])
        labelled = [(score, images[label], label) for score, label in candidates if label in images]
        # Best first; equal scores (an exact copy and its original) by image id, whatever the index kind.
        labelled.sort(key=lambda item: (-round(item[0], 6), item[1].id, item[2]))
        found, moments = _best_frames(catalog, labelled)
        ranked = [(score, image, ()) for score, image in found] if all_copies else _fold_copies(found)
        exhausted = len(candidates) < wanted + TIE_MARGIN
        if len(ranked) >= k or exhausted or wanted >= MAX_FOLD_WANTED:
            break
        wanted = min(MAX_FOLD_WANTED, wanted * 4)  # copies took places: look further
    return [
        SearchResult(
            rank,
            image.id,
            image.path,
            score,
            image.width,
            image.height,
            image.taken_at,
            image.camera,
            image.taken_from,
            copies,
            timestamp=moments.get(image.id),
            duration=image.duration,
        )
        for rank, (score, image, copies) in enumerate(ranked[:k], start=1)
    ]


def _best_frames(
    catalog: Catalog, labelled: list[tuple[float, ImageRow, int]]
) -> tuple[list[tuple[float, ImageRow]], dict[int, float]]:
    """One entry per picture or video (best first): a video's best frame stands for it and
    gives its moment (image id -> seconds)."""
    seen: set[int] = set()
    best: list[tuple[float, ImageRow]] = []
    labels: dict[int, int] = {}
    for score, image, label in labelled:
        if image.id not in seen:
            seen.add(image.id)
            best.append((score, image))
            labels[image.id] = label
    times = catalog.frame_times(list(labels.values()))
    return best, {image_id: times[label] for image_id, label in labels.items() if label in times}


def _fold_copies(found: list[tuple[float, ImageRow]]) -> list[tuple[float, ImageRow, tuple[str, ...]]]:
    """One result per content: exact copies (same fingerprint) fold into the first of them."""
    first: dict[str, int] = {}
    folded: list[tuple[float, ImageRow, list[str]]] = []
    for score, image in found:
        at = first.get(image.fingerprint or "") if image.fingerprint else None
        if at is None:
            if image.fingerprint:
                first[image.fingerprint] = len(folded)
            folded.append((score, image, []))
        else:
            folded[at][2].append(image.path)
    return [(score, image, tuple(copies)) for score, image, copies in folded]


def sort_results(results: list[SearchResult], order: str) -> list[SearchResult]:
    """``score`` keeps the ranking; ``date`` orders the same results by when they were taken, undated last."""
    check_sort(order)
    if order == "score":
        return results
    by_date = sorted(results, key=lambda result: (result.taken_at is None, result.taken_at or "", result.rank))
    return [dataclasses.replace(result, rank=position) for position, result in enumerate(by_date, start=1)]

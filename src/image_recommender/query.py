"""Queries: turn weighted +/- terms into one vector, search the index, filter and rank.

A term is an image file, an image already in the library (by id), or a text. The query
vector is the normalised weighted sum of the positive terms' vectors minus the negative
ones'. Searching excludes vectors that are no longer live (deleted or replaced files) and
scores vectors the index does not hold yet exactly, so results are always current.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from image_recommender.catalog import Catalog, ImageRow
from image_recommender.errors import QueryError, UnknownImageError
from image_recommender.index import COMPRESSED_KINDS, IndexParams, LibraryIndex, VectorIndex, default_ef_search
from image_recommender.scan import IMAGE_SUFFIXES

MAX_IMAGE_ID = 2**63 - 1  # SQLite's largest integer
_WEIGHT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+)):(.+)", re.DOTALL)

TermKind = Literal["file", "id", "text"]


@dataclass(frozen=True)
class Term:
    """One part of a query: what it is, how much it counts, and whether it pushes away."""

    kind: TermKind
    value: str
    weight: float = 1.0
    negative: bool = False

    def describe(self) -> str:
        sign = "-" if self.negative else "+"
        weight = "" if self.weight == 1.0 else f"{self.weight:g}*"
        shown = f"#{self.value}" if self.kind == "id" else repr(self.value) if self.kind == "text" else self.value
        return f"{sign}{weight}{shown}"


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
    if kind == "id":
        if not value.strip().isdigit():
            raise QueryError(f"{value!r}: an image id is a whole number (see 'imrec search --json' output)")
        value = _image_id(value)
    if kind == "text" and not value.strip():
        raise QueryError("empty text query")
    return Term(kind, value, weight, negative)


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
        }


_DATE_FORMATS = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}
# The end of a period that ends with the calendar (year 9999): after every time of its last day.
_END_OF_CALENDAR = "9999-12-31T24:00:00"
SORT_ORDERS = ("score", "date")


def date_range(text: str, option: str) -> tuple[str, str]:
    """A year, month or day ("2019", "2019-06", "2024-12-24") as [start, end) in catalog time text."""
    value = text.strip()
    try:
        start = datetime.strptime(value, _DATE_FORMATS[len(value)])
    except (KeyError, ValueError):
        raise QueryError(f"{option} {text!r}: give a year, month or day as YYYY, YYYY-MM or YYYY-MM-DD") from None
    try:
        if len(value) == 4:
            end = start.replace(year=start.year + 1)
        elif len(value) == 7:
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            end = start + timedelta(days=1)
        end_text = end.strftime("%Y-%m-%dT%H:%M:%S")
    except (ValueError, OverflowError):  # the next period would be in year 10000
        end_text = _END_OF_CALENDAR
    return start.strftime("%Y-%m-%dT%H:%M:%S"), end_text


@dataclass(frozen=True)
class PhotoFilter:
    """Which images a search may return: a folder prefix ("a/b/", "" for all), a time range on
    the date taken (``after`` inclusive, ``before`` exclusive, local camera time), and a camera
    (case-insensitive substring of "Make Model")."""

    folder: str | None = None
    after: str | None = None
    before: str | None = None
    camera: str | None = None
    near: tuple[float, float, float] | None = None  # latitude, longitude, radius in km

    @classmethod
    def from_options(
        cls,
        folder: str | None = None,
        after: str | None = None,
        before: str | None = None,
        taken_on: str | None = None,
        camera: str | None = None,
        near: str | None = None,
        radius: str | None = None,
    ) -> PhotoFilter:
        """From the CLI's and API's words: --after/--before a month, --taken-on a day, --camera a name,
        --near LAT,LON within --radius (default 1 km)."""
        start = date_range(after, "--after")[0] if after else None
        end = date_range(before, "--before")[0] if before else None
        if taken_on:
            day_start, day_end = date_range(taken_on, "--taken-on")
            start, end = max(filter(None, (start, day_start))), min(filter(None, (end, day_end)))
        if start and end and start >= end:
            raise QueryError(f"no date is both on or after {start[:10]} and before {end[:10]}")
        if camera is not None and not camera.strip():
            raise QueryError("--camera: give part of a camera's name, e.g. 'Pixel 7'")
        if radius is not None and near is None:
            raise QueryError("--radius needs --near LAT,LON")
        place = (*parse_place(near), parse_radius(radius or DEFAULT_RADIUS)) if near is not None else None
        return cls(folder, start, end, camera.strip() if camera else None, place)

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.folder, self.after, self.before, self.camera, self.near))


DEFAULT_RADIUS = "1km"
_RADIUS = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(km|m)?\s*", re.IGNORECASE)


def parse_place(text: str) -> tuple[float, float]:
    """ "48.8584,2.2945" (decimal degrees, latitude first) as numbers, or a one-line error."""
    parts = text.split(",")
    try:
        latitude, longitude = (float(part) for part in parts)
    except ValueError:
        raise QueryError(f"--near {text!r}: give LATITUDE,LONGITUDE in decimal degrees, e.g. 48.8584,2.2945") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise QueryError(f"--near {text!r}: latitude must be -90 to 90 and longitude -180 to 180")
    return latitude, longitude


def parse_radius(text: str) -> float:
    """ "5km", "500m" or "5" (km) as kilometres, or a one-line error."""
    match = _RADIUS.fullmatch(text)
    if match is None or float(match.group(1)) <= 0:
        raise QueryError(f"--radius {text!r}: give a distance such as 5km or 500m")
    amount = float(match.group(1))
    return amount / 1000 if (match.group(2) or "km").lower() == "m" else amount


def check_sort(order: str) -> None:
    if order not in SORT_ORDERS:
        raise QueryError(f"--sort {order!r}: choose {' or '.join(SORT_ORDERS)}")


def sort_results(results: list[SearchResult], order: str) -> list[SearchResult]:
    """``score`` keeps the ranking; ``date`` orders the same results by when they were taken, undated last."""
    check_sort(order)
    if order == "score":
        return results
    by_date = sorted(results, key=lambda result: (result.taken_at is None, result.taken_at or "", result.rank))
    return [dataclasses.replace(result, rank=position) for position, result in enumerate(by_date, start=1)]


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
        found = [(score, images[label]) for score, label in candidates if label in images]
        # Best first; equal scores (an exact copy and its original) by image id, whatever the index kind.
        found.sort(key=lambda item: (-round(item[0], 6), item[1].id))
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
        )
        for rank, (score, image, copies) in enumerate(ranked[:k], start=1)
    ]


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


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are the same picture (``exact``, ``near``), or a ``burst`` of similar shots
    taken seconds apart by one camera (similar, never proposed for removal); ``keeper`` is the
    one to keep."""

    kind: Literal["exact", "near", "burst"]
    images: list[ImageRow]
    keeper: ImageRow
    score: float

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "score": 1.0 if self.kind == "exact" else shown_score(self.score, 6),
            "keeper": {"id": self.keeper.id, "path": self.keeper.path},
            "images": [
                {
                    "id": image.id,
                    "path": image.path,
                    "width": image.width,
                    "height": image.height,
                    "size": image.size,
                    "taken_at": image.taken_at,
                    "camera": image.camera,
                }
                for image in self.images
            ],
        }

    @property
    def removable(self) -> list[ImageRow]:
        """What resolving the group moves away: every image but the keeper; nothing of a burst."""
        return [] if self.kind == "burst" else [image for image in self.images if image.id != self.keeper.id]


# Originals before exports: a phone's HEIC (or a camera's RAW) is the picture, a JPEG beside
# it is a converted copy even when it has more pixels.
ORIGINAL_SUFFIXES = frozenset(
    {".heic", ".heif", ".avif", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"}
)
BURST_SECONDS = 10
# Images whose neighbours one step of ``find_duplicates`` looks up (and whose proposed
# neighbours' float32 vectors it reads: up to 68 each).
DUPLICATES_CHUNK = 1024


def choose_keeper(images: Sequence[ImageRow], prefer_folder: str | None = None) -> ImageRow:
    """The one to keep: inside ``prefer_folder`` (a catalog prefix) first, then an original format
    (HEIC/RAW), then the most pixels, the earliest date taken, the shortest path."""

    def rank(image: ImageRow) -> tuple[object, ...]:
        outside = prefer_folder is not None and not image.path.startswith(prefer_folder)
        original = os.path.splitext(image.path)[1].lower() in ORIGINAL_SUFFIXES
        pixels = (image.width or 0) * (image.height or 0)
        return (outside, not original, -pixels, image.taken_at or "~", image.mtime_ns, len(image.path), image.path)

    return min(images, key=rank)


def shown_score(score: float, digits: int) -> float:
    """A similarity cut to ``digits`` decimals, never rounded up: two images that are not
    identical never show as 1.000."""
    scale = 10**digits
    return math.floor(score * scale) / scale


def same_shot(a: ImageRow, b: ImageRow) -> bool:
    """One exposure in two files: the same EXIF time to the second and fraction, in another format
    or size (a phone's HEIC and its JPEG export). Burst frames have times of their own, or share
    one second in the same format and size, and then count as different shots."""
    if a.taken_at != b.taken_at:
        return False
    suffix_a, suffix_b = os.path.splitext(a.path)[1].lower(), os.path.splitext(b.path)[1].lower()
    return suffix_a != suffix_b or (a.width, a.height) != (b.width, b.height)


def burst_pair(a: ImageRow, b: ImageRow) -> bool:
    """Two different shots by one camera whose EXIF times lie within ``BURST_SECONDS``."""
    dated = all(image.taken_from == "exif" and image.camera and image.taken_at for image in (a, b))
    if not dated or a.camera != b.camera or same_shot(a, b):
        return False
    assert a.taken_at is not None and b.taken_at is not None
    apart = datetime.fromisoformat(a.taken_at) - datetime.fromisoformat(b.taken_at)
    return abs(apart.total_seconds()) <= BURST_SECONDS


def is_burst(images: Sequence[ImageRow]) -> bool:
    """True when any two of the images are burst shots: the whole group is then kept, whatever
    else joined it."""
    return any(burst_pair(a, b) for number, a in enumerate(images) for b in images[number + 1 :])


def _union_find_groups(pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    parent: dict[int, int] = {}

    def find(item: int) -> int:
        parent.setdefault(item, item)
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for a, b in pairs:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    groups: dict[int, list[int]] = {}
    for item in parent:
        groups.setdefault(find(item), []).append(item)
    return [sorted(members) for members in groups.values() if len(members) > 1]


def find_duplicates(
    catalog: Catalog,
    index: LibraryIndex | None,
    threshold: float,
    ef_search: int,
    neighbours: int = 16,
    prefer_folder: str | None = None,
) -> list[DuplicateGroup]:
    """Exact groups (same content) and near groups, reported apart.

    Near groups are found among one representative per distinct content (the keeper of its
    exact group), so exact copies never show up twice. The index proposes neighbours; pairs at
    cosine >= threshold join into clusters, and each cluster is then cut into groups around a
    keeper: a group holds the keeper and only the images whose own cosine *with the keeper*
    meets the threshold (exact, from the catalog's vectors), so a chain of look-alikes (A like
    B like C) never puts C under "would move" when C is not itself like the keeper. Images
    left over form groups around their own keeper the same way. A group with two burst shots
    in it is a burst, kept whole. Images are looked up ``DUPLICATES_CHUNK`` at a time.
    """
    exact = [
        DuplicateGroup("exact", group, choose_keeper(group, prefer_folder), 1.0)
        for group in catalog.exact_duplicate_groups()
    ]
    if index is None:
        return exact
    copies = [image.id for group in exact for image in group.images if image.id != group.keeper.id]
    labels = np.setdiff1d(catalog.live_labels(index.model.id), catalog.labels_of_images(copies, index.model.id))
    if len(labels) < 2:
        return exact
    committed = index.committed() or _flat_index(catalog, labels, index.model.dim)
    others = np.setdiff1d(committed.labels(), labels)  # stale vectors and the copies already grouped as exact
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(labels), DUPLICATES_CHUNK):
        queries, vectors = catalog.vectors_by_labels(labels[start : start + DUPLICATES_CHUNK].tolist())
        if not len(queries):
            continue
        scores, found = _neighbours(catalog, index, committed, vectors, neighbours, ef_search, others)
        for row, label in enumerate(queries.tolist()):
            for score, other in zip(scores[row].tolist(), found[row].tolist(), strict=True):
                if other >= 0 and other != label and score >= threshold:
                    pairs.add((min(label, other), max(label, other)))
    clusters = _union_find_groups(sorted(pairs))
    images = catalog.images_by_labels(sorted({label for members in clusters for label in members}))
    near = []
    for members in clusters:
        near += _around_keepers(catalog, members, images, threshold, prefer_folder)
    return exact + near


def _around_keepers(
    catalog: Catalog, members: list[int], images: dict[int, ImageRow], threshold: float, prefer_folder: str | None
) -> list[DuplicateGroup]:
    """One cluster of look-alikes cut into groups whose every image meets the threshold with its keeper."""
    found, vectors = catalog.vectors_by_labels(members)
    vector_of = dict(zip(found.tolist(), vectors, strict=True))
    remaining = [label for label in members if label in vector_of and label in images]
    groups = []
    while len(remaining) > 1:
        keeper = choose_keeper([images[label] for label in remaining], prefer_folder)
        keeper_label = next(label for label in remaining if images[label].id == keeper.id)
        scores = {label: float(vector_of[label] @ vector_of[keeper_label]) for label in remaining}
        joined = [label for label in remaining if label == keeper_label or scores[label] >= threshold]
        remaining = [label for label in remaining if label not in joined]
        if len(joined) < 2:
            continue
        group = [images[label] for label in joined]
        kind: Literal["near", "burst"] = "burst" if is_burst(group) else "near"
        weakest = min(scores[label] for label in joined if label != keeper_label)
        groups.append(DuplicateGroup(kind, group, keeper, weakest))
    return groups


def _flat_index(catalog: Catalog, labels: np.ndarray, dim: int) -> VectorIndex:
    """An exact index of these vectors, for a library whose index is not built yet."""
    flat = VectorIndex.empty(IndexParams(kind="flat"), "", "", dim, len(labels))
    for start in range(0, len(labels), DUPLICATES_CHUNK):
        flat.add(*catalog.vectors_by_labels(labels[start : start + DUPLICATES_CHUNK].tolist()))
    return flat


def _neighbours(
    catalog: Catalog,
    index: LibraryIndex,
    committed: VectorIndex,
    vectors: np.ndarray,
    neighbours: int,
    ef_search: int,
    others: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(exact cosines, labels) of each vector's nearest others; a compressed index proposes four
    times as many, re-scored from the float32 vectors of the index's vector file (else the catalog)."""
    compressed = committed.meta.params.kind in COMPRESSED_KINDS
    wanted = 4 * (neighbours + 1) if compressed else neighbours + 1
    beam = ef_search or default_ef_search(committed.meta.count)
    scores, rows = committed.search_rows(vectors, wanted, beam, exclude=others)
    found = np.where(rows >= 0, committed.labels()[rows], -1)
    if not compressed:
        return scores, found
    proposed = np.unique(rows[rows >= 0])
    copies = index.vectors_at(committed, proposed)
    held, stored = copies if copies is not None else catalog.vectors_by_labels(committed.labels()[proposed].tolist())
    if not len(held):
        return np.zeros(found.shape, np.float32), np.full_like(found, -1)
    order = np.argsort(held)
    held, stored = held[order], stored[order]
    at = np.minimum(np.searchsorted(held, found), len(held) - 1)
    found = np.where((found >= 0) & (held[at] == found), found, -1)
    scores = np.stack([stored[at[row]] @ vector for row, vector in enumerate(vectors)])
    return scores, found

"""Finding duplicates: exact copies, near duplicates built around a keeper, and bursts."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import numpy as np

from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.images.media import RAW_SUFFIXES
from image_recommender.images.raw import is_raw, pair_key
from image_recommender.index.kinds import COMPRESSED_KINDS, IndexParams, default_ef_search
from image_recommender.index.milvus import MilvusIndex
from image_recommender.index.storage import VectorIndex
from image_recommender.index.sync import LibraryIndex


@dataclass(frozen=True)
class DuplicateGroup:
    """Images that are the same picture (``exact``, ``near``), or a ``burst`` of similar shots
    taken seconds apart by one camera (similar, never proposed for removal); ``keeper`` is the
    one to keep."""

    kind: Literal["exact", "near", "burst"]
    images: list[ImageRow]
    keeper: ImageRow
    score: float
    # A near group's exact copies of its members: copy's id -> the member's id (see _nest_exact).
    copies: dict[int, int] = field(default_factory=dict)

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
                    **({"copy_of": self.copies[image.id]} if image.id in self.copies else {}),
                }
                for image in self.images
            ],
        }

    @property
    def removable(self) -> list[ImageRow]:
        """What resolving the group moves away: every image but the keeper; nothing of a burst."""
        return [] if self.kind == "burst" else [image for image in self.images if image.id != self.keeper.id]


# Originals before exports: a camera's RAW, then a phone's HEIC, is the picture; a JPEG beside
# it is a converted copy even when it has more pixels.
ORIGINAL_SUFFIXES = frozenset({".heic", ".heif", ".avif"}) | RAW_SUFFIXES


BURST_SECONDS = 10


# Images whose neighbours one step of ``find_duplicates`` looks up (and whose proposed
# neighbours' float32 vectors it reads: up to 68 each).
DUPLICATES_CHUNK = 1024


def choose_keeper(images: Sequence[ImageRow], prefer_folder: str | None = None) -> ImageRow:
    """The one to keep: inside ``prefer_folder`` (a catalog prefix) first, then a RAW, then another
    original format (HEIC), then the most pixels, the earliest date taken, the shortest path."""

    def rank(image: ImageRow) -> tuple[object, ...]:
        outside = prefer_folder is not None and not image.path.startswith(prefer_folder)
        original = os.path.splitext(image.path)[1].lower() in ORIGINAL_SUFFIXES
        pixels = (image.width or 0) * (image.height or 0)
        return (
            outside,
            not is_raw(image.path),
            not original,
            -pixels,
            image.taken_at or "~",
            image.mtime_ns,
            len(image.path),
            image.path,
        )

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
    raw_pairs: bool = True,
) -> list[DuplicateGroup]:
    """Exact groups (same content) and near groups, reported apart.

    Near groups are found among one representative per distinct content (the keeper of its
    exact group), so exact copies never show up twice. The index proposes neighbours; pairs at
    cosine >= threshold join into clusters, and each cluster is then cut into groups around a
    keeper: a group holds the keeper and only the images whose own cosine *with the keeper*
    meets the threshold (exact, from the catalog's vectors), so a chain of look-alikes (A like
    B like C) never puts C under "would move" when C is not itself like the keeper. Images
    left over form groups around their own keeper the same way. A group with two burst shots
    in it is a burst, kept whole. With ``raw_pairs``, a RAW and its JPEG/HEIC sibling (same
    folder and name) are one photo, never each other's duplicates. Images are looked up ``DUPLICATES_CHUNK`` at a time.
    """
    exact = [
        DuplicateGroup("exact", group, choose_keeper(group, prefer_folder), 1.0)
        for group in catalog.exact_duplicate_groups()
    ]
    if index is None:
        return exact
    copies = [image.id for group in exact for image in group.images if image.id != group.keeper.id]
    # Pictures only: a video is never a near duplicate because of one similar frame.
    labels = np.setdiff1d(catalog.live_picture_labels(index.model.id), catalog.labels_of_images(copies, index.model.id))
    if len(labels) < 2:
        return exact
    committed = index.committed()
    if committed is None and isinstance(index, MilvusIndex):  # asked in Milvus: no vectors held here
        others = np.setdiff1d(index.held(), labels)
        milvus = index

        def nearest(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return milvus.neighbours(vectors, neighbours + 1, ef_search, others)
    else:
        held = committed or _flat_index(catalog, labels, index.model.dim)
        others = np.setdiff1d(held.labels(), labels)  # stale vectors and the copies already grouped as exact

        def nearest(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return _neighbours(catalog, held, vectors, neighbours, ef_search, others)

    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(labels), DUPLICATES_CHUNK):
        queries, vectors = catalog.vectors_by_labels(labels[start : start + DUPLICATES_CHUNK].tolist())
        if not len(queries):
            continue
        scores, found = nearest(vectors)
        for row, label in enumerate(queries.tolist()):
            for score, other in zip(scores[row].tolist(), found[row].tolist(), strict=True):
                if other >= 0 and other != label and score >= threshold:
                    pairs.add((min(label, other), max(label, other)))
    if raw_pairs and pairs:
        paired = catalog.images_by_labels(sorted({label for pair in pairs for label in pair}))
        pairs = {(a, b) for a, b in pairs if not _one_photo(paired[a], paired[b])}
    clusters = _union_find_groups(sorted(pairs))
    images = catalog.images_by_labels(sorted({label for members in clusters for label in members}))
    near = []
    for members in clusters:
        near += _around_keepers(catalog, members, images, threshold, prefer_folder, raw_pairs)
    return _nest_exact(exact, near)


def _nest_exact(exact: list[DuplicateGroup], near: list[DuplicateGroup]) -> list[DuplicateGroup]:
    """Exact copies inside the near group that holds their picture, so each file has one role.

    Near groups are found among the exact groups' keepers; left apart, an exact group's keeper
    could be a near group's file to move while its copies moved as exact copies, and every
    copy of the picture would leave. Nested, the near group's keeper decides for all of them.
    An exact group whose keeper also keeps the near group stays apart (both say keep it), and
    bursts are never moved: their members' exact groups stay as they are.
    """
    by_keeper = {group.keeper.id: group for group in exact}
    nested: set[int] = set()
    groups = []
    for group in near:
        copies: dict[int, int] = {}
        if group.kind == "near":
            for image in group.images:
                if image.id in by_keeper and image.id != group.keeper.id:
                    nested.add(image.id)
                    copies |= {copy.id: image.id for copy in by_keeper[image.id].images if copy.id != image.id}
        if copies:
            extra = [copy for image in group.images if image.id in by_keeper for copy in by_keeper[image.id].images]
            group = replace(
                group, images=[*group.images, *(copy for copy in extra if copy.id in copies)], copies=copies
            )
        groups.append(group)
    return [group for group in exact if group.keeper.id not in nested] + groups


def _around_keepers(
    catalog: Catalog,
    members: list[int],
    images: dict[int, ImageRow],
    threshold: float,
    prefer_folder: str | None,
    raw_pairs: bool,
) -> list[DuplicateGroup]:
    """One cluster of look-alikes cut into groups whose every image meets the threshold with its
    keeper; with ``raw_pairs``, the keeper's RAW sibling stays with it, in no group."""
    found, vectors = catalog.vectors_by_labels(members)
    vector_of = dict(zip(found.tolist(), vectors, strict=True))
    remaining = [label for label in members if label in vector_of and label in images]
    groups = []
    while len(remaining) > 1:
        keeper = choose_keeper([images[label] for label in remaining], prefer_folder)
        keeper_label = next(label for label in remaining if images[label].id == keeper.id)
        scores = {label: float(vector_of[label] @ vector_of[keeper_label]) for label in remaining}
        sibling = {label for label in remaining if raw_pairs and _one_photo(images[label], keeper)}
        joined = [
            label
            for label in remaining
            if label == keeper_label or (scores[label] >= threshold and label not in sibling)
        ]
        remaining = [label for label in remaining if label not in joined and label not in sibling]
        if len(joined) < 2:
            continue
        group = [images[label] for label in joined]
        kind: Literal["near", "burst"] = "burst" if is_burst(group) else "near"
        weakest = min(scores[label] for label in joined if label != keeper_label)
        groups.append(DuplicateGroup(kind, group, keeper, weakest))
    return groups


def _one_photo(a: ImageRow, b: ImageRow) -> bool:
    """A RAW and its sibling: same folder and name, one of them RAW."""
    return pair_key(a.path) == pair_key(b.path) is not None and is_raw(a.path) != is_raw(b.path)


def _flat_index(catalog: Catalog, labels: np.ndarray, dim: int) -> VectorIndex:
    """An exact index of these vectors, for a library whose index is not built yet."""
    flat = VectorIndex.empty(IndexParams(kind="flat"), "", "", dim, len(labels))
    for start in range(0, len(labels), DUPLICATES_CHUNK):
        flat.add(*catalog.vectors_by_labels(labels[start : start + DUPLICATES_CHUNK].tolist()))
    return flat


def _neighbours(
    catalog: Catalog,
    committed: VectorIndex,
    vectors: np.ndarray,
    neighbours: int,
    ef_search: int,
    others: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(exact cosines, labels) of each vector's nearest others; a compressed index proposes four
    times as many, re-scored from the catalog's float32 vectors."""
    compressed = committed.meta.params.kind in COMPRESSED_KINDS
    wanted = 4 * (neighbours + 1) if compressed else neighbours + 1
    beam = ef_search or default_ef_search(committed.meta.count)
    scores, rows = committed.search_rows(vectors, wanted, beam, exclude=others)
    found = np.where(rows >= 0, committed.labels()[rows], -1)
    if not compressed:
        return scores, found
    proposed = np.unique(rows[rows >= 0])
    # Asked in ascending label order, answered in it: ``held`` is sorted for the lookups below.
    held, stored = catalog.vectors_by_labels(np.sort(committed.labels()[proposed]).tolist())
    if not len(held):
        return np.zeros(found.shape, np.float32), np.full_like(found, -1)
    at = np.minimum(np.searchsorted(held, found), len(held) - 1)
    found = np.where((found >= 0) & (held[at] == found), found, -1)
    scores = np.stack([stored[at[row]] @ vector for row, vector in enumerate(vectors)])
    return scores, found

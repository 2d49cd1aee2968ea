"""Searching: a query understood into a plan, its vector made, the plan run down the layers (query/)."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from image_recommender.catalog.rows import ImageRow, ModelRow
from image_recommender.catalog.words import MIN_WORD, query_words
from image_recommender.errors import ImageDecodeError, QueryError, UnknownImageError
from image_recommender.faces import people as faces_people
from image_recommender.filters import PhotoFilter, check_kind, check_sort
from image_recommender.images.media import is_video
from image_recommender.library.shared import Part, Shared
from image_recommender.library.themes import Themes
from image_recommender.paths import catalog_name, is_inside
from image_recommender.query.places import resolve_place
from image_recommender.query.plan import SearchPlan, SearchResponse, described, run_plan, understood_terms
from image_recommender.query.understanding import KINDS
from image_recommender.query.words import rank_words_only, word_hits
from image_recommender.search import (
    Crop,
    SearchKnobs,
    Term,
    combine,
    parse_crop,
    parse_file_or_id,
    parse_term,
    sort_results,
)
from image_recommender.settings import MAX_EF_SEARCH, MAX_TOP_K, user_language
from image_recommender.themes.vocabulary import subject_words


class Searching(Part):
    """Searches and recommendations; themes resolve a ``theme`` filter by name."""

    def __init__(self, shared: Shared, themes: Themes) -> None:
        super().__init__(shared)
        self.themes = themes

    def _library_image(self, path: Path) -> ImageRow | None:
        """The catalogued, unchanged image at ``path``, if the file lies inside the library."""
        if not is_inside(path, self.root):
            return None
        try:
            relative = Path(os.path.relpath(os.path.realpath(path), os.path.realpath(self.root))).as_posix()
            info = path.stat()
        except OSError:
            return None
        image = self.catalog.image_by_path(*catalog_name(relative))
        if image is None or image.state != "ok" or (image.size, image.mtime_ns) != (info.st_size, info.st_mtime_ns):
            return None
        return image

    def _term_vector(
        self, term: Term, row: ModelRow, exclude: list[int], images: list[tuple[Path, bool]]
    ) -> np.ndarray:
        """A term's vector: stored where the image is indexed (no model), else computed; a
        region of a picture (``term.crop``) is always computed from its file."""
        if term.crop is not None and term.kind != "text":
            return self._region_vector(term, term.crop, row, exclude, images)
        if term.kind == "text":
            tower = self.shared.text_tower(row)
            encoder = tower if tower is not None else self.shared.text_encoder(row)
            return encoder.encode_texts([term.value])[0]
        if term.kind == "id":
            image = self.catalog.image(int(term.value))
            stored = self.catalog.vector_of_image(int(term.value), row.id, term.at) if image else None
            if image is None or stored is None:
                raise UnknownImageError(f"image id {term.value}: no indexed image with that id")
            exclude += [image.id, *self._same_content(image.fingerprint)]
            images.append((image.location(self.root), term.negative))
            return stored[1]
        path = Path(term.value)
        images.append((path, term.negative))
        image = self._library_image(path)
        if image is not None:
            stored = self.catalog.vector_of_image(image.id, row.id)
            if stored is not None:
                exclude += [image.id, *self._same_content(image.fingerprint)]
                return stored[1]
        from image_recommender.images.decode import decode, read_file

        encoder = self.shared.encoder(row)
        try:
            content = read_file(path)
            picture = decode(content.data, encoder.image_size, resize_to=encoder.image_size).image
        except ImageDecodeError as exc:
            raise QueryError(f"{path}: {exc}") from None
        exclude += self._same_content(content.fingerprint)
        return encoder.encode_pil([picture])[0]

    def _region_vector(
        self, term: Term, crop: Crop, row: ModelRow, exclude: list[int], images: list[tuple[Path, bool]]
    ) -> np.ndarray:
        """The vector of a region of an image term's picture (the upright full-size decode, cut,
        then the model's own preprocessing); the picture and its copies leave the results."""
        from image_recommender.images.decode import decode, read_file

        if term.kind == "id":
            image = self.catalog.image(int(term.value))
            if image is None or image.state != "ok":
                raise UnknownImageError(f"image id {term.value}: no indexed image with that id")
            if is_video(image.path):
                raise QueryError(f"image id {term.value} is a video: search by a region of a picture")
            path, root = image.location(self.root), self.root
            exclude += [image.id, *self._same_content(image.fingerprint)]
        else:
            path, root = Path(term.value), None
        images.append((path, term.negative))
        try:
            content = read_file(path, root)
            region = crop.cut(decode(content.data).image)
        except ImageDecodeError as exc:
            raise QueryError(f"{path}: {exc}") from None
        exclude += self._same_content(content.fingerprint)
        return self.shared.encoder(row).encode_pil([region])[0]

    def _same_content(self, fingerprint: str | None) -> list[int]:
        """Ids of live images holding exactly this content: a query's copies, left out of its results."""
        return [copy.id for copy in self.catalog.images_with_fingerprint(fingerprint)] if fingerprint else []

    def search(
        self,
        terms: Sequence[Term | str] = (),
        *,
        image: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        text: str | Sequence[str] | None = None,
        k: int | None = None,
        under: str | None = None,
        min_score: float | None = None,
        include_query: bool = False,
        ef_search: int | None = None,
        after: str | None = None,
        before: str | None = None,
        taken_on: str | None = None,
        camera: str | None = None,
        near: str | None = None,
        radius: str | None = None,
        sort: str = "score",
        all_copies: bool = False,
        words: str | None = None,
        use_words: bool = True,
        crop: str | Crop | None = None,
        theme: str | None = None,
        place: str | None = None,
        literal: bool | Collection[str] = False,
        kind: str | None = None,
        include_undated: bool = False,
        person: str | Sequence[str] | None = None,
    ) -> SearchResponse:
        """Images most like the weighted sum of the terms (files, ids, texts; +/-).

        A text term also asks the text read in pictures (query/words.py: word matches first,
        CLIP fills the rest) unless ``use_words`` is False; ``words`` asks that text alone,
        with no model loaded. ``crop`` ("X,Y,W,H", pixels or fractions) searches by a region of
        the one query image (a file or an id; the region is embedded from the file).

        A text term's dates, places and negations are understood (query/understanding.py:
        "Strand Sylt Juli 2019") and shown in ``understood``; ``literal`` (True, or some of
        "date", "place", "negative") keeps them words. A filter given explicitly wins over words.

        ``under``, ``after``/``before`` (YYYY, YYYY-MM or YYYY-MM-DD), ``taken_on`` (a day) and
        ``kind`` ("image" or "video"), ``camera`` (part of its name), ``place`` (a town, region or country by any of its names)
        and ``near`` ("LAT,LON" within ``radius``, default 1 km)
        restrict the results, inside the index search; a date filter matches only pictures with a
        date taken (``include_undated`` adds those dated by the file's time alone; how many were
        left out is ``undated_left_out``); ``sort="date"`` orders them by date taken
        (the file's time where the photo has no EXIF date: ``taken_from`` says which). Exact
        copies are one result listing the others, unless ``all_copies``.
        """
        photo_filter = PhotoFilter.from_options(
            self.shared.folder_prefix(under) if under else None, after, before, taken_on, camera, near, radius
        )
        if theme is not None:
            photo_filter = replace(photo_filter, theme=self.themes.theme(theme).id)
        if place is not None:
            photo_filter = replace(photo_filter, places=resolve_place(self.catalog, place).ids)
        if kind is not None:
            check_kind(kind)
            photo_filter = replace(photo_filter, kind=kind)
        named = [faces_people.resolve(self.catalog, one) for one in _as_list(person)]
        photo_filter = replace(photo_filter, include_undated=include_undated, people=tuple(named))
        check_sort(sort)  # refused before any work
        if k is not None and not 1 <= k <= MAX_TOP_K:
            raise QueryError(f"k={k}: ask for 1 to {MAX_TOP_K} results")
        if ef_search is not None and not 1 <= ef_search <= MAX_EF_SEARCH:
            raise QueryError(f"ef_search={ef_search}: the search beam must be 1 to {MAX_EF_SEARCH}")
        if words is not None:
            return self._search_words(words, k or self.settings.top_k, photo_filter, sort, all_copies)
        parsed = [term if isinstance(term, Term) else parse_term(term) for term in terms]
        for one in _as_list(image):
            parsed.append(parse_term(os.fspath(one), kind="file"))
        for one in _as_list(text):
            parsed.append(parse_term(one, kind="text"))
        if any(term.kind == "text" and not term.value.strip() for term in parsed):
            raise QueryError("empty text query")
        if not any(not term.negative for term in parsed):
            raise QueryError("a query needs at least one positive term (an image, an id or a text)")
        if crop is not None:
            parsed = _with_crop(parsed, parse_crop(crop) if isinstance(crop, str) else crop)
        ignore = set(KINDS if literal is True else literal or ())
        ignore |= {"place"} if place is not None else set()
        ignore |= {"person"} if person else set()
        ignore |= {"date"} if after or before or taken_on else set()
        parsed, photo_filter, understood = understood_terms(
            self.catalog,
            parsed,
            photo_filter,
            frozenset(ignore),
            subject_words(),
            user_language(self.settings.language),
        )
        s = self.settings
        plan = SearchPlan(
            parsed, photo_filter, understood, k or s.top_k, SearchKnobs(ef_search or s.ef_search, s.nprobe, s.rerank),
            min_score, include_query, all_copies, sort, use_words,
        )  # fmt: skip
        row = self.shared.query_model()
        exclude: list[int] = []
        images: list[tuple[Path, bool]] = []
        query = combine([self._term_vector(term, row, exclude, images) for term in plan.terms], plan.terms)
        index = self.shared.index_for(row)

        def clip_score(picture: ImageRow) -> float:
            stored = self.catalog.vector_of_image(picture.id, row.id)
            return float(stored[1] @ query) if stored is not None else 0.0

        results = run_plan(plan, self.catalog, index, query, exclude, clip_score)
        ranked = described(self.catalog, results, row.id, s.raw_pairs == "group")
        asked = [word for text in plan.texts for word in query_words(text)]
        return SearchResponse(
            [term.describe() for term in plan.terms], row.name, ranked, images, index.status().current, asked,
            understood, self.catalog.undated_left_out(photo_filter),
        )  # fmt: skip

    def _search_words(
        self, words: str, k: int, photo_filter: PhotoFilter, sort: str, all_copies: bool
    ) -> SearchResponse:
        """The text read in pictures alone: no model, no index."""
        if not query_words(words):
            raise QueryError(f"--words {words!r}: give a word of at least {MIN_WORD} letters or digits")
        results = rank_words_only(word_hits(self.catalog, words, photo_filter), k, all_copies)
        model_id = self.shared.query_model().id if self.catalog.models() else None
        ranked = described(self.catalog, sort_results(results, sort), model_id, self.settings.raw_pairs == "group")
        undated = self.catalog.undated_left_out(photo_filter)
        return SearchResponse(
            [f"words {words!r}"], "text in pictures", ranked, words=query_words(words), undated_left_out=undated
        )

    def recommend(
        self,
        liked: Sequence[str | int | os.PathLike[str]],
        disliked: Sequence[str | int | os.PathLike[str]] = (),
        **options: Any,
    ) -> SearchResponse:
        """More like the liked images (files or ids), less like the disliked; inputs never returned."""
        if not liked:
            raise QueryError("recommend needs at least one liked image")
        terms = [parse_file_or_id(_term_text(item)) for item in liked]
        terms += [parse_file_or_id(_term_text(item), negative=True) for item in disliked]
        return self.search(terms, include_query=False, **options)


def _with_crop(terms: list[Term], crop: Crop) -> list[Term]:
    """The terms with ``crop`` on their one positive picture; one line when there is not exactly one."""
    pictures = [number for number, term in enumerate(terms) if term.kind in ("file", "id") and not term.negative]
    if len(pictures) != 1:
        raise QueryError("--crop needs exactly one query image to cut the region from (a file or an id)")
    return [replace(term, crop=crop) if number == pictures[0] else term for number, term in enumerate(terms)]


def _term_text(item: str | int | os.PathLike[str]) -> str:
    return str(item) if isinstance(item, int) else os.fspath(item)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [value]
    return list(value)

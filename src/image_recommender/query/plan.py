"""One search plan: a query understood once, then run down the layers without coming back up.

``understood_terms`` takes the first positive text term apart once (people's names, dates,
places, negations: query/people.py, query/understanding.py) into terms and filters. The
caller makes the query's vector from those terms (it owns the models). ``run_plan`` then asks
the index (which fetches its own rows for the exact re-rank), asks the words (query/words.py),
merges, and ``described`` adds what results show (place, theme, RAW pairs as one): each room
entered once, top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.filters import PhotoFilter
from image_recommender.images.raw import pair_key, photo_pairs
from image_recommender.index.sync import LibraryIndex
from image_recommender.query.people import names_in
from image_recommender.query.places import place_in_query
from image_recommender.query.understanding import MAX_PLACE_WORDS, Understood, understand
from image_recommender.query.words import merge, word_hits
from image_recommender.search import SearchKnobs, SearchResult, Term, search_vectors, sort_results


@dataclass
class SearchResponse:
    """Results of one query, with the terms it was made of."""

    query: list[str]
    model: str
    results: list[SearchResult]
    query_images: list[tuple[Path, bool]] = field(default_factory=list)  # (file, pushed away)
    index_current: bool = True
    words: list[str] = field(default_factory=list)  # the folded words asked of the text in pictures
    understood: Understood | None = None  # how a text query was taken apart
    undated_left_out: int = 0  # pictures a date filter left out: only their file's time dates them

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "model": self.model,
            "index_current": self.index_current,
            "words": self.words,
            "understood": self.understood.as_json() if self.understood is not None else None,
            "undated_left_out": self.undated_left_out,
            "results": [r.as_json() for r in self.results],
        }


@dataclass(frozen=True)
class SearchPlan:
    """What a search will do, decided before anything runs: the terms as understood, the filter
    they and the flags make, how many results, the index's knobs, and what the results keep."""

    terms: list[Term]
    photo_filter: PhotoFilter
    understood: Understood | None
    k: int
    knobs: SearchKnobs
    min_score: float | None = None
    include_query: bool = False
    all_copies: bool = False
    sort: str = "score"
    use_words: bool = True

    @property
    def texts(self) -> list[str]:
        """The positive text terms, which the words read in pictures are asked for too."""
        return (
            [term.value for term in self.terms if term.kind == "text" and not term.negative] if self.use_words else []
        )


def understood_terms(
    catalog: Catalog,
    terms: list[Term],
    photo_filter: PhotoFilter,
    ignore: frozenset[str],
    everyday: frozenset[str],
    language: str,
) -> tuple[list[Term], PhotoFilter, Understood | None]:
    """The first positive text term taken apart (people, dates, place, negations) into terms and filters."""
    position = next((i for i, term in enumerate(terms) if term.kind == "text" and not term.negative), None)
    if position is None:
        return terms, photo_filter, None
    term = terms[position]
    rest, named = names_in(term.value, {} if "person" in ignore else catalog.person_names())
    if named and not rest.strip():
        rest = " ".join(words for words, _ in named)  # only names: the names are the CLIP text too
    understood = understand(
        rest,
        lambda name, alternates: place_in_query(catalog, name, own_names_only=not alternates),
        MAX_PLACE_WORDS,
        ignore,
        everyday,
        language,
    )
    understood = replace(understood, query=term.value, people=named)
    if named:
        photo_filter = replace(photo_filter, people=(*photo_filter.people, *(ids for _, ids in named)))
    terms = [*terms[:position], replace(term, value=understood.text), *terms[position + 1 :]]
    terms += [Term("text", word, 1.0, True) for word in understood.negatives]
    if understood.dates is not None:
        dates = understood.dates
        photo_filter = replace(
            photo_filter,
            after=f"{dates.after}T00:00:00" if dates.after else photo_filter.after,
            before=f"{dates.before}T00:00:00" if dates.before else photo_filter.before,
            every_year=dates.every_year,
        )
    if understood.place is not None:
        photo_filter = replace(photo_filter, places=understood.place.found.ids)
    if understood.not_place is not None:
        photo_filter = replace(photo_filter, not_places=understood.not_place.found.ids)
    return terms, photo_filter, understood


def run_plan(
    plan: SearchPlan,
    catalog: Catalog,
    index: LibraryIndex,
    query: np.ndarray,
    exclude: list[int],
    clip_score: Callable[[ImageRow], float],
) -> list[SearchResult]:
    """The index's k best for the query vector (its own exact re-rank inside), then the word
    matches of the text terms first (query/words.py), sorted as asked."""
    results = search_vectors(
        catalog,
        index,
        query,
        plan.k,
        plan.knobs,
        exclude_images=() if plan.include_query else exclude,
        photo_filter=plan.photo_filter,
        min_score=plan.min_score,
        all_copies=plan.all_copies,
    )
    hits = [hit for text in plan.texts for hit in word_hits(catalog, text, plan.photo_filter)]
    if not plan.include_query:
        hits = [hit for hit in hits if hit.image.id not in exclude]
    if hits:
        results = merge(hits, results, clip_score, plan.k, plan.all_copies)
    return sort_results(results, plan.sort)


def described(
    catalog: Catalog, results: list[SearchResult], model_id: int | None, raw_pairs: bool
) -> list[SearchResult]:
    """Results with their place and their theme's name (where the library has themes of that
    model), a RAW and its JPEG/HEIC sibling as one result when ``raw_pairs``."""
    if not results:
        return results
    ids = [result.id for result in results]
    places = catalog.place_labels(ids)
    themes = catalog.theme_names(model_id) if model_id is not None else {}
    of = catalog.themes_of(ids) if themes else {}
    shown = [
        replace(result, theme=themes.get(of.get(result.id, -1)), place=label, place_short=short)
        for result in results
        for label, short in [places.get(result.id, (None, None))]
    ]
    return _raw_pairs_as_one(catalog, shown) if raw_pairs else shown


def _raw_pairs_as_one(catalog: Catalog, results: list[SearchResult]) -> list[SearchResult]:
    """A RAW and its JPEG/HEIC sibling as one result at the better rank: the sibling shown
    (a browser and the contact sheet show it), both files in ``paths``."""
    stems = {key for key in (pair_key(result.path) for result in results) if key is not None}
    pairs = photo_pairs(catalog.files_named(sorted(stems))) if stems else {}
    if not pairs:
        return results
    merged: list[SearchResult] = []
    seen: set[str] = set()
    for result in results:
        key = pair_key(result.path)
        if key not in pairs:
            merged.append(replace(result, rank=len(merged) + 1))
        elif key not in seen:
            seen.add(key)
            shown, raws = pairs[key]
            merged.append(
                replace(
                    result, rank=len(merged) + 1, id=shown.id, path=shown.path, width=shown.width,
                    height=shown.height, paths=(shown.path, *(raw.path for raw in raws)),
                )
            )  # fmt: skip
    return merged

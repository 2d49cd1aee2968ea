"""One search box: the words of a text query matched against the text read in pictures, merged
with CLIP's ranking.

The rule: a picture whose recognised text holds every word of the query (each a run of at
least three characters, folded as catalog/words.py says) is a word match. Word matches come
first, those holding more of the words as whole words (not inside longer ones) before the
rest, then those holding more of them spelled as typed ("Bär" before "Bar" when "Bär" was
asked: the folding lets both match), then by CLIP's score for the query, then by FTS5's bm25; CLIP's own results fill the
places after them, without repeats. A picture CLIP ranks high but whose text does not hold
the words keeps its CLIP place after the word matches. ``--words`` asks the text index alone
(no model is loaded): the score is then the share of the words found whole (a word found only
inside a longer one counts a half).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from image_recommender.catalog.rows import ImageRow, WordMatch
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import fold, query_words, spelled, spelled_words, whole_words
from image_recommender.filters import PhotoFilter
from image_recommender.search import SearchResult

# Word matches looked at per query (the best by bm25): a word on 15,000 receipts of a 100k library
# answered in 86 ms with 2,000, in about a quarter of that with 500 (docs/benchmarks.md, section 12).
MAX_WORD_MATCHES = 500


@dataclass(frozen=True)
class WordHit:
    """A picture whose text holds the words: how many whole, how many as spelled, its matching lines, bm25."""

    image: ImageRow
    whole: int
    words: int
    lines: tuple[str, ...]
    rank: float
    exact: int = 0

    @property
    def word_score(self) -> float:
        return (self.whole + 0.5 * (self.words - self.whole)) / self.words if self.words else 0.0


def word_hits(catalog: Catalog, text: str, photo_filter: PhotoFilter | None) -> list[WordHit]:
    """Live pictures inside the filter whose recognised text holds every word of ``text``."""
    words = query_words(text)
    if not words:
        return []
    typed = spelled_words(text)
    hits = []
    for match in catalog.word_matches(words, photo_filter, MAX_WORD_MATCHES):
        written = spelled("\n".join(line.text for line in match.lines))
        exact = sum(1 for word in typed if word in written)
        hits.append(
            WordHit(match.image, whole_words(words, match.folded), len(words), _lines(match, words), match.rank, exact)
        )
    return hits


def _lines(match: WordMatch, words: list[str]) -> tuple[str, ...]:
    """The recognised lines holding any of the words, as read; all lines when the words span them."""
    found = tuple(line.text for line in match.lines if any(word in fold(line.text) for word in words))
    return found or tuple(line.text for line in match.lines)


def rank_words_only(hits: list[WordHit], k: int, all_copies: bool) -> list[SearchResult]:
    """``--words``: the word matches alone, by whole words, then bm25, then id."""
    ordered = sorted(hits, key=lambda hit: (-hit.whole, -hit.exact, hit.rank, hit.image.id))
    return _results([(hit.word_score, hit) for hit in ordered], [], k, all_copies)


def merge(
    hits: list[WordHit],
    clip: Sequence[SearchResult],
    clip_score: Callable[[ImageRow], float],
    k: int,
    all_copies: bool,
) -> list[SearchResult]:
    """Word matches first (more whole words, then CLIP's score), then CLIP's results."""
    scored = [(clip_score(hit.image), hit) for hit in hits]
    scored.sort(key=lambda item: (-item[1].whole, -item[1].exact, -round(item[0], 6), item[1].rank, item[1].image.id))
    return _results(scored, clip, k, all_copies)


def _results(
    scored: list[tuple[float, WordHit]], clip: Sequence[SearchResult], k: int, all_copies: bool
) -> list[SearchResult]:
    ranked: list[SearchResult] = []
    first: dict[str, int] = {}
    taken: set[int] = set()
    for score, hit in scored:
        image = hit.image
        at = first.get(image.fingerprint or "") if image.fingerprint and not all_copies else None
        if at is not None:
            ranked[at] = _with_copy(ranked[at], image.path)
            taken.add(image.id)
            continue
        if len(ranked) >= k:
            continue
        if image.fingerprint:
            first[image.fingerprint] = len(ranked)
        taken.add(image.id)
        ranked.append(
            SearchResult(
                0, image.id, image.path, score, image.width, image.height, image.taken_at, image.camera,
                image.taken_from, (), hit.lines,
            )
        )  # fmt: skip
    shown = {path for result in ranked for path in (result.path, *result.copies)}
    for result in clip:
        if len(ranked) >= k:
            break
        if result.id in taken or result.path in shown or shown.intersection(result.copies):
            continue
        ranked.append(result)
    return [replace(result, rank=position) for position, result in enumerate(ranked, start=1)]


def _with_copy(result: SearchResult, path: str) -> SearchResult:
    return replace(result, copies=(*result.copies, path))

"""Themes from the stored vectors alone: k-means centres, each image in the theme whose centre it
is closest to, and each theme named from an everyday vocabulary through the text tower.

Naming: every subject is read as "a photo of SUBJECT"; a centre's scores against them, scaled
as CLIP scales its logits (x100) and softmaxed, give each name a share; the best name is
taken when its share is at least MIN_CONFIDENCE, else the theme is "unbenannt" (unnamed), with
the runners-up shown either way. A name the user gave is kept when a recomputation finds a
centre at cosine 0.9 or closer to the old one (the closest such centre; never two themes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator

import numpy as np

from image_recommender.catalog.rows import ThemeRow
from image_recommender.catalog.store import Catalog
from image_recommender.errors import QueryError
from image_recommender.index.clustering import kmeans_centres
from image_recommender.themes.vocabulary import SUBJECTS

# At most this many vectors train k-means (a random sample beyond): memory and time stay bounded
# at a million images (100k x 768 float32 = 300 MB).
THEME_SAMPLE = 100_000
MAX_THEMES = 200
MIN_CONFIDENCE = 0.25
LOGIT_SCALE = 100.0
KEEP_USER_NAME = 0.9
# A library that grew or shrank by this share since its themes were computed gets them anew.
RECOMPUTE_SHARE = 0.10
_CHUNK = 20_000


def theme_count(images: int) -> int:
    """How many themes a library of ``images`` gets: about sqrt(images / 2), 2 to 200
    (10 for 200 images, 71 for 10,000, 200 from 80,000 on)."""
    return max(2, min(MAX_THEMES, round(math.sqrt(images / 2)), images))


def needs_computing(themes: list[ThemeRow], images: int, count: int | None) -> bool:
    if not themes or (count is not None and count != len(themes)):
        return True
    then = themes[0].images_then
    return abs(images - then) >= RECOMPUTE_SHARE * max(then, 1)


def compute_themes(
    catalog: Catalog,
    model_id: int,
    encode_texts: Callable[[list[str]], np.ndarray],
    count: int | None = None,
    seed: int = 0,
) -> int:
    """Compute and store the model's themes; returns how many."""
    labels = catalog.live_picture_labels(model_id)
    images = len(labels)
    if images < 2:
        raise QueryError("themes need at least 2 indexed images; run 'imrec index' first")
    wanted = count if count is not None else theme_count(images)
    if not 2 <= wanted <= min(MAX_THEMES, images):
        raise QueryError(f"--count {wanted}: give 2 to {min(MAX_THEMES, images)} themes for {images} images")
    chance = np.random.default_rng(seed)
    sample = labels if images <= THEME_SAMPLE else np.sort(chance.choice(labels, THEME_SAMPLE, replace=False))
    _, vectors = catalog.vectors_by_labels(sample.tolist())
    centres = kmeans_centres(vectors, wanted)
    named = _names(centres, encode_texts)
    kept = _kept_names(centres, catalog.themes(model_id))
    themes = []
    for number, centre in enumerate(centres):
        name_de, name_en, confidence, runners_up = named[number]
        themes.append((name_de, name_en, kept.get(number), confidence, runners_up, centre))
    catalog.replace_themes(model_id, themes, _members(catalog, labels, centres), images)
    return len(themes)


def _names(
    centres: np.ndarray, encode_texts: Callable[[list[str]], np.ndarray]
) -> list[tuple[str | None, str | None, float, str]]:
    words = encode_texts([f"a photo of {english}" for _, english in SUBJECTS])
    words = words / np.maximum(np.linalg.norm(words, axis=1, keepdims=True), 1e-12)
    logits = LOGIT_SCALE * (centres @ words.T)
    shares = np.exp(logits - logits.max(axis=1, keepdims=True))
    shares /= shares.sum(axis=1, keepdims=True)
    named = []
    for row in shares:
        order = np.argsort(-row)[:4]
        best = int(order[0])
        confident = float(row[best]) >= MIN_CONFIDENCE
        german, english = SUBJECTS[best]
        runners_up = [
            {"de": SUBJECTS[i][0], "en": SUBJECTS[i][1], "share": round(float(row[i]), 3)}
            for i in order[0 if not confident else 1 :]
        ]
        named.append(
            (
                german if confident else None,
                english if confident else None,
                float(row[best]),
                json.dumps(runners_up, ensure_ascii=False),
            )
        )
    return named


def _kept_names(centres: np.ndarray, previous: list[ThemeRow]) -> dict[int, str]:
    """New theme number -> the user's name of the old theme it continues: each named old theme
    goes to the new centre closest to it, when at cosine KEEP_USER_NAME or closer and not
    already taken by a closer pair (a name is never given to two themes)."""
    pairs = [
        (float(centres[number] @ theme.centre), number, theme.user_name)
        for theme in previous
        if theme.user_name
        for number in [int(np.argmax(centres @ theme.centre))]
    ]
    kept: dict[int, str] = {}
    for closeness, number, name in sorted(pairs, reverse=True):
        if closeness >= KEEP_USER_NAME and number not in kept and name is not None:
            kept[number] = name
    return kept


def join_themes(catalog: Catalog, model_id: int, themes: list[ThemeRow]) -> int:
    """Put every live image that belongs to no theme yet (added since the themes were computed)
    into the theme whose centre is closest; returns how many joined. Cheap: their vectors only."""
    labels = catalog.labels_without_theme(model_id)
    if not len(labels) or not themes:
        return 0
    centres = np.stack([theme.centre for theme in themes])
    ids = [theme.id for theme in themes]
    joined = [(image_id, ids[number], closeness) for image_id, number, closeness in _members(catalog, labels, centres)]
    catalog.add_theme_members(iter(joined))
    return len(joined)


def _members(catalog: Catalog, labels: np.ndarray, centres: np.ndarray) -> Iterator[tuple[int, int, float]]:
    """(image id, theme number, closeness) for every live image, read in chunks."""
    for start in range(0, len(labels), _CHUNK):
        found, vectors = catalog.vectors_by_labels(labels[start : start + _CHUNK].tolist())
        images = catalog.images_by_labels(found.tolist())
        scores = vectors @ centres.T
        nearest = np.argmax(scores, axis=1)
        for label, number, score in zip(
            found.tolist(), nearest.tolist(), scores[np.arange(len(found)), nearest].tolist(), strict=True
        ):
            image = images.get(label)
            if image is not None:
                yield image.id, number, score

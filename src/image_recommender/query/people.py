"""People's names in a typed query: "Anna am Strand", "Anna und Ben 2019" (the names the user
gave people, faces/people.py)."""

from __future__ import annotations

import re

from image_recommender.catalog.words import fold

# A name is one to three words ("Anna", "Anna Maria", "Tante Anna Maria"); words between two
# names that join them ("Anna und Ben") go with them.
MAX_NAME_WORDS = 3
_JOINERS = frozenset({"und", "and", "&", "mit", "with", "+"})
_TOKEN = re.compile(r"\S+")


def names_in(text: str, names: dict[str, list[int]]) -> tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """The people a query's words name, and the words left: "Anna und Ben am Strand" ->
    ("am Strand", (("Anna", ids), ("Ben", ids))). Longest names first; a word joining two names
    goes with them."""
    if not names:
        return text, ()
    tokens = _TOKEN.findall(text)
    found: list[tuple[str, tuple[int, ...]]] = []
    kept: list[str | None] = list(tokens)
    position = 0
    while position < len(tokens):
        for length in range(min(MAX_NAME_WORDS, len(tokens) - position), 0, -1):
            words = " ".join(tokens[position : position + length])
            ids = names.get(fold(words.strip(".,;:!?")))
            if ids:
                found.append((words.strip(".,;:!?"), tuple(ids)))
                kept[position : position + length] = [None] * length
                position += length
                break
        else:
            position += 1
    for index, token in enumerate(tokens):
        between_names = 0 < index < len(tokens) - 1 and kept[index - 1] is None and kept[index + 1] is None
        if token.lower() in _JOINERS and between_names:
            kept[index] = None
    return " ".join(token for token in kept if token is not None), tuple(found)

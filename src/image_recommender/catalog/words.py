"""How the catalog compares words: one folding for the recognised text it stores and for the
words a user searches, so that German spellings meet.

Lower case; ``ß`` -> ``ss``; ``ä``/``ö``/``ü`` -> ``ae``/``oe``/``ue`` (so "Strasse" finds
"Straße" and "Mueller" finds "Müller"); any other accent dropped ("Café" -> "cafe").
``Bär`` and ``Bar`` stay apart ("baer", "bar"). Punctuation, digits and dashes stay as printed,
so "2024-117" and "9-18" match as written. The full-text index (SQLite FTS5, trigram
tokenizer) then finds any run of at least three characters: prefixes ("Öffnungs"), inner
parts ("zeiten") and whole words alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_GERMAN = str.maketrans({"ß": "ss", "ẞ": "ss", "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
# Shorter runs cannot be looked up in a trigram index.
MIN_WORD = 3
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """``text`` as the word index stores and compares it."""
    text = unicodedata.normalize("NFC", text).translate(_GERMAN).casefold().translate(_GERMAN)
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip()


def query_words(text: str) -> list[str]:
    """The folded words of a query that the index can look up (three characters or more),
    each once, in order; quotes and the index's own operators are plain characters here."""
    seen: list[str] = []
    for word in fold(text).split(" "):
        word = word.strip("\"'„“”‚‘’«»()[]{}.,;:!?")
        if len(word) >= MIN_WORD and word not in seen:
            seen.append(word)
    return seen


def match_expression(words: list[str]) -> str:
    """An FTS5 query asking for every word, each a quoted string (so no word is an operator)."""
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


def whole_words(words: list[str], folded_text: str) -> int:
    """How many of ``words`` stand in ``folded_text`` as whole words (not inside a longer one)."""
    return sum(1 for word in words if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded_text))


@dataclass(frozen=True)
class TextLine:
    """One recognised line: its text, the recogniser's confidence, and its box as four corners
    in fractions of the picture's width and height (so it fits any displayed size)."""

    text: str
    score: float
    box: tuple[tuple[float, float], ...]

    def as_json(self) -> dict[str, object]:
        return {"text": self.text, "score": round(self.score, 4), "box": [list(point) for point in self.box]}

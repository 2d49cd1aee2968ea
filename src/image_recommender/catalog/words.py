"""How the catalog compares words: one folding for the recognised text it stores and for the
words a user searches, so that German spellings meet however they are typed.

Lower case, then German normalisation as Lucene's ``GermanNormalizationFilter`` does it (the
German analyzer of Elasticsearch and Solr): ``ß`` -> ``ss``, ``ä``/``ö``/``ü`` -> ``a``/``o``/``u``,
and ``ae``/``oe``/``ue`` -> ``a``/``o``/``u`` where the vowel pair is an umlaut written out (not
"ue" after a vowel or "q": "neue", "Bauer", "Quelle" keep their "e"). So "Öffnungszeiten",
"Oeffnungszeiten" and "offnungszeiten" meet, as do "Straße"/"Strasse" and "Müller"/"Mueller"/
"Muller". Any other accent is dropped ("Café" -> "cafe"). "Bär" and "Bar" meet too, as users
type both; ``spelled`` keeps a word as written (lower case) so a ranking can put the exact
spelling first. Punctuation, digits and dashes stay as printed, so "2024-117" and "9-18" match
as written. The full-text index (SQLite FTS5, trigram tokenizer) then finds any run of at
least three characters: prefixes ("Öffnungs"), inner parts ("zeiten") and whole words alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_UMLAUTS = str.maketrans({"ä": "a", "ö": "o", "ü": "u"})
# Shorter runs cannot be looked up in a trigram index.
MIN_WORD = 3
_SPACES = re.compile(r"\s+")
_QUOTES = "\"'„“”‚‘’«»()[]{}.,;:!?"


def fold(text: str) -> str:
    """``text`` as the word index stores and compares it."""
    text = _german(unicodedata.normalize("NFC", text).casefold())
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip()


def _german(text: str) -> str:
    """Lucene's German normalisation of lower-case text (``casefold`` has made ``ß`` "ss" already).

    An "e" is dropped after "a" or "o", and after a "u" that follows neither a vowel nor "q";
    an umlaut becomes its vowel and, like "e", "i", "q" and "y", keeps a following "u" plain.
    """
    out: list[str] = []
    state = "start"  # "umlaut": an e here is an umlaut written out; "vowel": a following u is plain
    for char in text:
        if char in "ao":
            state = "umlaut"
        elif char == "u":
            state = "umlaut" if state == "start" else "vowel"
        elif char == "e":
            if state == "umlaut":
                state = "vowel"
                continue
            state = "vowel"
        elif char in "iqy" or char in "äöü":
            state = "vowel"
        else:
            state = "start"
        out.append(char)
    return "".join(out).translate(_UMLAUTS)


def spelled(text: str) -> str:
    """``text`` in lower case as written: how an exact spelling ("Bär", not "Bar") is recognised."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text).casefold()).strip()


def spelled_words(text: str) -> list[str]:
    """The query's words as written (lower case), for ranking an exact spelling above a folded one."""
    return [word for raw in spelled(text).split(" ") if len(word := raw.strip(_QUOTES)) >= MIN_WORD]


def query_words(text: str) -> list[str]:
    """The folded words of a query that the index can look up (three characters or more),
    each once, in order; quotes and the index's own operators are plain characters here."""
    seen: list[str] = []
    for word in fold(text).split(" "):
        word = word.strip(_QUOTES)
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

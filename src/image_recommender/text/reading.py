"""The text pass: after embedding, read the text in every picture not read yet, once per content.

Search works while it runs (the word index only grows), each batch is one transaction (a kill
loses at most the batch in flight), and a picture's text follows its content: a moved or
copied file is not read again. A file that cannot be read or decoded is recorded with its
reason, like an embedding failure; one changed since it was embedded is left for the next
update (its new content gets read then).

Most pictures hold no text, and for them the whole cost is the detector's question "is there
a line of text here?" and the decode it needs. The embedding pass decodes every new picture
anyway, so it keeps a grey copy of each and the ``TextGate`` asks the question on that copy:
a picture without a line is recorded as read (no text) right there, one with a line is read
by the text pass without being asked again. Decoding a photo a second time for the question
cost 29 ms of the 74 ms the pass spent on a photo (docs/benchmarks.md, section 12). Pictures
the embedding pass did not decode itself (decoded on a GPU or on Ray, or embedded by an
earlier run) are asked by the text pass, on a small decode of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import TextLine
from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import decode, grey_thumbnail, read_file
from image_recommender.reports import JsonReport
from image_recommender.text.recognise import DETECT_SIDE, READ_SIDE, TextReader, for_reading, tile_count

BATCH = 16
TextProgress = Callable[[int, int], None]
TextRecord = tuple[str, str, list[TextLine], str | None]


@dataclass
class TextReport(JsonReport):
    """What one text pass did: pictures read (``ruled_out_while_embedding`` of them found without
    text on the embedding pass's copy), how many hold text, failures, and its seconds: all of
    them, ``asked_while_embedding`` of them spent by the gate inside the embedding pass."""

    read: int = 0
    with_text: int = 0
    failed: int = 0
    seconds: float = 0.0
    ruled_out_while_embedding: int = 0
    asked_while_embedding: float = 0.0


class TextGate:
    """The detector's question, asked during the embedding pass on its grey copy of each picture
    it decoded (``EmbedOptions.look``, ``TextReader.holds_line``): no line of text, and the
    picture is recorded as read (one transaction per model batch); a line, and the text pass
    reads it without asking again. ``seconds``: what asking took, holding the embedder up.

    A picture the detector fails on is left to the text pass, which asks again from the file.
    """

    side = DETECT_SIDE

    def __init__(self, catalog: Catalog, reader: TextReader) -> None:
        self.catalog = catalog
        self.reader = reader
        self.with_lines: set[str] = set()
        self.without_lines = 0
        self.seconds = 0.0
        self._asked: set[str] = set()

    def __call__(self, copies: list[tuple[str, np.ndarray]]) -> None:
        started = time.perf_counter()
        records: list[TextRecord] = []
        for fingerprint, grey in copies:
            if not fingerprint or fingerprint in self._asked:
                continue  # a copy of a picture asked already, or a second model's run over the same pictures
            self._asked.add(fingerprint)
            if tile_count((grey.shape[1], grey.shape[0])) > 1:
                continue  # a panorama: too small here for its tiles; the text pass decodes it larger
            try:
                found = self.reader.holds_line(grey)
            except Exception:  # the recogniser's own failure: the text pass asks again and records why
                continue
            if found:
                self.with_lines.add(fingerprint)
            else:
                records.append((fingerprint, "ok", [], None))
        if records:
            self.catalog.store_texts(records, self.reader.engine)
            self.without_lines += len(records)
        self.seconds += time.perf_counter() - started


@dataclass(frozen=True)
class _Loaded:
    """A picture as the detector sees it (``small``; None where the embedding pass's copy was
    seen to hold a line) with its bytes for a larger decode; or the reason it could not be
    read; or ``changed`` when its file changed since it was embedded."""

    image: ImageRow
    small: Image.Image | None = None
    data: bytes = b""
    problem: str | None = None
    changed: bool = False


def _load(image: ImageRow, root: Path, detected: bool) -> _Loaded:
    try:
        content = read_file(image.location(root), root)
        if content.fingerprint != image.fingerprint:
            return _Loaded(image, changed=True)
        if detected:
            return _Loaded(image, data=content.data)
        return _Loaded(image, detector_copy(content.data), content.data)
    except ImageDecodeError as exc:
        return _Loaded(image, problem=str(exc))


def detector_copy(data: bytes) -> Image.Image:
    """The grey copy of a picture that the detector is asked on: DETECT_SIDE on its long side,
    or on each of its tiles' for a panorama (decoded again, larger, for those alone)."""
    small = decode(data, long_side=DETECT_SIDE, grey=True).image  # the detector needs no colour
    side = DETECT_SIDE * tile_count(small.size)
    if side > DETECT_SIDE:
        small = decode(data, long_side=side, grey=True).image
    return grey_thumbnail(small, side)


def read_lines(reader: TextReader, data: bytes, small: Image.Image | None) -> list[TextLine]:
    """Ask the detector on ``small`` (None: the picture was seen to hold a line already); read
    a picture with a line from a larger decode, READ_SIDE on its long side or on each tile's."""
    if small is not None and not reader.holds_line(np.asarray(small)):
        return []
    # a picture seen to hold a line on the embedding pass's copy is no panorama (the gate leaves those)
    side = READ_SIDE * (tile_count(small.size) if small is not None else 1)
    return reader.read(for_reading(decode(data, long_side=side).image))


def _pictures(catalog: Catalog, root: Path, batch: int, detected: set[str]) -> Iterator[list[_Loaded]]:
    """Batches of unread pictures, the next one decoded while the current one is being read."""
    after = 0
    with ThreadPoolExecutor(max_workers=1) as decoder:
        while True:
            rows = catalog.unread_texts(after, batch)
            if not rows:
                return
            after = rows[-1].id
            yield list(decoder.map(lambda row: _load(row, root, row.fingerprint in detected), rows))


def read_texts(
    catalog: Catalog,
    root: Path,
    reader: TextReader,
    progress: TextProgress | None = None,
    batch: int = BATCH,
    counts: tuple[int, int] | None = None,
    gate: TextGate | None = None,
) -> TextReport:
    """Read every picture whose content has no text yet; returns what was done. ``counts``:
    (contents read, contents in the library) when the caller has just counted them; ``gate``:
    the one the embedding pass asked, whose pictures without a line count as read here."""
    started = time.perf_counter()
    report = TextReport()
    if gate is not None:
        report.read = report.ruled_out_while_embedding = gate.without_lines
        report.asked_while_embedding = gate.seconds
    done, total = counts if counts is not None else catalog.text_progress()[:2]
    for pictures in _pictures(catalog, root, batch, gate.with_lines if gate is not None else set()):
        records: list[TextRecord] = []
        for loaded in pictures:
            fingerprint = loaded.image.fingerprint or ""
            if loaded.problem is not None:
                records.append((fingerprint, "failed", [], loaded.problem))
                continue
            if loaded.changed:
                continue  # changed since it was embedded: the next update reads its new content
            try:
                lines = read_lines(reader, loaded.data, loaded.small)
            except Exception as exc:  # the recogniser's own failure on one picture, recorded like a decode error
                records.append(
                    (fingerprint, "failed", [], f"text recognition failed: {exc.__class__.__name__}: {exc}"[:300])
                )
                continue
            records.append((fingerprint, "ok", lines, None))
        catalog.store_texts(records, reader.engine)
        report.read += sum(1 for record in records if record[1] == "ok")
        report.with_text += sum(1 for record in records if record[2])
        report.failed += sum(1 for record in records if record[1] == "failed")
        done += len(records)
        if progress is not None:
            progress(done, total)
    report.seconds = time.perf_counter() - started + report.asked_while_embedding
    return report

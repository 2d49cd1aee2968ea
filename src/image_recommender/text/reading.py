"""The text pass: after embedding, read the text in every picture not read yet, once per content.

Search works while it runs (the word index only grows), each batch is one transaction (a kill
loses at most the batch in flight), and a picture's text follows its content: a moved or
copied file is not read again. A file that cannot be read or decoded is recorded with its
reason, like an embedding failure; one changed since it was embedded is left for the next
update (its new content gets read then).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from image_recommender.catalog.rows import ImageRow
from image_recommender.catalog.store import Catalog
from image_recommender.catalog.words import TextLine
from image_recommender.errors import ImageDecodeError
from image_recommender.images.decode import decode, read_file
from image_recommender.reports import JsonReport
from image_recommender.text.recognise import DETECT_SIDE, READ_SIDE, TextReader, for_reading

BATCH = 16
TextProgress = Callable[[int, int], None]


@dataclass
class TextReport(JsonReport):
    """What one text pass did: pictures read, how many hold text, failures, seconds."""

    read: int = 0
    with_text: int = 0
    failed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Loaded:
    """A picture as the detector sees it, with its bytes for a full decode where it finds text;
    or the reason it could not be read; or neither when its file changed since embedding."""

    image: ImageRow
    small: Image.Image | None = None
    data: bytes = b""
    problem: str | None = None


def _load(image: ImageRow, root: Path) -> _Loaded:
    try:
        content = read_file(image.location(root), root)
        if content.fingerprint != image.fingerprint:
            return _Loaded(image)
        small = decode(content.data, long_side=DETECT_SIDE, grey=True).image  # the detector needs no colour
        small.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.NEAREST)  # sharp strokes: see recognise.py
        return _Loaded(image, small, content.data)
    except ImageDecodeError as exc:
        return _Loaded(image, problem=str(exc))


def _read(reader: TextReader, loaded: _Loaded) -> list[TextLine]:
    """Detect on the small picture; read one where a line was found from a larger decode."""
    assert loaded.small is not None
    if reader.detect(loaded.small) is None:
        return []
    return reader.read(for_reading(decode(loaded.data, long_side=READ_SIDE).image))


def _pictures(catalog: Catalog, root: Path, batch: int) -> Iterator[list[_Loaded]]:
    """Batches of unread pictures, the next one decoded while the current one is being read."""
    after = 0
    with ThreadPoolExecutor(max_workers=1) as decoder:
        while True:
            rows = catalog.unread_texts(after, batch)
            if not rows:
                return
            after = rows[-1].id
            yield list(decoder.map(lambda row: _load(row, root), rows))


def read_texts(
    catalog: Catalog,
    root: Path,
    reader: TextReader,
    progress: TextProgress | None = None,
    batch: int = BATCH,
    counts: tuple[int, int] | None = None,
) -> TextReport:
    """Read every picture whose content has no text yet; returns what was done. ``counts``:
    (contents read, contents in the library) when the caller has just counted them."""
    started = time.perf_counter()
    report = TextReport()
    done, total = counts if counts is not None else catalog.text_progress()[:2]
    for pictures in _pictures(catalog, root, batch):
        records: list[tuple[str, str, list[TextLine], str | None]] = []
        for loaded in pictures:
            fingerprint = loaded.image.fingerprint or ""
            if loaded.problem is not None:
                records.append((fingerprint, "failed", [], loaded.problem))
                continue
            if loaded.small is None:
                continue  # changed since it was embedded: the next update reads its new content
            try:
                lines = _read(reader, loaded)
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
    report.seconds = time.perf_counter() - started
    return report

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
from image_recommender.text.recognise import READ_SIDE, TextReader, for_reading

BATCH = 16
TextProgress = Callable[[int, int], None]


@dataclass
class TextReport(JsonReport):
    """What one text pass did: pictures read, how many hold text, failures, seconds."""

    read: int = 0
    with_text: int = 0
    failed: int = 0
    seconds: float = 0.0


def _load(image: ImageRow, root: Path) -> tuple[ImageRow, Image.Image | None, str | None]:
    """The picture at reading size, None when its file changed since embedding, or the reason it failed."""
    try:
        content = read_file(image.location(root), root)
        if content.fingerprint != image.fingerprint:
            return image, None, None
        return image, for_reading(decode(content.data, long_side=READ_SIDE).image), None
    except ImageDecodeError as exc:
        return image, None, str(exc)


def _pictures(
    catalog: Catalog, root: Path, batch: int
) -> Iterator[list[tuple[ImageRow, Image.Image | None, str | None]]]:
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
) -> TextReport:
    """Read every picture whose content has no text yet; returns what was done."""
    started = time.perf_counter()
    report = TextReport()
    done, total, _, _ = catalog.text_progress()
    for pictures in _pictures(catalog, root, batch):
        records: list[tuple[str, str, list[TextLine], str | None]] = []
        for image, picture, problem in pictures:
            fingerprint = image.fingerprint or ""
            if problem is not None:
                records.append((fingerprint, "failed", [], problem))
                continue
            if picture is None:
                continue  # changed since it was embedded: the next update reads its new content
            try:
                lines = reader.read(picture)
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

"""The text pass measured: recognition quality per text size, and its cost next to embedding.

Quality: German and English lines rendered onto real photos (signs) and plain backgrounds
(receipts, screenshots) at several sizes, fonts, angles and contrasts; word recall (the
share of rendered words of three or more characters that a word search finds: folded, as
the catalog compares them) and character accuracy (1 - edit distance / length, each rendered
line against the closest recognised one), with imrec's reader (the detector at 640 px, lines
read from the picture at up to 2000 px) and with every picture read at full size (rapidocr's
own rule: the short side at 736 px).
Cost: a library of photos with text in ``--text-share`` of them, read both ways (decode
included); then imrec itself on that library: ``Library.update`` on fresh copies of it with
ViT-L-14 (seeded weights) on each engine, with text recognition off and on, alternating, in
the same run: what recognition adds to the whole index time, against the embedding time.

    python benchmarks/bench_text.py --photos ../shared/photos --text-share 0.15
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from textimages import render  # noqa: E402

from image_recommender.catalog.words import fold  # noqa: E402
from image_recommender.images.decode import decode, grey_thumbnail  # noqa: E402
from image_recommender.models.recommended import cpu_flags  # noqa: E402
from image_recommender.text.recognise import DETECT_SIDE, READ_SIDE, TextReader, for_reading  # noqa: E402

LINES = [
    "Straßenbahn nach München Hbf", "Öffnungszeiten: Mo-Fr 9-18 Uhr", "Bäckerei Müller seit 1952",
    "Rechnung Nr. 2024-117", "Summe 42,50 EUR inkl. MwSt.", "Bitte nicht rauchen", "Ausgang / Exit",
    "Download complete", "Meeting room booked until 15:30", "Fresh bread every morning",
    "Gleis 7 - ICE 598 nach Hamburg", "Zimmer frei", "Parken nur für Kunden", "Sale 50% off everything",
]  # fmt: skip
SIZES = [12, 16, 24, 36, 56]


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def text_pictures(photos: list[Path], count_per_size: int, seed: int = 0) -> list[tuple[Image.Image, list[str], int]]:
    """(picture, rendered lines, text size) across sizes, backgrounds, fonts, angles, contrasts."""
    chance = random.Random(seed)
    made = []
    for size, number in itertools.product(SIZES, range(count_per_size)):
        lines = chance.sample(LINES, 2)
        kind = number % 3
        angle = chance.choice([0, 0, -4, 3, 8, 90, 180])
        if kind == 0 and photos:
            background = Image.open(chance.choice(photos)).convert("RGB")
            background.thumbnail((2400, 2400))
            picture = render(lines, size, background=background, angle=angle, font_number=number, at=(0.15, 0.2))
        elif kind == 1:
            picture = render(lines, size, canvas=(1240, 1754), angle=angle, font_number=number)  # a scanned page
        else:
            picture = render(
                lines, size, canvas=(1920, 1080), paper=(35, 35, 45), ink=(225, 225, 225), font_number=number
            )  # a dark screenshot
        made.append((picture, lines, size))
    return made


def quality(
    reader: TextReader, pictures: list[tuple[Image.Image, list[str], int]], detect_first: bool
) -> dict[int, tuple[float, float]]:
    by_size: dict[int, list[tuple[float, float]]] = {}
    for picture, lines, size in pictures:
        small = grey_thumbnail(picture, DETECT_SIDE)
        seen = [] if detect_first and reader.detect(small) is None else reader.read(for_reading(picture))
        found = [line.text for line in seen]
        text = fold("\n".join(found))
        words = [word for line in lines for word in fold(line).split() if len(word.strip(".,:;")) >= 3]
        recall = sum(word.strip(".,:;") in text for word in words) / len(words)
        accuracy = statistics.mean(
            max((1 - edit_distance(line, seen) / len(line) for seen in found), default=0.0) for line in lines
        )
        by_size.setdefault(size, []).append((recall, max(accuracy, 0.0)))
    return {size: (statistics.mean(r for r, _ in v), statistics.mean(a for _, a in v)) for size, v in by_size.items()}


def pass_seconds(reader: TextReader, files: list[Path], detect_first: bool) -> float:
    """Seconds to read ``files`` as the text pass does (``detect_first``: the detector on a small
    decode, a full decode only where it finds text), or each decoded at full reading size."""
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        if detect_first:
            small = grey_thumbnail(decode(data, long_side=DETECT_SIDE, grey=True).image, DETECT_SIDE)
            if reader.detect(small) is None:
                continue
        reader.read(for_reading(decode(data, long_side=READ_SIDE).image))
    return time.perf_counter() - started


def whole_library(files: list[Path], work: Path, engine: str, rounds: int, copies: int) -> None:
    """The real thing side by side: ``Library.update`` (scan, embed with ViT-L-14, its seeded
    weights saved as a checkpoint, index, and with recognition on, the text pass) on fresh
    copies of one library, recognition off and on in alternating order; medians. ``copies``:
    each file that many times, a byte apart (new contents: embedded and read again)."""
    import open_clip
    import torch

    from image_recommender import Library

    checkpoint = work / "vit-l-14-seeded.pt"
    if not checkpoint.exists():
        torch.manual_seed(0)
        torch.save(open_clip.create_model("ViT-L-14").state_dict(), checkpoint)
    settings = {"model": "ViT-L-14", "pretrained": str(checkpoint), "engine": engine, "engine_cache": work / "engines"}

    def fresh(name: str) -> Path:
        root = work / name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        for copy in range(copies):
            for number, path in enumerate(files):
                target = root / f"{copy}-{number:03d}-{path.name}"
                shutil.copy(path, target)
                with open(target, "ab") as handle:
                    handle.write(b"\0" * copy)
        return root

    with Library.open(fresh("warm-up"), create=True, **settings, ocr=False) as library:
        library.update()  # a first run converts the model for OpenVINO once; not what is measured
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    ruled_out = found = 0
    for round_number in range(rounds):
        for ocr in (False, True) if round_number % 2 == 0 else (True, False):
            with Library.open(fresh(f"library-{engine}-{ocr}"), create=True, **settings, ocr=ocr) as library:
                summary = library.update()
            runs[ocr].append((summary.seconds, summary.embedded / summary.embedding_images_per_second))
            if ocr:
                ruled_out, found = summary.text_ruled_out_while_embedding, summary.text_found
    without, embedding = (statistics.median(values) for values in zip(*runs[False], strict=True))
    with_text, embedding_with_gate = (statistics.median(values) for values in zip(*runs[True], strict=True))
    print(
        f"  imrec index of {len(files) * copies} pictures, ViT-L-14 on {engine}, medians of {rounds}: without text"
        f" {without:.1f} s (embedding {embedding:.1f} s), with text {with_text:.1f} s (embedding with the detector's"
        f" question {embedding_with_gate:.1f} s; {ruled_out} ruled out there, {found} read with text);"
        f" recognition adds {(with_text - without) / embedding:.2f}x the embedding time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--per-size", type=int, default=6, help="text pictures per text size")
    parser.add_argument("--text-share", type=float, default=0.15)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-text"))
    parser.add_argument(
        "--engines",
        default="openvino",
        help="engines for the whole-library comparison ('' skips it); one a process: after indexing with"
        " OpenVINO, a torch run in the same process crashed in torch's DataLoader (also before the text pass)",
    )
    parser.add_argument("--library-only", action="store_true", help="only the whole-library comparison")
    parser.add_argument("--rounds", type=int, default=3, help="index runs each way for the whole-library comparison")
    parser.add_argument("--copies", type=int, default=1, help="each picture this many times (new contents) in it")
    args = parser.parse_args()
    photos = sorted(args.photos.rglob("*.jpg")) or sorted((ROOT / "tests" / "data" / "photos").glob("*.jpg"))
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}; {len(photos)} photos")
    reader, full_reader = TextReader(), TextReader(detect_side=None)
    print(f"recogniser: {reader.engine}")
    pictures = text_pictures(photos, args.per_size)
    if not args.library_only:
        gated, full = quality(reader, pictures, True), quality(full_reader, pictures, False)
        print(
            "| text size (px, as rendered) | word recall, imrec | word recall, full size"
            " | char accuracy, imrec | char accuracy, full size |"
        )
        print("|---|---|---|---|---|")
        for size in SIZES:
            print(
                f"| {size} | {gated[size][0]:.3f} | {full[size][0]:.3f} | {gated[size][1]:.3f} | {full[size][1]:.3f} |"
            )
        mean = [statistics.mean(values[n] for values in table.values()) for table in (gated, full) for n in (0, 1)]
        print(f"| all | {mean[0]:.3f} | {mean[2]:.3f} | {mean[1]:.3f} | {mean[3]:.3f} |")

    args.work.mkdir(parents=True, exist_ok=True)
    text_count = max(1, round(len(photos) * args.text_share / (1 - args.text_share)))
    files = list(photos)
    step = max(1, len(pictures) // text_count)  # text of every size
    for number, (picture, _, _) in enumerate(pictures[::step][:text_count]):
        path = args.work / f"text-{number:03d}.jpg"
        picture.save(path, quality=90)
        files.append(path)
    if not args.library_only:
        gated_s, full_s = pass_seconds(reader, files, True), pass_seconds(full_reader, files, False)
        print(f"reading {len(files)} pictures ({text_count / len(files):.0%} with text) one by one, decode included:")
        print(
            f"  imrec {len(files) / gated_s:.2f} pictures/s ({gated_s / len(files) * 1000:.0f} ms each); every"
            f" picture read in full {len(files) / full_s:.2f} pictures/s ({full_s / len(files) * 1000:.0f} ms each)"
        )
    for engine in filter(None, args.engines.split(",")):
        whole_library(files, args.work, engine, args.rounds, args.copies)


if __name__ == "__main__":
    main()

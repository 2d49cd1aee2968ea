"""The text pass measured: recognition quality per text size, and its cost next to embedding.

Quality: German and English lines rendered onto real photos (signs) and plain backgrounds
(receipts, screenshots) at several sizes, fonts, angles and contrasts; word recall (the
share of rendered words of three or more characters that a word search finds: folded, as
the catalog compares them) and character accuracy (1 - edit distance / length, each rendered
line against the closest recognised one), with the detector gate and without it (every
picture read at full size).
Cost: a library of photos with text in ``--text-share`` of them, read with and without the
gate (decode included), against ViT-L-14's image tower on the same CPU in the same run.

    python benchmarks/bench_text.py --photos ../shared/photos --text-share 0.15
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from textimages import render  # noqa: E402

from image_recommender.catalog.words import fold  # noqa: E402
from image_recommender.images.decode import decode  # noqa: E402
from image_recommender.models.recommended import cpu_flags  # noqa: E402
from image_recommender.text.recognise import READ_SIDE, TextReader, for_reading  # noqa: E402

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
        angle = chance.choice([0, 0, -4, 3, 8])
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
    reader: TextReader, pictures: list[tuple[Image.Image, list[str], int]], gate: bool
) -> dict[int, tuple[float, float]]:
    by_size: dict[int, list[tuple[float, float]]] = {}
    for picture, lines, size in pictures:
        found = [line.text for line in reader.read(for_reading(picture), gate=gate)]
        text = fold("\n".join(found))
        words = [word for line in lines for word in fold(line).split() if len(word.strip(".,:;")) >= 3]
        recall = sum(word.strip(".,:;") in text for word in words) / len(words)
        accuracy = statistics.mean(
            max((1 - edit_distance(line, seen) / len(line) for seen in found), default=0.0) for line in lines
        )
        by_size.setdefault(size, []).append((recall, max(accuracy, 0.0)))
    return {size: (statistics.mean(r for r, _ in v), statistics.mean(a for _, a in v)) for size, v in by_size.items()}


def pass_seconds(reader: TextReader, files: list[Path], gate: bool) -> float:
    started = time.perf_counter()
    for path in files:
        reader.read(for_reading(decode(path.read_bytes(), long_side=READ_SIDE).image), gate=gate)
    return time.perf_counter() - started


def vit_l14_seconds_per_image(count: int = 8) -> float:
    """ViT-L-14's image tower (seeded weights) on a batch, torch bf16 where native else fp32."""
    import open_clip
    import torch

    from image_recommender.models.torch_model import native_bf16

    model = open_clip.create_model("ViT-L-14").eval()
    dtype = torch.bfloat16 if native_bf16("cpu") else torch.float32
    pixels = torch.randn(count, 3, 224, 224)
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype == torch.bfloat16):
        model.encode_image(pixels[:2])
        started = time.perf_counter()
        model.encode_image(pixels)
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--per-size", type=int, default=6, help="text pictures per text size")
    parser.add_argument("--text-share", type=float, default=0.15)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-text"))
    args = parser.parse_args()
    photos = sorted(args.photos.rglob("*.jpg")) or sorted((ROOT / "tests" / "data" / "photos").glob("*.jpg"))
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}; {len(photos)} photos")
    reader = TextReader()
    print(f"recogniser: {reader.engine}")
    pictures = text_pictures(photos, args.per_size)
    gated, full = quality(reader, pictures, True), quality(reader, pictures, False)
    print(
        "| text size (px, as rendered) | word recall, gated | word recall, full | char accuracy, gated | char accuracy, full |"
    )
    print("|---|---|---|---|---|")
    for size in SIZES:
        print(f"| {size} | {gated[size][0]:.3f} | {full[size][0]:.3f} | {gated[size][1]:.3f} | {full[size][1]:.3f} |")
    print(
        f"| all | {statistics.mean(v[0] for v in gated.values()):.3f} | {statistics.mean(v[0] for v in full.values()):.3f}"
        f" | {statistics.mean(v[1] for v in gated.values()):.3f} | {statistics.mean(v[1] for v in full.values()):.3f} |"
    )

    args.work.mkdir(parents=True, exist_ok=True)
    text_count = max(1, round(len(photos) * args.text_share / (1 - args.text_share)))
    files = list(photos)
    for number, (picture, _, _) in enumerate(pictures[: text_count * 3 : 3]):
        path = args.work / f"text-{number:03d}.jpg"
        picture.save(path, quality=90)
        files.append(path)
    gated_s, full_s = pass_seconds(reader, files, True), pass_seconds(reader, files, False)
    embed = vit_l14_seconds_per_image()
    share = text_count / len(files)
    print(f"text pass over {len(files)} pictures ({share:.0%} with text), decode included:")
    print(
        f"  gated {len(files) / gated_s:.2f} pictures/s ({gated_s / len(files) * 1000:.0f} ms each);"
        f" every picture read in full {len(files) / full_s:.2f} pictures/s ({full_s / len(files) * 1000:.0f} ms each)"
    )
    print(
        f"  ViT-L-14 image tower (torch, model alone) {embed * 1000:.0f} ms per picture;"
        f" gated text pass / embedding = {gated_s / len(files) / embed:.2f}"
    )


if __name__ == "__main__":
    main()

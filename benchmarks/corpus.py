"""Benchmark libraries made from real photos, deterministic for a seed, every file distinct.

A benchmark on copies measures nothing: imrec reuses a vector for content it has seen. So
each file gets its own crop of a source photo and its own sensor-like noise, which also
makes 12 MP JPEGs as large as a phone's (3-5 MB at quality 90).

- ``phone``: what a phone library holds. 55% baseline JPEGs (4032x3024, quality 90,
  stored under EXIF orientation 1, 3, 6 or 8 as cameras do), 15% progressive JPEGs (as
  editors and the web write them), 20% HEIC (12 MP, as iPhones write them), 10% PNG
  screenshots (1170x2532).
- ``uniform``: baseline JPEGs of one size (e.g. 1.5 MP), quality 85-94, no EXIF orientation.

    python benchmarks/corpus.py phone ../shared/photos /tmp/phone --count 960
"""

from __future__ import annotations

import argparse
import glob
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageDraw

pillow_heif.register_heif_opener()

PHONE_MIX = {"jpeg": 0.55, "progressive": 0.15, "heic": 0.20, "png": 0.10}
PHONE_SIZE = (4032, 3024)
SCREENSHOT_SIZE = (1170, 2532)
ORIENTATIONS = (1, 3, 6, 8)
# How a camera stores an upright picture under each of these EXIF orientations.
_STORED_AS = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
_SUFFIX = {"jpeg": ".jpg", "progressive": ".jpg", "heic": ".heic", "png": ".png", "baseline": ".jpg"}


def source_photos(source: Path) -> list[Path]:
    photos = sorted(Path(p) for p in glob.glob(str(source / "**" / "*.jpg"), recursive=True))
    if not photos:
        raise SystemExit(f"{source}: no JPEG photos found")
    return photos


def _crop_to(picture: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A random crop of ``picture`` with the aspect of ``size``, 70-100% of the largest, resized to it."""
    aspect = size[0] / size[1]
    width, height = picture.size
    if width / height > aspect:
        crop_w, crop_h = int(height * aspect), height
    else:
        crop_w, crop_h = width, int(width / aspect)
    scale = rng.uniform(0.7, 1.0)
    crop_w, crop_h = max(1, int(crop_w * scale)), max(1, int(crop_h * scale))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    return picture.crop((left, top, left + crop_w, top + crop_h)).resize(size, Image.Resampling.BICUBIC)


def _with_noise(picture: Image.Image, rng: np.random.Generator, amplitude: int = 8) -> Image.Image:
    """Sensor-like noise (uniform, +-``amplitude`` levels): every file distinct, JPEGs as large as a phone's."""
    pixels = np.asarray(picture, dtype=np.int16)
    pixels = pixels + rng.integers(-amplitude, amplitude + 1, size=pixels.shape, dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _screenshot(picture: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A phone screenshot: flat status and tool bars, panels of flat colour, a photo in the middle."""
    width, height = SCREENSHOT_SIZE
    canvas = Image.new("RGB", SCREENSHOT_SIZE, tuple(int(v) for v in rng.integers(200, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 140), fill=tuple(int(v) for v in rng.integers(0, 80, 3)))
    draw.rectangle((0, height - 220, width, height), fill=tuple(int(v) for v in rng.integers(0, 80, 3)))
    for row in range(int(rng.integers(3, 8))):
        top = 1500 + row * 130
        draw.rectangle((60, top, width - 60, top + 90), fill=tuple(int(v) for v in rng.integers(120, 240, 3)))
    canvas.paste(_crop_to(picture, (width - 120, 1200), rng), (60, 220))
    return canvas


def _make(job: tuple[int, str, Path, Path, tuple[int, int], int]) -> Path:
    number, kind, photo, target, size, seed = job
    rng = np.random.default_rng([seed, number])
    destination = target / f"{number:06d}-{kind}-{photo.stem}{_SUFFIX[kind]}"
    with Image.open(photo) as opened:
        picture = opened.convert("RGB")
    if kind == "png":
        _screenshot(picture, rng).save(destination, "PNG", compress_level=6)
        return destination
    upright = _crop_to(picture, size, rng)
    if kind == "heic":  # no noise, fastest preset: 2 s a file instead of 16 (the crop alone makes it distinct)
        upright.save(destination, "HEIF", quality=80, enc_params={"preset": "ultrafast"})
        return destination
    upright = _with_noise(upright, rng)
    if kind == "baseline":
        upright.save(destination, "JPEG", quality=85 + number % 10)
        return destination
    orientation = ORIENTATIONS[number % len(ORIENTATIONS)]
    stored = upright if _STORED_AS[orientation] is None else upright.transpose(_STORED_AS[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(destination, "JPEG", quality=90, progressive=kind == "progressive", exif=exif)
    return destination


def _kinds(count: int, mix: dict[str, float], seed: int) -> list[str]:
    """Exactly the mix's shares (rounded), shuffled so every stretch of the library is mixed."""
    kinds: list[str] = []
    for kind, share in mix.items():
        kinds += [kind] * round(count * share)
    kinds = (kinds + ["jpeg"] * count)[:count]
    return [kinds[i] for i in np.random.default_rng(seed).permutation(count)]


def _build(jobs: list[tuple[int, str, Path, Path, tuple[int, int], int]], target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(_make, jobs, chunksize=4))


def make_phone_library(
    source: Path, count: int, target: Path, seed: int = 0, size: tuple[int, int] = PHONE_SIZE
) -> list[Path]:
    """``count`` distinct files in the phone mix (see the module's docstring)."""
    photos = source_photos(source)
    kinds = _kinds(count, PHONE_MIX, seed)
    jobs = [(n, kinds[n], photos[n % len(photos)], target, size, seed) for n in range(count)]
    return _build(jobs, target)


def make_uniform_library(source: Path, count: int, target: Path, megapixels: float, seed: int = 0) -> list[Path]:
    """``count`` distinct baseline JPEGs of ``megapixels`` each, 4:3, EXIF orientation 1."""
    photos = source_photos(source)
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    size = (width, width * 3 // 4)
    jobs = [(n, "baseline", photos[n % len(photos)], target, size, seed) for n in range(count)]
    return _build(jobs, target)


def describe(files: list[Path]) -> str:
    """The mix and mean file size, printed beside every figure measured on the library."""
    kinds = Counter(path.stem.split("-")[1] for path in files)
    mean = np.mean([path.stat().st_size for path in files]) / 1e6
    with Image.open(files[0]) as first:
        size = first.size
    mix = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    return f"{len(files)} files ({mix}), mean {mean:.2f} MB, first {size[0]}x{size[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["phone", "uniform"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--count", type=int, default=960)
    parser.add_argument("--megapixels", type=float, default=1.5, help="uniform: size of each JPEG")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.kind == "phone":
        files = make_phone_library(args.source, args.count, args.target, args.seed)
    else:
        files = make_uniform_library(args.source, args.count, args.target, args.megapixels, args.seed)
    print(describe(files))


if __name__ == "__main__":
    main()

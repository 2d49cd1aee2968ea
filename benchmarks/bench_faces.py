"""The face pass: what it finds on one person's pictures, what it finds where nobody is, and
what it costs a library, measured side by side.

1. Quality, on the public-domain portrait scikit-image ships (astronaut Eileen Collins),
   augmented as a library holds a person: ``--variants`` pictures with random crops, mirror,
   light, colour, rotation, scale and JPEG quality. Reported: how many of her faces are found,
   their descriptor distances to the original's, whether grouping makes them one person; and
   faces found on the shared photos, where nobody is (false faces).
2. The gate (``may_show_people``): how many people-free photos it rules out, how many of the
   face pictures it lets through.
3. Cost: whole ``imrec index`` processes on fresh copies of ``--photos`` people-free photos,
   defaults against ``--no-faces`` (both ``--no-ocr``, so the face pass is the difference),
   ``--model`` (ViT-B-32) with seeded weights, medians of ``--rounds``.

    python benchmarks/bench_faces.py --variants 60 --photos 257 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_embed import make_library  # noqa: E402
from bench_passes import timed_index  # noqa: E402
from bench_small_update import seeded_checkpoint  # noqa: E402

from image_recommender.faces.detecting import (  # noqa: E402
    DETECT_SIDE,
    FaceFinder,
    chinese_whispers,
    detector_copy,
    may_show_people,
)
from image_recommender.faces.grouping import GROUP_DISTANCE, MIN_GROUP_SIDE  # noqa: E402
from image_recommender.models.recommended import cpu_flags  # noqa: E402


def variants(count: int, seed: int = 3) -> list[Image.Image]:
    from skimage import data

    face = Image.fromarray(data.astronaut())
    chance = random.Random(seed)
    made = []
    for _ in range(count):
        picture = face
        if chance.random() < 0.5:
            picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        left, top = chance.randint(0, 120), chance.randint(0, 40)
        picture = picture.crop(
            (left, top, left + chance.randint(300, 512 - left), top + chance.randint(260, 512 - top))
        )
        picture = ImageEnhance.Brightness(picture).enhance(chance.uniform(0.45, 1.5))
        picture = ImageEnhance.Color(picture).enhance(chance.uniform(0.2, 1.3))
        picture = picture.rotate(chance.uniform(-20, 20), resample=Image.Resampling.BICUBIC, expand=False)
        scale = chance.uniform(0.5, 2.5)
        picture = picture.resize((max(64, round(picture.width * scale)), max(64, round(picture.height * scale))))
        made.append(picture)
    return made


def quality(finder: FaceFinder, pictures: list[Image.Image], photos: list[Path]) -> None:
    from skimage import data

    (original,) = finder.find(Image.fromarray(data.astronaut()))
    found, vectors, distances, gate_passed, seconds = 0, [], [], 0, []
    for picture in pictures:
        gate_passed += may_show_people(picture)
        small = detector_copy(picture)
        started = time.perf_counter()
        faces = finder.find(small, max(picture.size))
        seconds.append(time.perf_counter() - started)
        best = min(faces, key=lambda face: np.linalg.norm(face.vector - original.vector), default=None)
        if best is not None and np.linalg.norm(best.vector - original.vector) < 0.6:
            found += 1
            distances.append(float(np.linalg.norm(best.vector - original.vector)))
            if best.side >= MIN_GROUP_SIDE:
                vectors.append(best.vector)
    labels = chinese_whispers(np.array(vectors), GROUP_DISTANCE)
    largest = max((labels.count(label) for label in set(labels)), default=0)
    print(
        f"her faces found in {found} of {len(pictures)} pictures; distance to the original's descriptor"
        f" median {statistics.median(distances):.3f}, max {max(distances):.3f}; grouped: {largest} of"
        f" {len(vectors)} groupable faces in one person ({len(set(labels))} groups)"
    )
    print(f"the gate lets {gate_passed} of {len(pictures)} face pictures through")
    false_faces, ruled_out, gate_seconds = 0, 0, []
    for path in photos:
        with Image.open(path) as opened:
            opened.draft("RGB", (DETECT_SIDE, DETECT_SIDE))
            picture = opened.convert("RGB")
        started = time.perf_counter()
        passes = may_show_people(picture)
        gate_seconds.append(time.perf_counter() - started)
        ruled_out += not passes
        false_faces += len(finder.find(detector_copy(picture)))
    print(
        f"photos without people: {false_faces} false faces on {len(photos)}; the gate rules out {ruled_out} of"
        f" {len(photos)} ({statistics.median(gate_seconds) * 1000:.1f} ms each); the detector and descriptor"
        f" {statistics.median(seconds) * 1000:.0f} ms a picture (median)"
    )


def small_faces(photos: list[Path]) -> None:
    """Her face pasted into photos at 4-12% of their long side (a group photo's faces), found by
    the HOG detector at each size and upsampling: the choice of DETECT_SIDE rests on this."""
    import dlib
    from skimage import data

    detector = dlib.get_frontal_face_detector()
    face = Image.fromarray(data.astronaut())
    chance = random.Random(1)
    scenes = []
    for number, path in enumerate(photos[:20]):
        with Image.open(path) as opened:
            opened.draft("RGB", (2000, 2000))
            scene = opened.convert("RGB")
        scene.thumbnail((2000, 2000))
        share = (0.04, 0.06, 0.08, 0.12)[number % 4]  # the face's side over the picture's long side
        pasted = face.resize((round(512 * share * max(scene.size) / 90),) * 2)  # her face is 90 px of 512
        spare = (max(0, scene.width - pasted.width), max(0, scene.height - pasted.height))
        scene.paste(pasted, (chance.randint(0, spare[0]), chance.randint(0, spare[1])))
        scenes.append((share, scene))
    for side, upsample in ((640, 1), (800, 0), (1024, 0), (1280, 0)):
        found: dict[float, int] = {}
        seconds = []
        for share, scene in scenes:
            small = scene.copy()
            small.thumbnail((side, side))
            started = time.perf_counter()
            _, scores, _ = detector.run(np.asarray(small), upsample, 0.0)
            seconds.append(time.perf_counter() - started)
            found[share] = found.get(share, 0) + any(score >= 0.3 for score in scores)
        shares = ", ".join(f"{share:.0%}: {count} of 5" for share, count in sorted(found.items()))
        print(
            f"detector at {side} px, upsampled {upsample}x: faces found at {shares}; {statistics.median(seconds) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--variants", type=int, default=60)
    parser.add_argument("--photos", type=int, default=257)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--skip-quality", action="store_true", help="only the cost")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-faces-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    if not args.skip_quality:
        quality(FaceFinder(), variants(args.variants), sorted(args.source.rglob("*.jpg")))
        small_faces(sorted(args.source.rglob("*.jpg")))
    if not args.photos:
        return
    plain = work / "photos"
    if not plain.is_dir():
        make_library(args.source, args.photos, plain, None, "photos")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
    checkpoint = work / f"{args.model}-seeded.pt"
    env.update({
        "IMREC_MODEL": args.model, "IMREC_ENGINE_CACHE": str(work / "engines"), "HF_HUB_OFFLINE": "1",
        "IMREC_PRETRAINED": str(checkpoint if checkpoint.exists() else seeded_checkpoint(args.model, work)),
    })  # fmt: skip
    warm = work / "warm-up"
    shutil.rmtree(warm, ignore_errors=True)
    shutil.copytree(plain, warm, ignore=lambda _, names: names[8:])
    timed_index(warm, env, "--no-ocr")  # converts the model once; not what is measured
    seconds: dict[str, list[float]] = {"faces": [], "no-faces": []}
    summary: dict = {}
    for number in range(args.rounds):
        for way in ("faces", "no-faces") if number % 2 == 0 else ("no-faces", "faces"):
            library = work / f"run-{way}"
            shutil.rmtree(library, ignore_errors=True)
            shutil.copytree(plain, library)
            took, report = timed_index(library, env, "--no-ocr", *(() if way == "faces" else ("--no-faces",)))
            seconds[way].append(took)
            summary = report if way == "faces" else summary
    with_faces, without = statistics.median(seconds["faces"]), statistics.median(seconds["no-faces"])
    print(
        f"{args.model}, {args.photos} photos without people, --no-ocr: face pass on {with_faces:.1f} s, --no-faces"
        f" {without:.1f} s, ratio {with_faces / without:.2f} (runs {seconds}); the pass itself"
        f" {summary.get('faces_seconds', 0):.1f} s, {summary.get('faces_ruled_out')} of {summary.get('faces_looked')}"
        " ruled out by the gate"
    )


if __name__ == "__main__":
    main()

"""Videos: what indexing a phone-like video costs, which moments it keeps, and whether search
lands in the right scene.

Makes a ``--minutes`` 1080p H.264 video at 30 fps from the photos in ``--photos`` (each photo
one scene of 5-30 s, panning and zooming slowly, hard cuts between; a keyframe every second and
no B-frames, as phones record), then runs imrec itself on a library holding it: ``Library.update``
with ViT-L-14 (seeded weights, saved as a checkpoint; a short clip indexed first so the OpenVINO
conversion is not measured). Prints, from that one run:

- the video pass split into reading + sampling (decode, signatures, the kept frames as pictures)
  and embedding the kept frames: the issue's target is reading + sampling <= embedding;
- frames decoded and kept, kept per minute;
- scene recall: the share of scenes with at least one kept frame inside them;
- search: for each of ``--queries`` scenes, the scene's photo as the query; whether the video
  comes first with its moment inside that scene.

    python benchmarks/bench_video.py --minutes 10
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from image_recommender.models.recommended import cpu_flags

ROOT = Path(__file__).resolve().parent.parent
FPS = 30
SIZE = (1920, 1080)


def make_video(
    path: Path, photos: list[Path], minutes: float, seed: int = 0, phone: bool = True
) -> list[tuple[float, float, Path]]:
    """The video, and its scenes as (start, end, photo); ``phone``: a keyframe every second and no
    B-frames, else x264's own choice (a keyframe at cuts and every 250 frames, B-frames)."""
    chance = random.Random(seed)
    lengths = [chance.uniform(5, 30) for _ in photos]
    scale = minutes * 60 / sum(lengths)
    scenes: list[tuple[float, float, Path]] = []
    start = 0.0
    width, height = SIZE
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", **({"g": str(FPS), "bf": "0"} if phone else {})}
        frame_number = 0
        for photo, length in zip(photos, lengths, strict=True):
            seconds = length * scale
            first = frame_number
            frames = max(1, round((start + seconds) * FPS)) - first
            big = np.asarray(Image.open(photo).convert("RGB").resize((int(width * 1.25), int(height * 1.25))))
            for number in range(frames):
                progress = number / max(1, frames - 1)
                x = int((big.shape[1] - width) * progress)
                y = int((big.shape[0] - height) * (0.5 + 0.5 * np.sin(progress * np.pi)) / 2)
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(big[y : y + height, x : x + width]), format="rgb24"
                )
                for packet in stream.encode(frame):
                    container.mux(packet)
            frame_number += frames
            scenes.append((first / FPS, frame_number / FPS, photo))
            start += seconds
        for packet in stream.encode():
            container.mux(packet)
    return scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-video"))
    parser.add_argument(
        "--encoder-gop",
        action="store_true",
        help="x264's own keyframes and B-frames instead of a phone's (all frames decoded)",
    )
    args = parser.parse_args()
    import open_clip
    import torch

    from image_recommender import Library

    print(
        f"nproc {os.cpu_count()}, CPU flags: {cpu_flags()}; PyAV {av.__version__} (FFmpeg {av.library_versions['libavcodec']})"
    )
    photos = sorted(path for path in args.photos.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg", ".png"))
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    video = args.work / f"{'x264' if args.encoder_gop else 'phone'}-{args.minutes:g}min.mp4"
    scenes = make_video(video, photos, args.minutes, phone=not args.encoder_gop)
    print(
        f"made {video.name}: {len(scenes)} scenes, {video.stat().st_size / 2**20:.0f} MB, in {time.perf_counter() - started:.0f} s"
    )

    checkpoint = args.work / "vit-l-14-seeded.pt"
    if not checkpoint.exists():
        torch.manual_seed(0)
        torch.save(open_clip.create_model("ViT-L-14").state_dict(), checkpoint)
    settings = {"model": "ViT-L-14", "pretrained": str(checkpoint), "ocr": False, "engine_cache": args.work / "engines"}
    library_root = args.work / "library"
    shutil.rmtree(library_root, ignore_errors=True)
    library_root.mkdir()
    make_video(library_root / "warm-up.mp4", photos[:2], 0.1)  # converts the model for OpenVINO, unmeasured
    with Library.open(library_root, create=True, **settings) as library:
        library.update()
    shutil.copy(video, library_root / video.name)
    with Library.open(library_root, **settings) as library:
        library.scan()
        report = library.embed_videos()
        library.build_index()
        row = next(row for row in library.catalog.images() if row.path == video.name)
        kept = library.catalog.frames_of_content(library.query_model().id, row.fingerprint or "")
        times = [seconds for seconds, _ in kept[0]] if kept else []
        covered = sum(any(start <= t < end for t in times) for start, end, _ in scenes)
        hits = 0
        chosen = random.Random(1).sample(range(len(scenes)), min(args.queries, len(scenes)))
        for number in chosen:
            start, end, photo = scenes[number]
            query = args.work / "query.jpg"
            Image.open(photo).convert("RGB").resize(SIZE).save(query, quality=90)
            first = library.search(image=query, k=1).results[0]
            inside = first.path == video.name and first.timestamp is not None and start <= first.timestamp < end
            hits += inside
    minutes = args.minutes
    print(
        f"video pass: reading + sampling {report.sampling_seconds:.1f} s ({report.decoded} frames decoded,"
        f" {report.decoded / report.sampling_seconds:.0f}/s), embedding the {report.frames} kept frames"
        f" {report.embedding_seconds:.1f} s ({report.frames / report.embedding_seconds:.2f} frames/s);"
        f" sampling / embedding = {report.sampling_seconds / report.embedding_seconds:.2f}"
    )
    print(
        f"kept {report.frames} frames = {report.frames / minutes:.1f} per minute; scene recall {covered}/{len(scenes)}"
    )
    print(f"search: {hits}/{len(chosen)} scene stills found the video first at a moment inside their scene")


if __name__ == "__main__":
    main()

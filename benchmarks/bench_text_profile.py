"""Where the text detector's time goes per picture without text: the 640-px grey decode (the
text pass's own, for pictures the embedding pass did not decode), rapidocr's own detector call
(colour input, its normalisation, the model compiled for any shape), and imrec's (the grey
picture fed straight in; on rapidocr's any-shape model, and on models compiled for the shapes).

    python benchmarks/bench_text_profile.py --photos ../shared/photos
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from image_recommender.images.decode import decode, grey_thumbnail
from image_recommender.models.recommended import cpu_flags
from image_recommender.text import recognise
from image_recommender.text.recognise import DETECT_SIDE, TextReader

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, CPU flags: {cpu_flags()}")
    files = sorted(path for path in args.photos.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    contents = [path.read_bytes() for path in files]
    started = time.perf_counter()
    small = [grey_thumbnail(decode(data, long_side=DETECT_SIDE, grey=True).image, DETECT_SIDE) for data in contents]
    decoding = time.perf_counter() - started
    recognise.STATIC_AFTER = 10**9  # first: every shape on rapidocr's any-shape model
    reader = TextReader()
    rapidocr_own: Any = reader._reader  # rapidocr's own call, as imrec made it before

    def per_photo(detect: Any) -> float:
        times = []
        for _ in range(args.rounds):
            begun = time.perf_counter()
            for picture in small:
                detect(picture)
            times.append((time.perf_counter() - begun) / len(small) * 1000)
        return min(times)

    own = per_photo(lambda picture: rapidocr_own(recognise._bgr(picture), use_det=True, use_cls=False, use_rec=False))
    any_shape = per_photo(reader.detect)
    recognise.STATIC_AFTER = 1  # now: each shape compiled on first sight (the compiling not timed)
    for picture in small:
        reader.detect(picture)
    own_shapes = per_photo(reader.detect)
    shapes = len({picture.size for picture in small})
    print(
        f"{len(files)} photos ({shapes} detector input shapes), per photo (best of {args.rounds}): decode at"
        f" {DETECT_SIDE} px grey {decoding / len(files) * 1000:.1f} ms; rapidocr's own detector call {own:.1f} ms;"
        f" imrec's on the any-shape model {any_shape:.1f} ms, on models compiled for the shapes {own_shapes:.1f} ms"
    )


if __name__ == "__main__":
    main()

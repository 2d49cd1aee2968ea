"""Where the text pass's time goes per picture without text: the 640-px grey decode, and the
detector call (rapidocr's pre- and post-processing around the model, and the model itself).

    python benchmarks/bench_text_profile.py --photos ../shared/photos
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from image_recommender.images.decode import decode
from image_recommender.models.recommended import cpu_flags
from image_recommender.text.recognise import DETECT_SIDE, TextReader

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "photos")
    args = parser.parse_args()
    print(f"nproc {os.cpu_count()}, CPU flags: {cpu_flags()}")
    reader = TextReader()
    reader.detect(Image.new("RGB", (64, 64)))  # loads the detector (rapidocr loads it on first use)
    files = sorted(path for path in args.photos.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    contents = [path.read_bytes() for path in files]
    started = time.perf_counter()
    small = [decode(data, long_side=DETECT_SIDE, grey=True).image for data in contents]
    decoding = time.perf_counter() - started
    session: Any = reader._reader.text_det.session  # rapidocr's own detector session, timed around
    model = [0.0]
    call = session.__class__.__call__

    def timed(self: Any, pixels: Any) -> Any:
        begun = time.perf_counter()
        try:
            return call(self, pixels)
        finally:
            model[0] += time.perf_counter() - begun

    session.__class__.__call__ = timed
    started = time.perf_counter()
    for picture in small:
        reader.detect(picture)
    detecting = time.perf_counter() - started
    session.__class__.__call__ = call
    count = len(files)
    print(
        f"{count} photos: decode at {DETECT_SIDE} px grey {decoding / count * 1000:.1f} ms, detect() {detecting / count * 1000:.1f} ms"
        f" of which the detector model {model[0] / count * 1000:.1f} ms (per photo)"
    )


if __name__ == "__main__":
    main()

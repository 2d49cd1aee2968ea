"""RAW originals: what the embedded-preview route costs against developing the sensor data.

Writes DNGs of ``--megapixels`` (a photo scaled up: a 16-bit RGGB mosaic and a full-size JPEG
preview, as cameras write them; tests/rawfiles.py) and times, per file, in one process:

- preview: imrec's own decode for a 224-px model input (LibRaw hands over the JPEG, which is
  DCT-downscaled while decoding),
- develop half: LibRaw's demosaic at half size (imrec's fallback where a preview is too small),
- develop full: a full-size demosaic (what a RAW converter does).

    python benchmarks/bench_raw.py --megapixels 24 --files 3
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import rawpy
from PIL import Image

from image_recommender.images.decode import decode
from image_recommender.models.recommended import cpu_flags

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from rawfiles import write_dng  # noqa: E402 - the tests' DNG writer

PHOTOS = HERE.parent / "tests" / "data" / "photos"


def timed(work: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=24)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"nproc {os.cpu_count()}, CPU flags: {cpu_flags()}; rawpy {rawpy.__version__} (LibRaw {rawpy.libraw_version})"
    )
    sources = sorted(PHOTOS.glob("*.jpg"))[: args.files]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for number, source in enumerate(sources):
            picture = Image.open(source).convert("RGB")
            scale = (args.megapixels * 1e6 / (picture.width * picture.height)) ** 0.5
            big = picture.resize((int(picture.width * scale) // 2 * 2, int(picture.height * scale) // 2 * 2))
            path = write_dng(Path(folder) / f"{number}.dng", big, orientation=1)
            data = path.read_bytes()

            def develop(half: bool, data: bytes = data) -> None:
                with rawpy.imread(io.BytesIO(data)) as raw:
                    raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)

            preview = timed(lambda data=data: decode(data, 224), args.repeats)
            half = timed(lambda: develop(True), args.repeats)
            full = timed(lambda: develop(False), max(1, args.repeats // 2))
            rows.append((preview, half, full))
            print(
                f"{source.name[:24]:24} {big.width}x{big.height} ({len(data) / 2**20:.0f} MB): preview {preview * 1000:.0f} ms,"
                f" develop half {half * 1000:.0f} ms, full {full * 1000:.0f} ms"
            )
    preview, half, full = (statistics.median(column) for column in zip(*rows, strict=True))
    print(
        f"median: preview {preview * 1000:.0f} ms, develop half {half * 1000:.0f} ms ({half / preview:.1f}x),"
        f" full {full * 1000:.0f} ms ({full / preview:.1f}x)"
    )


if __name__ == "__main__":
    main()

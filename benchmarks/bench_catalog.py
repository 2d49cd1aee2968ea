"""The catalog at a million files: scan time and peak memory, unchanged and with 1% changed,
and how long ``imrec status`` takes.

The tree is ``--files`` empty files in folders of 1,000 (made once, kept with ``--dir``). Each
scan runs in a child process that reports its wall time and peak resident memory (VmHWM,
the interpreter's own ~30 MB and SQLite's mapped catalog pages included); one more rescan
runs under tracemalloc for the peak of Python allocations.
``--status LIBRARY`` also times a cold ``imrec status --json`` there (e.g. the 1M-vector
library ``bench_index.py --dir`` leaves), with its index current and after one change.

    python benchmarks/bench_catalog.py --files 1000000 --dir /tmp/catalog-bench
    python benchmarks/bench_catalog.py --files 1000000 --dir /tmp/catalog-bench --status /tmp/bench1m/lib
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench_index import cold_seconds, machine, memory_kb

from image_recommender.catalog.rows import FileStat

PER_FOLDER = 1000


def make_tree(root: Path, files: int) -> None:
    for number in range(files):
        folder = root / f"f{number // PER_FOLDER:05d}"
        if number % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number % PER_FOLDER:04d}.jpg").touch()


def child_scan(root: Path, traced: bool) -> dict[str, float]:
    """One scan: its wall time and peak RSS, or (``traced``) the peak of Python allocations, which
    tracemalloc measures at several times the scan's normal run time."""
    from image_recommender.catalog.store import Catalog
    from image_recommender.scan import scan_library

    catalog = Catalog.open(root / ".imrec" / "catalog.sqlite3")
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    report = scan_library(catalog, root, allow_mass_removal=True)
    seconds = time.perf_counter() - started
    python_peak = tracemalloc.get_traced_memory()[1] if traced else 0
    catalog.close()
    return {
        "seconds": seconds,
        "scanned": report.scanned,
        "new": report.new,
        "changed": report.changed,
        "peak_rss_mb": memory_kb("VmHWM") / 1024,
        "python_peak_mb": python_peak / 2**20,
    }


def scan(root: Path, traced: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(root), *(["--traced"] if traced else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def cold_status(library: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
    return cold_seconds([sys.executable, "-m", "image_recommender", "status", str(library), "--json"], 5, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="keep the tree and catalog here (reused when present)")
    parser.add_argument("--status", type=Path, help="an indexed library to time 'imrec status' on")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_scan(args.child, args.traced)))
        return
    print(f"{args.files} files in folders of {PER_FOLDER}; {machine()}")
    with tempfile.TemporaryDirectory() as scratch:
        root = args.dir or Path(scratch) / "tree"
        if not (root / ".imrec").exists():
            started = time.perf_counter()
            make_tree(root, args.files)
            print(f"tree made in {time.perf_counter() - started:.0f} s")
            first = scan(root)
            print(f"first scan (every file new): {first['seconds']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB")
        for label in ("nothing changed", "1% changed"):
            if label == "1% changed":
                stamp = time.time_ns()
                for number in range(0, args.files, 100):
                    path = root / f"f{number // PER_FOLDER:05d}" / f"{number % PER_FOLDER:04d}.jpg"
                    os.utime(path, ns=(stamp, stamp))
            found = scan(root)
            print(
                f"rescan, {label}: {found['seconds']:.1f} s ({found['changed']} changed),"
                f" peak RSS {found['peak_rss_mb']:.0f} MB"
            )
        traced = scan(root, traced=True)
        print(f"rescan under tracemalloc: Python allocations peak {traced['python_peak_mb']:.1f} MB")
    if args.status:
        print(
            f"cold 'imrec status --json' on {args.status}, index current: {cold_status(args.status):.2f} s (median of 5)"
        )
        from image_recommender import Library

        with Library.open(args.status) as library:
            image = library.catalog.images(limit=1)[0]
            library.catalog.apply_scan([], [], [], [image.id])  # one file gone: the sidecar no longer matches
            print(f"  ... after one file went: {cold_status(args.status):.2f} s (median of 5)")
            library.catalog.apply_scan([], [], [(image.id, FileStat(image.path, None, image.size, image.mtime_ns))], [])
            library.build_index()


if __name__ == "__main__":
    main()

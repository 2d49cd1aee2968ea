"""Embedding behaviour a user notices: progress only on terminals, retries, watch mode, --compile."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, run_json
from PIL import Image


def test_no_progress_bar_when_not_a_terminal(imrec: Runner, library_dir: Path) -> None:
    result = imrec("index", library_dir)
    assert "embedding" not in result.stderr and "\x1b[" not in result.stderr + result.stdout
    assert result.stdout.startswith("scanned 8, new 8")


def test_progress_bar_on_a_terminal(library_dir: Path, model_env: dict[str, str]) -> None:
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "image_recommender", "index", str(library_dir)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=dict(model_env, TERM="xterm-256color", COLUMNS="120"),
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0
    text = seen.decode(errors="replace")
    assert "embedding" in text and "img/s" in text and "failed" in text
    assert "scanned 8, new 8" in text


def test_retry_failed_after_fixing_a_file(imrec: Runner, library_dir: Path) -> None:
    good = library_dir / "later.jpg"
    Image.open(PHOTOS / "Fossa_by_Jasper_Roks.jpg").rotate(7).save(good)
    content = good.read_bytes()
    good.write_bytes(b"\0\0" + content[2:])  # same size, unreadable (e.g. a half-synced file)
    os.utime(good, (1_000_000, 1_000_000))
    assert run_json(imrec, "index", library_dir)["failed"] == 1
    good.write_bytes(content)
    os.utime(good, (1_000_000, 1_000_000))  # same size and mtime: the scan sees no change
    again = run_json(imrec, "index", library_dir)
    assert (again["changed"], again["embedded"]) == (0, 0)
    retried = run_json(imrec, "embed", library_dir, "--retry-failed")
    assert (retried["embedded"], retried["failed"]) == (1, 0)
    assert run_json(imrec, "status", library_dir)["counts"] == {"pending": 0, "ok": 9, "failed": 0, "gone": 0}


def test_watch_picks_up_added_changed_and_deleted_files(library_dir: Path, model_env: dict[str, str]) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "image_recommender", "watch", str(library_dir), "--json", "--debounce", "0.5"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=model_env,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]

    def next_summary() -> dict:
        return json.loads(lines.get(timeout=90))

    try:
        assert next_summary()["new"] == 8
        Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").rotate(90, expand=True).save(library_dir / "added.jpg")
        added = next_summary()
        assert (added["new"], added["embedded"], added["indexed"]) == (1, 1, 9)
        time.sleep(0.05)
        Image.open(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg").rotate(180).save(library_dir / "added.jpg")
        changed = next_summary()
        assert (changed["changed"], changed["embedded"]) == (1, 1)
        (library_dir / "Dragonfly_by_Bolly.jpg").unlink()
        removed = next_summary()
        assert removed["removed"] == 1 and removed["indexed"] == 8
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 130, errors  # interrupted, as the README promises
    assert "stopped watching" in errors and "Traceback" not in errors


def _stored_vectors(root: Path) -> dict[str, np.ndarray]:
    with sqlite3.connect(root / ".imrec" / "catalog.sqlite3") as db:
        rows = db.execute("SELECT filepath, vector_blob FROM seed_images WHERE vector_blob IS NOT NULL").fetchall()
    return {path: np.frombuffer(blob, dtype="<f4") for path, blob in rows}


@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile needs a C++ compiler")
def test_compiled_model_stores_the_same_vectors(
    imrec: Runner, library_dir: Path, model_env: dict[str, str], tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    shutil.copytree(library_dir, twin)
    imrec("index", library_dir, "-q")
    compiled = imrec("index", twin, "--compile", "-q")
    assert compiled.stderr.strip() == ""  # no compiler chatter for the user
    plain, fast = _stored_vectors(library_dir), _stored_vectors(twin)
    assert plain.keys() == fast.keys() and len(plain) == 8
    for path, vector in plain.items():
        assert float(vector @ fast[path]) >= 0.9999, path
    without_compiler = dict(model_env, PATH=str(Path(sys.executable).parent))
    shutil.rmtree(twin / ".imrec")
    refused = imrec("index", twin, "--compile", expect=2, env=without_compiler)
    assert (
        refused.stderr.strip()
        == "imrec: error: --compile needs a C++ compiler (g++ or clang++) on PATH; run without --compile"
    )


def test_copies_new_in_one_run_are_decoded_and_embedded_once(
    library_dir: Path, model_settings: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.embed.pipeline as embed_module
    from image_recommender import Library

    for number in range(3):
        shutil.copy2(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / f"wine-copy-{number}.jpg")
    decoded: list[int] = []
    real_decode = embed_module.decode

    def counted(data: bytes, *args: object, **kwargs: object) -> object:
        decoded.append(len(data))
        return real_decode(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embed_module, "decode", counted)
    with Library.open(library_dir, create=True, **model_settings) as library:  # workers=0: decoded here
        summary = library.update()
    assert (summary.embedded, summary.reused) == (8, 3)
    assert len(decoded) == 8  # one decode per distinct content, not 11

"""Embedding on a Ray cluster started by the tests (127.0.0.1, 2 CPUs): the same vectors and
failures as a local run, a killed worker retried, a killed driver continued by a rerun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, run_json
from PIL import Image

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
RAY = Path(sys.executable).with_name("ray")
# The test cluster listens on 127.0.0.1 only; a real cluster keeps Ray's token authentication.
NO_AUTH = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture
def ray_env(model_env: dict[str, str]) -> dict[str, str]:
    return {**model_env, **NO_AUTH}


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A one-node Ray cluster, as ``ray start --head`` makes it, for the module's tests."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, **NO_AUTH}
    start = [str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    start += ["--num-gpus=0", f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, env=env, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def many_photos(root: Path, count: int) -> None:
    """``count`` distinct small photos made from the committed ones."""
    root.mkdir(parents=True, exist_ok=True)
    sources = [Image.open(p).convert("RGB").resize((120, 90)) for p in sorted(PHOTOS.glob("*.jpg"))]
    for number in range(count):
        sources[number % len(sources)].rotate(number * 3).save(root / f"p{number:03d}.jpg", quality=90)


def stored_vectors(root: Path) -> dict[str, np.ndarray]:
    with sqlite3.connect(root / ".imrec" / "catalog.sqlite3") as db:
        rows = db.execute("SELECT images.path, vectors.vector FROM vectors JOIN images ON images.id = vectors.image_id")
        return {path: np.frombuffer(blob, dtype="<f4") for path, blob in rows}


def failures(root: Path) -> dict[str, str]:
    with sqlite3.connect(root / ".imrec" / "catalog.sqlite3") as db:
        return dict(db.execute("SELECT path, error FROM images WHERE state = 'failed'").fetchall())


def test_a_ray_run_stores_what_a_local_run_stores(
    imrec: Runner, ray_env: dict[str, str], library_dir: Path, tmp_path: Path, cluster: str
) -> None:
    (library_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (library_dir / "empty.png").write_bytes(b"")
    shutil.copy2(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "copy of wine.jpg")
    local = tmp_path / "local"
    shutil.copytree(library_dir, local)
    on_ray = run_json(imrec, "index", library_dir, "--ray", cluster, env=ray_env)
    assert (on_ray["ray_nodes"], on_ray["ray_actors"]) == (1, 1)
    assert on_ray["embedded"] + on_ray["reused"] + on_ray["failed"] == on_ray["scanned"] == 11
    here = run_json(imrec, "index", local)
    assert {k: here[k] for k in ("embedded", "reused", "failed")} == {
        k: on_ray[k] for k in ("embedded", "reused", "failed")
    }
    assert failures(library_dir) == failures(local) and len(failures(local)) == 2
    ray_vectors, local_vectors = stored_vectors(library_dir), stored_vectors(local)
    assert ray_vectors.keys() == local_vectors.keys() and len(ray_vectors) == 9
    for path, vector in ray_vectors.items():
        assert float(vector @ local_vectors[path]) >= 0.9999, path
    assert imrec("index", library_dir, "--ray", cluster, env=ray_env).returncode == 0  # nothing left: no work sent


def _processes(name: str) -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if name in line and "ps -eo" not in line]


def _vector_count(root: Path) -> int:
    try:
        with sqlite3.connect(root / ".imrec" / "catalog.sqlite3", timeout=10) as db:
            return int(db.execute("SELECT count(*) FROM vectors").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _start(ray_env: dict[str, str], root: Path, cluster: str) -> subprocess.Popen[str]:
    env = {**ray_env, "IMREC_MODEL_BATCH_SIZE": "4", "IMREC_BATCH_SIZE": "8"}
    command = [sys.executable, "-m", "image_recommender", "index", str(root), "--ray", cluster, "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_until(condition: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.05)


def test_a_killed_worker_is_retried_and_every_image_embedded_once(
    ray_env: dict[str, str], tmp_path: Path, cluster: str
) -> None:
    root = tmp_path / "many"
    many_photos(root, 160)
    run = _start(ray_env, root, cluster)
    _wait_until(lambda: (_vector_count(root) > 0 and _processes("_Embed")) or run.poll() is not None)
    workers = _processes("_Embed")
    assert workers and _vector_count(root) < 160, "the run ended before its model actor could be killed mid-way"
    os.kill(workers[0], signal.SIGKILL)  # the actor that has been embedding, with batches in flight
    out, errors = run.communicate(timeout=300)
    assert run.returncode == 0, errors
    summary = json.loads(out)
    assert summary["embedded"] + summary["reused"] == summary["scanned"] == 160 and summary["failed"] == 0
    assert _vector_count(root) == 160  # one vector an image: none lost, none twice


def test_a_killed_driver_is_continued_by_a_rerun(
    imrec: Runner, ray_env: dict[str, str], tmp_path: Path, cluster: str
) -> None:
    root = tmp_path / "many"
    many_photos(root, 160)
    run = _start(ray_env, root, cluster)
    _wait_until(lambda: _vector_count(root) > 0 or run.poll() is not None)
    run.kill()
    run.wait()
    done_before = _vector_count(root)
    assert 0 < done_before < 160, "the driver finished before it could be killed"
    rerun = run_json(imrec, "index", root, "--ray", cluster, env=ray_env)
    assert rerun["embedded"] + rerun["reused"] == 160 - done_before  # only what was not committed
    assert _vector_count(root) == 160


def test_without_ray_the_flag_is_a_one_line_error(
    imrec_process: Runner, model_env: dict[str, str], library_dir: Path, tmp_path: Path
) -> None:
    """Ray shadowed by a package that fails to import: a process of its own, with that path."""
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    result = imrec_process("index", library_dir, "--ray", expect=2, env={**model_env, "PYTHONPATH": str(shadow.parent)})
    assert result.stderr.strip() == "imrec: error: --ray needs Ray: pip install 'image-recommender[ray]'"

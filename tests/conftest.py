"""Shared fixtures: a tiny real OpenCLIP model (seeded weights in a checkpoint), real photos, the CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
TINY_CONFIG = DATA / "tiny-clip.json"

# How a camera stores an upright picture for each EXIF orientation, so that a viewer that
# applies the orientation shows it upright again.
_STORED_AS = {
    1: [],
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_90],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_270],
}


def as_camera_stores(upright: Image.Image, orientation: int) -> tuple[Image.Image, Image.Exif]:
    """The picture as saved under EXIF orientation 1-8, and the EXIF block that says so."""
    stored = upright
    for step in _STORED_AS[orientation]:
        stored = stored.transpose(step)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return stored, exif


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeded weights for the tiny architecture, saved the way a user's checkpoint would be."""
    import open_clip
    import torch

    open_clip.add_model_config(TINY_CONFIG)
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    path = tmp_path_factory.mktemp("weights") / "tiny-clip.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of converted models for the session: the tiny model is converted for OpenVINO once."""
    return tmp_path_factory.mktemp("engines")


def _model_environment(tiny_checkpoint: Path, engine_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMREC_")}
    env.update(
        {
            "IMREC_MODEL_CONFIG": str(TINY_CONFIG),
            "IMREC_PRETRAINED": str(tiny_checkpoint),
            "IMREC_PRECISION": "fp32",
            "IMREC_DEVICE": "cpu",
            "IMREC_WORKERS": "1",
            "IMREC_ENGINE_CACHE": str(engine_cache),
            "IMREC_OCR": "0",
            "IMREC_FACES": "0",
            "HF_HUB_OFFLINE": "1",
        }
    )
    return env


@pytest.fixture
def model_env(tiny_checkpoint: Path, engine_cache: Path) -> dict[str, str]:
    """Environment that points imrec at the tiny model; fp32 so vectors compare exactly."""
    return _model_environment(tiny_checkpoint, engine_cache)


@pytest.fixture(scope="session")
def model_settings(tiny_checkpoint: Path, engine_cache: Path) -> dict[str, object]:
    """The same choice as ``model_env``, as ``Library.open`` keyword arguments (read-only: copy to change)."""
    return {
        "model_config": TINY_CONFIG,
        "pretrained": str(tiny_checkpoint),
        "precision": "fp32",
        "device": "cpu",
        "workers": 0,
        "engine_cache": engine_cache,
        "ocr": False,  # the text pass has tests of its own (test_text_in_pictures.py)
        "faces": False,  # and the face pass (test_people.py)
    }


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """A fresh library folder holding the eight committed photos."""
    root = tmp_path / "library"
    root.mkdir()
    for photo in sorted(PHOTOS.glob("*.jpg")):
        shutil.copy2(photo, root / photo.name)
    return root


Runner = Callable[..., subprocess.CompletedProcess[str]]


def _checked(result: subprocess.CompletedProcess[str], expect: int | None) -> subprocess.CompletedProcess[str]:
    if expect is not None:
        assert result.returncode == expect, (
            f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@pytest.fixture
def imrec(tiny_checkpoint: Path, engine_cache: Path) -> Runner:
    """Run the CLI in this process, exactly as the console script does (``cli.run``): the same
    parsing, messages and exit codes, without a new interpreter importing torch per command.
    ``env`` replaces the environment for the call; ``expect`` is the exit code required."""
    from image_recommender.cli import run as run_cli

    default_env = _model_environment(tiny_checkpoint, engine_cache)

    def run(
        *args: object, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        argv = [str(arg) for arg in args]
        with mock.patch.dict(os.environ, env or default_env, clear=True), redirect_stdout(out), redirect_stderr(err):
            code = run_cli(argv)
        return _checked(subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue()), expect)

    return run


@pytest.fixture
def imrec_process(model_env: dict[str, str]) -> Runner:
    """Run the real CLI in a subprocess, for what needs a process of its own (locks held by
    another process, signals, kill -9, import time, memory)."""

    def run(
        *args: object, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "image_recommender", *map(str, args)],
            capture_output=True,
            text=True,
            env=env or model_env,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        return _checked(result, expect)

    return run


def indexed(root: Path, settings: dict[str, object]) -> Path:
    """``root`` after a full ``index`` with the tiny model."""
    from image_recommender import Library

    with Library.open(root, create=True, **settings) as library:  # type: ignore[arg-type]
        library.update()
    return root


def indexed_copy(source: Path, target: Path) -> Path:
    """A copy of an indexed library (files with their times, catalog and index) for a test to change."""
    shutil.copytree(source, target, symlinks=True)
    return target


def back_before_places(db: sqlite3.Connection) -> None:
    """A catalog's ``images`` table as schemas before 9 (places) and 10 (videos) had it, for tests
    that go back further; ``vectors`` keeps its newer columns, which migration 10 copies over."""
    db.execute("ALTER TABLE images DROP COLUMN duration")
    db.execute("DROP INDEX images_place")
    db.execute("ALTER TABLE images DROP COLUMN place_checked")
    db.execute("ALTER TABLE images DROP COLUMN place_id")


def run_json(runner: Runner, *args: object, env: dict[str, str] | None = None) -> dict:
    return json.loads(runner(*args, "--json", env=env).stdout)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start a process of their own (the CLI or a child imports torch: seconds each)
    or a browser are the slow tier; the CLI run in-process (``imrec``) is not.

    ``pytest -m "not slow"`` runs the in-process rest: the inner loop while developing.
    """
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "imrec_process" in fixtures or "model_env" in fixtures or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)

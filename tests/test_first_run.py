"""The first hour with imrec: a missing model said at once, honest summaries and dates, readable output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from image_recommender import Library
from image_recommender.errors import ModelError


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No model in any cache, no hub: a fresh machine without network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMREC_", "HF_"))}
    env.update({"XDG_CACHE_HOME": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)})
    return env


def test_the_default_model_missing_offline_is_said_at_once(
    library_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in offline_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    with Library.open(library_dir, create=True) as library, pytest.raises(ModelError) as raised:
        library.update()
    message = str(raised.value)
    assert "ViT-L-14/openai (about 1.7 GB) are not in" in message and "models--timm--vit_large" in message
    assert "--pretrained FILE" in message and "ViT-B-16/datacomp_xl_s13b_b90k (599 MB)" in message
    with Library.open(library_dir) as library:
        assert library.catalog.state_counts()["pending"] == 8  # the scan is kept for the next run


def test_the_missing_model_is_found_without_importing_torch(library_dir: Path, tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from image_recommender import Library\n"
        "from image_recommender.errors import ModelError\n"
        f"library = Library.open({str(library_dir)!r}, create=True)\n"
        "try:\n    library.update()\nexcept ModelError as exc:\n    print(str(exc)[:40])\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=offline_env(tmp_path), timeout=120
    )
    assert result.stdout.splitlines() == ["the weights of ViT-L-14/openai (about 1.", "False"], result.stderr


def test_a_run_after_an_interrupted_one_says_what_was_waiting_and_the_run_s_own_rate(
    library_dir: Path, model_settings: dict
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.scan()  # an earlier run catalogued the files, then stopped before embedding
        summary = library.update()
    assert (summary.new, summary.waiting, summary.embedded) == (0, 8, 8)
    line = summary.line()
    assert "new 0 (+8 waiting from an earlier run)" in line
    assert summary.images_per_second == pytest.approx(8 / summary.seconds)  # the whole run's
    assert summary.embedding_images_per_second > summary.images_per_second
    assert f"embedding alone {summary.embedding_images_per_second:.1f} images/s" in line
    assert set(json.loads(json.dumps(summary.as_json()))) >= {"waiting", "embedding_images_per_second"}

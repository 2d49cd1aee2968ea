"""The main job through the real CLI: index, search, status, incremental updates, errors."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, TINY_CONFIG, Runner, run_json
from PIL import Image


def test_index_then_search_finds_the_query_image_first(imrec: Runner, library_dir: Path) -> None:
    summary = run_json(imrec, "index", library_dir)
    assert summary["scanned"] == 8 and summary["new"] == 8 and summary["embedded"] == 8
    assert summary["failed"] == 0 and summary["indexed"] == 8

    query = library_dir / "Wine_by_Jakkub_Mede.jpg"
    data = run_json(imrec, "search", query, "--library", library_dir, "-k", "3", "--include-query")
    assert (
        set(data) == {"query", "model", "index_current", "words", "understood", "undated_left_out", "results"}
        and data["index_current"] is True
    )
    assert data["understood"] is None  # an image query has no words to read
    first = data["results"][0]
    assert set(first) >= {"rank", "id", "path", "score"}
    assert first["path"] == "Wine_by_Jakkub_Mede.jpg" and first["rank"] == 1
    assert abs(first["score"] - 1.0) < 1e-4
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_by_outside_file_and_table_output(imrec: Runner, library_dir: Path, tmp_path: Path) -> None:
    imrec("index", library_dir, "-q")
    outside = tmp_path / "outside.png"
    Image.open(PHOTOS / "Fossa_by_Jasper_Roks.jpg").save(outside)
    table = imrec("search", outside, "-l", library_dir, "-k", "2").stdout.splitlines()
    assert table[0] == f"query: +{outside}" and table[1].split() == ["rank", "score", "id", "taken", "path"]
    cells = [line.split(maxsplit=5) for line in table[2:]]  # rank, score, id, date, time, path
    assert len(cells) == 2 and cells[0][0] == "1" and cells[0][-1] == "Fossa_by_Jasper_Roks.jpg"  # a re-encode: kept
    assert float(cells[0][1]) > 0.999 and float(cells[0][1]) >= float(cells[1][1])
    data = run_json(imrec, "search", outside, "-l", library_dir, "-k", "2", "--include-query")
    assert data["results"][0]["path"] == "Fossa_by_Jasper_Roks.jpg"
    assert data["results"][0]["score"] > 0.999


def test_preview_is_a_valid_png(imrec: Runner, library_dir: Path, tmp_path: Path) -> None:
    imrec("index", library_dir, "-q")
    sheet = tmp_path / "sheet.png"
    imrec("search", library_dir / "Bridge_by_Sander_Klootwijk.jpg", "-l", library_dir, "-k", "4", "--preview", sheet)
    with Image.open(sheet) as image:
        assert image.format == "PNG"
        assert image.width > 300 and image.height > 200
        assert np.asarray(image.convert("L")).std() > 10


def test_incremental_add_modify_delete_and_noop(imrec: Runner, library_dir: Path, model_env: dict[str, str]) -> None:
    run_json(imrec, "index", library_dir)
    Image.open(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg").rotate(90, expand=True).save(library_dir / "new.jpg")
    modified = library_dir / "Dragonfly_by_Bolly.jpg"
    Image.open(modified).transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(modified, quality=80)
    (library_dir / "Kleiber_by_Lukas_Baubkus.jpg").unlink()
    summary = run_json(imrec, "index", library_dir)
    assert (summary["new"], summary["changed"], summary["removed"]) == (1, 1, 1)
    assert summary["embedded"] == 2 and summary["indexed"] >= 8

    results = run_json(imrec, "search", "--like-id", "1", "-l", library_dir, "-k", "20")["results"]
    assert "Kleiber_by_Lukas_Baubkus.jpg" not in {r["path"] for r in results}
    assert "new.jpg" in {r["path"] for r in results}

    # A no-op run does no model work: torch is never even imported.
    noop = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "image_recommender", "index", library_dir, "--json"],
        capture_output=True,
        text=True,
        env=model_env,
        check=True,
    )
    assert '"embedded": 0' in noop.stdout and '"new": 0' in noop.stdout and '"changed": 0' in noop.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in noop.stderr.splitlines() if line.startswith("import time")}
    assert "torch" not in imported and "open_clip" not in imported


def test_stored_vector_equals_open_clip_reference(imrec: Runner, library_dir: Path, tiny_checkpoint: Path) -> None:
    import open_clip
    import torch

    imrec("index", library_dir, "-q")
    model, _, preprocess = open_clip.create_model_and_transforms("tiny-clip", pretrained=str(tiny_checkpoint))
    model.eval()
    with sqlite3.connect(library_dir / ".imrec" / "catalog.sqlite3") as db:
        rows = db.execute("SELECT filepath, vector_blob FROM seed_images").fetchall()
    assert len(rows) == 8
    for path, blob in rows:
        stored = np.frombuffer(blob, dtype="<f4")
        with torch.no_grad(), Image.open(library_dir / path) as picture:
            reference = model.encode_image(preprocess(picture).unsqueeze(0))[0].numpy()
        reference /= np.linalg.norm(reference)
        assert abs(np.linalg.norm(stored) - 1) < 1e-5
        assert float(stored @ reference) >= 0.9999, path


def test_index_and_catalog_agree(imrec: Runner, library_dir: Path) -> None:
    import faiss

    imrec("index", library_dir, "-q")
    state = library_dir / ".imrec"
    sidecars = list(state.glob("index-*.json"))
    assert len(sidecars) == 1
    import json

    meta = json.loads(sidecars[0].read_text())
    index = faiss.read_index(str(state / meta["index_file"]))
    labels = sorted(faiss.vector_to_array(index.id_map).tolist())
    with sqlite3.connect(state / "catalog.sqlite3") as db:
        offsets = sorted(r[0] for r in db.execute("SELECT faiss_index_offset FROM seed_images"))
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert labels == offsets and meta["count"] == 8 and meta["dim"] == 32
    assert meta["model"] == "tiny-clip" and meta["params"]["kind"] == "hnsw"


def test_corrupt_file_is_reported_not_fatal(imrec: Runner, library_dir: Path) -> None:
    (library_dir / "broken.jpg").write_bytes((PHOTOS / "Wine_by_Jakkub_Mede.jpg").read_bytes()[:3000])
    (library_dir / "notes.png").write_text("<html>not a picture</html>")
    result = imrec("index", library_dir)
    assert "failed 2" in result.stdout
    status = run_json(imrec, "status", library_dir)
    assert status["counts"]["ok"] == 8 and status["counts"]["failed"] == 2
    reasons = {f["path"]: f["error"] for f in status["failures"]}
    assert set(reasons) == {"broken.jpg", "notes.png"}
    assert "not an image" in reasons["notes.png"]
    assert status["index"]["current"] is True


def test_user_errors_are_one_line_without_traceback(imrec: Runner, library_dir: Path, tmp_path: Path) -> None:
    cases = [
        ("index", tmp_path / "missing-folder"),
        ("index", library_dir, "--model", "ViT-Q-99", "--model-config", tmp_path / "none.json"),
        ("index", library_dir, "--batch-size", "0"),
        ("index", library_dir, "--device", "tpu"),
        ("search", tmp_path / "nope.jpg", "-l", library_dir, "--like", tmp_path / "nope.jpg"),
        ("status", tmp_path / "empty"),
        ("search", "-l", library_dir, "--bogus"),
        ("search", "-l", library_dir, "-k", "many", "x"),
        ("frobnicate",),
        ("duplicates", library_dir, "--undo", tmp_path / "notes.txt"),
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("milk, eggs\n")
    for args in cases:
        result = imrec(*args, expect=None)
        assert result.returncode == 2, args
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("imrec: error:"), (args, result.stderr)


def test_unknown_model_and_unreachable_hub_fail_fast(
    imrec: Runner, library_dir: Path, model_env: dict[str, str]
) -> None:
    env = {k: v for k, v in model_env.items() if k not in ("IMREC_MODEL_CONFIG", "IMREC_PRETRAINED")}
    unknown = imrec("index", library_dir, "--model", "ViT-L-15", expect=2, env=env)
    assert "unknown model 'ViT-L-15'" in unknown.stderr and "ViT-L-14" in unknown.stderr
    offline = imrec("index", library_dir, "--model", "ViT-B-32", "--pretrained", "openai", expect=2, env=env)
    assert "--pretrained" in offline.stderr and "Traceback" not in offline.stderr


def test_unreachable_hub_fails_fast_without_offline_flag(
    imrec: Runner, library_dir: Path, model_env: dict[str, str]
) -> None:
    env = {k: v for k, v in model_env.items() if k not in ("IMREC_MODEL_CONFIG", "IMREC_PRETRAINED", "HF_HUB_OFFLINE")}
    env["HF_HOME"] = str(library_dir.parent / "empty-hf-cache")
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # the discard port: nothing listens, as when the hub is unreachable
    started = time.monotonic()
    result = imrec("index", library_dir, "--model", "ViT-B-32", "--pretrained", "openai", expect=2, env=env)
    assert time.monotonic() - started < 30
    assert "cannot be reached" in result.stderr and "--pretrained /path/to/checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_settings_precedence(imrec: Runner, library_dir: Path, model_env: dict[str, str]) -> None:
    from image_recommender.errors import SettingsError
    from image_recommender.settings import load_settings

    (library_dir / ".imrec").mkdir()
    (library_dir / ".imrec" / "config.toml").write_text("top_k = 3\nef_search = 40\nhnsw_m = 12\n")
    settings = load_settings(library_dir, {"ef_search": 50}, environ={"IMREC_HNSW_M": "24"})
    assert (settings.top_k, settings.hnsw_m, settings.ef_search) == (3, 24, 50)
    assert load_settings(library_dir, {"ef_search": 0}).ef_search == 0  # automatic
    with pytest.raises(SettingsError, match="ef_search"):
        load_settings(library_dir, {"ef_search": -1})
    with pytest.raises(SettingsError, match="is a file; give the library's folder"):
        load_settings(library_dir / "Bridge_by_Sander_Klootwijk.jpg")
    with pytest.raises(SettingsError, match="different architectures"):
        load_settings(library_dir, {"model": "ViT-B-32"}, environ={"IMREC_MODEL_CONFIG": str(TINY_CONFIG)})
    same = load_settings(library_dir, {"model": "tiny-clip", "model_config": TINY_CONFIG})
    assert same.model_spec.architecture == "tiny-clip"
    imrec("index", library_dir, "-q")
    data = run_json(imrec, "search", "--like-id", "2", "-l", library_dir)
    assert len(data["results"]) == 3
    bad = imrec("search", "--like-id", "2", "-l", library_dir, expect=2, env=dict(model_env, IMREC_TOP_K="many"))
    assert "IMREC_TOP_K" in bad.stderr


def test_moved_copied_and_touched_files_reuse_vectors(imrec: Runner, library_dir: Path) -> None:
    run_json(imrec, "index", library_dir)
    (library_dir / "sub").mkdir()
    shutil.move(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "sub" / "wine.jpg")
    shutil.copy(library_dir / "Fossa_by_Jasper_Roks.jpg", library_dir / "fossa-copy.jpg")
    touched = library_dir / "Bridge_by_Sander_Klootwijk.jpg"
    os.utime(touched, (1_600_000_000, 1_600_000_000))
    summary = run_json(imrec, "index", library_dir)
    assert summary["embedded"] == 0
    assert summary["reused"] == 3
    assert (summary["new"], summary["changed"], summary["removed"]) == (2, 1, 1)
    status = run_json(imrec, "status", library_dir)
    assert status["counts"]["ok"] == 9 and status["index"]["current"]


def test_version_is_printed(imrec: Runner) -> None:
    from image_recommender import __version__

    assert imrec("--version").stdout.strip() == f"imrec {__version__}"

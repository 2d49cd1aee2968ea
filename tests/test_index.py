"""Index behaviour: recall, incremental adds, stale filtering and rebuilds, flat indexes, several models."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, TINY_CONFIG, Runner, as_camera_stores, run_json
from PIL import Image, ImageOps

from image_recommender import Library
from image_recommender.index.kinds import IndexParams, default_ef_search
from image_recommender.index.storage import VectorIndex


def clustered(count: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    points = centres[rng.integers(0, clusters, count)] + 0.5 * rng.standard_normal((count, dim)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ base.T), axis=1)[:, :k]


def test_default_hnsw_recall_on_a_test_set() -> None:
    data = clustered(6000)
    base, queries = data[:5000], data[5000:]
    labels = np.arange(100, 5100, dtype=np.int64)
    index = VectorIndex.build(labels, base, IndexParams(), "m", "p", 64)
    _, found = index.search(queries, 10, ef_search=default_ef_search(len(base)))
    truth = labels[exact_top(base, queries, 10)]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.99


def test_incremental_add_equals_fresh_build(tmp_path: Path) -> None:
    data = clustered(3000, seed=1)
    labels = np.arange(1, 3001, dtype=np.int64)
    grown = VectorIndex.build(labels[:2000], data[:2000], IndexParams(), "m", "p", 64)
    sidecar = tmp_path / "index.json"
    grown.save(sidecar)
    reloaded = VectorIndex.load(sidecar, writable=True)
    assert reloaded is not None
    reloaded.add(labels[2000:], data[2000:])
    fresh = VectorIndex.build(labels, data, IndexParams(), "m", "p", 64)
    queries = clustered(200, seed=2)
    _, from_grown = reloaded.search(queries, 10, 128)
    _, from_fresh = fresh.search(queries, 10, 128)
    agreement = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(from_grown, from_fresh, strict=True)])
    assert agreement >= 0.99 and reloaded.meta.count == 3000


def test_stale_vectors_are_filtered_then_rebuilt_past_the_share(model_settings: dict, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    sources = [Image.open(p).convert("RGB").resize((96, 64)) for p in sorted(PHOTOS.glob("*.jpg"))]
    for number in range(40):
        sources[number % 8].rotate(number * 9).save(root / f"p{number:02d}.jpg")
    with Library.open(root, create=True, **model_settings) as library:
        library.update()
        for number in range(3):  # 3 of 40 = 7.5%: filtered, no rebuild
            (root / f"p{number:02d}.jpg").unlink()
        summary = library.update()
        assert not summary.rebuilt and summary.indexed == 37  # live vectors; 3 stale ones are filtered
        assert library.status().index.current
        assert {r.path for r in library.search(text="x", k=40).results}.isdisjoint({"p00.jpg", "p01.jpg", "p02.jpg"})
        for number in range(3, 6):  # 6 of 40 = 15%: rebuilt without them
            (root / f"p{number:02d}.jpg").unlink()
        summary = library.update()
        assert summary.rebuilt and summary.indexed == 34
        assert len(library.search(text="x", k=50).results) == 34


def test_flat_index_gives_exact_results(imrec: Runner, library_dir: Path) -> None:
    imrec("index", library_dir, "--index", "flat", "-q")
    import faiss

    meta = json.loads(next((library_dir / ".imrec").glob("index-*.json")).read_text())
    assert meta["params"]["kind"] == "flat"
    built = faiss.read_index(str(library_dir / ".imrec" / meta["index_file"]))
    assert isinstance(faiss.downcast_index(faiss.downcast_index(built).index), faiss.IndexFlatIP)  # not HNSW
    flat = run_json(imrec, "search", "--like-id", "3", "-l", library_dir, "-k", "7")
    hnsw_root = library_dir.parent / "hnsw"
    shutil.copytree(library_dir, hnsw_root, ignore=shutil.ignore_patterns(".imrec"))
    imrec("index", hnsw_root, "-q")
    hnsw = run_json(imrec, "search", "--like-id", "3", "-l", hnsw_root, "-k", "7", "--ef-search", "16")
    assert [r["path"] for r in flat["results"]] == [r["path"] for r in hnsw["results"]]


def test_ivf_disk_from_the_command_line_answers_as_flat(imrec: Runner, library_dir: Path) -> None:
    imrec("index", library_dir, "--index", "flat", "-q")
    flat = run_json(imrec, "search", "--like-id", "3", "-l", library_dir, "-k", "7")
    imrec("build-index", library_dir, "--index", "ivf-disk")
    state = library_dir / ".imrec"
    meta = json.loads(next(state.glob("index-*.json")).read_text())
    assert meta["params"]["kind"] == "ivf-disk" and (state / meta["lists_file"]).is_file()
    assert run_json(imrec, "status", library_dir)["index"]["kind"] == "ivf-disk"
    on_disk = run_json(imrec, "search", "--like-id", "3", "-l", library_dir, "-k", "7")
    assert [r["path"] for r in on_disk["results"]] == [r["path"] for r in flat["results"]]
    assert [r["score"] for r in on_disk["results"]] == pytest.approx([r["score"] for r in flat["results"]], abs=1e-6)


def test_two_models_in_one_catalog(imrec: Runner, library_dir: Path, model_env: dict[str, str], tmp_path: Path) -> None:
    import open_clip
    import torch

    other_config = tmp_path / "tiny-clip-b.json"
    other = json.loads(TINY_CONFIG.read_text())
    other["embed_dim"] = 24
    other_config.write_text(json.dumps(other))
    open_clip.add_model_config(other_config)
    torch.manual_seed(1)
    weights = tmp_path / "tiny-b.pt"
    torch.save(open_clip.create_model("tiny-clip-b").state_dict(), weights)
    other_env = dict(model_env, IMREC_MODEL_CONFIG=str(other_config), IMREC_PRETRAINED=str(weights))

    imrec("index", library_dir, "-q")
    refused = imrec("index", library_dir, expect=2, env=other_env)
    assert "--add-model" in refused.stderr and "tiny-clip" in refused.stderr
    second = run_json(imrec, "index", library_dir, "--add-model", env=other_env)
    assert second["embedded"] == 8 and second["reused"] == 0
    status = run_json(imrec, "status", library_dir, env=other_env)
    assert sorted((m["name"], m["dim"]) for m in status["models"]) == [("tiny-clip", 32), ("tiny-clip-b", 24)]
    assert len(list((library_dir / ".imrec").glob("index-*.json"))) == 2
    assert run_json(imrec, "search", "--like-id", "1", "-l", library_dir, env=other_env)["model"] == "tiny-clip-b"
    assert run_json(imrec, "search", "--like-id", "1", "-l", library_dir)["model"] == "tiny-clip"
    env = {k: v for k, v in model_env.items() if k not in ("IMREC_MODEL_CONFIG", "IMREC_PRETRAINED")}
    ambiguous = imrec("search", "--like-id", "1", "-l", library_dir, "--model", "ViT-B-32", expect=2, env=env)
    assert "tiny-clip" in ambiguous.stderr and "tiny-clip-b" in ambiguous.stderr


def _reference(model: object, preprocess: object, picture: Image.Image) -> np.ndarray:
    import torch

    with torch.no_grad():
        vector = model.encode_image(preprocess(picture).unsqueeze(0))[0].numpy()  # type: ignore[attr-defined,operator]
    return vector / np.linalg.norm(vector)


@pytest.mark.parametrize("decode", ["workers", "device"])
@pytest.mark.parametrize("mode", ["L", "CMYK", "P", "RGB-PNG", "EXIF-JPEG", "WEBP"])
def test_every_mode_embeds_like_open_clip_reference(
    mode: str, decode: str, model_settings: dict, tmp_path: Path
) -> None:
    import open_clip

    root = tmp_path / "lib"
    root.mkdir()
    photo = Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").convert("RGB")
    name = {"L": "grey.jpg", "CMYK": "cmyk.jpg", "P": "palette.png", "RGB-PNG": "plain.png"}.get(mode, "")
    if mode == "EXIF-JPEG":
        name = "rotated.jpg"
        stored, exif = as_camera_stores(photo, 8)
        stored.save(root / name, quality=95, exif=exif)
    elif mode == "WEBP":
        name = "photo.webp"
        photo.save(root / name, quality=90)
    else:
        photo.convert({"RGB-PNG": "RGB"}.get(mode, mode)).save(root / name)
    with Library.open(root, create=True, decode=decode, **model_settings) as library:
        library.update()
        model_row = library.query_model()
        image = library.catalog.image_by_path(name)
        stored = library.catalog.vector_of_image(image.id, model_row.id)[1]
    model, _, preprocess = open_clip.create_model_and_transforms("tiny-clip", pretrained=model_settings["pretrained"])
    model.eval()
    with Image.open(root / name) as opened:
        # The picture as a viewer shows it. (open_clip's own transform would resize a palette image
        # before converting it, which Pillow can only do nearest-neighbour; imrec converts first.)
        upright = ImageOps.exif_transpose(opened).convert("RGB")
        reference = _reference(model, preprocess, upright)
    assert float(stored @ reference) >= 0.9999


@pytest.mark.parametrize("decode", ["workers", "device"])
def test_every_exif_orientation_embeds_like_the_upright_picture(
    decode: str, model_settings: dict, tmp_path: Path
) -> None:
    import open_clip

    root = tmp_path / "lib"
    root.mkdir()
    upright = Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").convert("RGB")
    for orientation in range(1, 9):
        stored, exif = as_camera_stores(upright, orientation)
        stored.save(root / f"orientation-{orientation}.jpg", quality=95, exif=exif)
    with Library.open(root, create=True, decode=decode, **model_settings) as library:
        assert library.update().embedded == 8
        model_id = library.query_model().id
        stored_vectors = {
            image.path: library.catalog.vector_of_image(image.id, model_id)[1] for image in library.catalog.images()
        }
    model, _, preprocess = open_clip.create_model_and_transforms("tiny-clip", pretrained=model_settings["pretrained"])
    model.eval()
    reference = _reference(model, preprocess, upright)
    for path, vector in stored_vectors.items():
        assert float(vector @ reference) >= 0.999, path


def test_heic_file_is_indexed(model_settings: dict, tmp_path: Path) -> None:
    from image_recommender.images.decode import HEIF_SUPPORTED

    if not HEIF_SUPPORTED:
        pytest.skip("pillow-heif not installed")
    root = tmp_path / "lib"
    root.mkdir()
    buffer = io.BytesIO()
    Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").save(buffer, "HEIF", quality=90)
    (root / "phone.HEIC").write_bytes(buffer.getvalue())
    with Library.open(root, create=True, **model_settings) as library:
        summary = library.update()
        assert summary.embedded == 1 and summary.failed == 0

"""Indexing and text queries from a cached conversion without torch: the same pixels, tokens and
vectors, no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PHOTOS, TINY_CONFIG
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from image_recommender import Library
from image_recommender.models import openvino_engine
from image_recommender.models.cached_engine import (
    CachedImageModel,
    CachedTextModel,
    NumpyPixels,
    cached_image_model,
    cached_text_model,
)
from image_recommender.models.clip_tokens import ClipTokens, save_tokenizer
from image_recommender.models.spec import ModelSpec
from image_recommender.search import Term

SHAPES = [(480, 270), (270, 480), (300, 300), (10, 7), (7, 10), (3000, 2000), (225, 224), (224, 225), (1, 2)]


@pytest.mark.parametrize("mode", ["shortest", "squash"])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_numpy_pixels_are_open_clip_s_pixels(mode: str, interpolation: str) -> None:
    from open_clip.transform import PreprocessCfg, image_transform_v2

    from image_recommender.models.torch_model import split_preprocess

    recipe = {"size": 64, "interpolation": interpolation, "resize_mode": mode}
    torch_route, _ = split_preprocess(image_transform_v2(PreprocessCfg(**recipe), is_train=False))
    numpy_route = NumpyPixels.from_recipe(recipe)
    assert numpy_route is not None
    photo = Image.open(PHOTOS / "Kleiber_by_Lukas_Baubkus.jpg").convert("RGB")
    for width, height in SHAPES:
        picture = photo.resize((width, height))
        expected = torch_route(picture).numpy()
        assert np.array_equal(numpy_route(picture), expected), (width, height)


def test_recipes_it_cannot_reproduce_take_the_torch_route() -> None:
    assert NumpyPixels.from_recipe({"size": [64, 96]}) is None
    assert NumpyPixels.from_recipe({"size": 64, "resize_mode": "longest"}) is None
    assert NumpyPixels.from_recipe({"size": 64, "interpolation": "random"}) is None


@pytest.fixture(scope="module")
def clip_tokenizers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ClipTokens]:
    """OpenCLIP's own tokenizer, and the same saved and read back torch-free."""
    import open_clip

    theirs = open_clip.get_tokenizer("ViT-B-32")
    path = tmp_path_factory.mktemp("tokens") / "tokenizer.json"
    assert save_tokenizer(theirs, path)
    return theirs, ClipTokens(path)


QUERIES = [
    "a red bicycle",
    "Öffnungszeiten am Straßenrand",
    "ein Hund 🐶 am Strand!!",
    "IT'S a CAT's toy, don'T",
    "&amp;lt;b&amp;gt; fish &amp; chips",
    "  many   spaces\t\nhere ",
    "<start_of_text> hi <end_of_text>",
    "word " * 100,
    "İstanbul ǅ ﬁ ẞ",
    "数字123 4567",
    "l'été à Paris",
    "\u202eevil",
    "",
]


def test_saved_tokenizer_gives_open_clip_s_tokens(clip_tokenizers: tuple[Any, ClipTokens]) -> None:
    theirs, ours = clip_tokenizers
    assert np.array_equal(ours(QUERIES), theirs(QUERIES).numpy())
    assert ours(["word " * 100]).shape == (1, 77)  # truncated, ending in the end token as OpenCLIP does
    assert ours(["word " * 100])[0, -1] == theirs.eot_token_id


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("abcXYZ äöüÄÖÜß'!?.,-_ 0123456789🐶éİ\u0301\t\n&;<>"), max_size=120))
def test_saved_tokenizer_agrees_on_any_text(clip_tokenizers: tuple[Any, ClipTokens], text: str) -> None:
    theirs, ours = clip_tokenizers
    assert np.array_equal(ours([text]), theirs([text]).numpy())


def test_tokenizers_it_cannot_reproduce_are_not_saved(tmp_path: Path) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    assert not save_tokenizer(SimpleTokenizer(clean="canonicalize"), tmp_path / "t.json")
    assert not save_tokenizer(object(), tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def _converted(tiny_checkpoint: Path, engine_cache: Path, library: Path) -> ModelSpec:
    """The tiny model converted into the session's engine cache (once), through a real index."""
    with Library.open(
        library,
        create=True,
        model_config=TINY_CONFIG,
        pretrained=str(tiny_checkpoint),
        engine="openvino",
        precision="fp32",
        engine_cache=engine_cache,
        workers=0,
    ) as opened:
        opened.update()
    return ModelSpec("tiny-clip", str(tiny_checkpoint), TINY_CONFIG)


@pytest.mark.slow  # converts the tiny model for OpenVINO once per session
def test_vectors_from_the_cache_equal_the_torch_route_s(
    tiny_checkpoint: Path, engine_cache: Path, library_dir: Path
) -> None:
    from image_recommender.models.torch_model import EngineOptions, load_model

    spec = _converted(tiny_checkpoint, engine_cache, library_dir)
    light = cached_image_model(spec, "openvino", "cpu", "fp32", "CPU", engine_cache)
    assert isinstance(light, CachedImageModel)
    full = load_model(spec, "cpu", "fp32", engine=EngineOptions("openvino", cache_dir=engine_cache))
    photos = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]
    ours, theirs = light.encode_pil(photos), full.encode_pil(photos)
    assert np.sum(ours * theirs, axis=1).min() >= 0.9999
    assert light.dim == full.dim and light.image_size == full.image_size
    # engine = torch, or a GPU, or a model never converted: the torch route
    assert cached_image_model(spec, "torch", "cpu", "fp32", "CPU", engine_cache) is None
    assert cached_image_model(spec, "auto", "cuda", "fp32", "CPU", engine_cache) is None
    assert cached_image_model(spec, "auto", "cpu", "fp32", "CPU", engine_cache.parent / "empty") is None


def _imrec_without_torch(model_env: dict[str, str], *argv: str, unneeded: tuple[str, ...] = ()) -> str:
    """Run ``imrec ARGV`` in a fresh process on the OpenVINO engine; its stdout, once it is
    checked that the process succeeded and never imported torch, open_clip or ``unneeded``."""
    modules = ("torch", "open_clip", *unneeded)
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['imrec', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('image_recommender', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print([name for name in {modules!r} if name in sys.modules])\n"
    )
    env = {**model_env, "IMREC_ENGINE": "openvino"}
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    *output, imported = result.stdout.splitlines()
    assert imported == "[]", result.stdout + result.stderr
    return "\n".join(output)


@pytest.mark.slow
def test_an_update_with_a_cached_conversion_never_imports_torch(
    tiny_checkpoint: Path, engine_cache: Path, library_dir: Path, model_env: dict[str, str]
) -> None:
    _converted(tiny_checkpoint, engine_cache, library_dir)
    with Library.open(library_dir, model_config=TINY_CONFIG, pretrained=str(tiny_checkpoint), engine="torch") as lib:
        before = {
            image.path: lib.catalog.vector_of_image(image.id, lib.query_model().id)
            for image in lib.catalog.images("ok")
        }
    Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").rotate(20).save(library_dir / "new.jpg")
    for number in range(40):  # more than a batch: the forked workers decode them
        Image.open(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg").rotate(number + 1).save(library_dir / f"n{number}.jpg")
    output = _imrec_without_torch(model_env, "index", str(library_dir), "--json", "--workers", "2")
    assert '"embedded": 41' in output
    with Library.open(library_dir, model_config=TINY_CONFIG, pretrained=str(tiny_checkpoint), engine="torch") as lib:
        model = lib.query_model().id
        assert len(lib.catalog.images("ok")) == 8 + 41
        for image in lib.catalog.images("ok"):
            if image.path in before:
                found = lib.catalog.vector_of_image(image.id, model)
                assert found is not None and before[image.path] is not None
                assert np.array_equal(found[1], before[image.path][1])


@pytest.mark.slow  # converts the tiny model for OpenVINO once per session
def test_text_vectors_from_the_cache_equal_the_torch_route_s(
    tiny_checkpoint: Path, engine_cache: Path, library_dir: Path
) -> None:
    from image_recommender.models.torch_model import EngineOptions, load_model

    spec = _converted(tiny_checkpoint, engine_cache, library_dir)
    light = cached_text_model(spec, "openvino", "cpu", "fp32", "CPU", engine_cache)
    assert isinstance(light, CachedTextModel)
    full = load_model(spec, "cpu", "fp32", engine=EngineOptions("torch"))
    ours, theirs = light.encode_texts(QUERIES), full.encode_texts(QUERIES)
    assert np.sum(ours * theirs, axis=1).min() >= 0.9999
    assert cached_text_model(spec, "torch", "cpu", "fp32", "CPU", engine_cache) is None

    # An entry converted before tokenizers were saved gains one the next time torch loads it.
    folder = openvino_engine.find_cached(engine_cache, spec)
    assert folder is not None and folder.tokenizer is not None
    manifest = json.loads((folder.folder / "manifest.json").read_text())
    del manifest["files"]["tokenizer.json"]
    manifest["digest"] = openvino_engine.manifest_digest(manifest)
    (folder.folder / "manifest.json").write_text(json.dumps(manifest))
    assert cached_text_model(spec, "openvino", "cpu", "fp32", "CPU", engine_cache) is None
    load_model(spec, "cpu", "fp32", engine=EngineOptions("openvino", cache_dir=engine_cache))
    again = cached_text_model(spec, "openvino", "cpu", "fp32", "CPU", engine_cache)
    assert again is not None and np.allclose(again.encode_texts(QUERIES), ours, atol=1e-6)


@pytest.mark.slow
def test_a_text_query_with_a_cached_conversion_never_imports_torch(
    tiny_checkpoint: Path, engine_cache: Path, library_dir: Path, model_env: dict[str, str]
) -> None:
    _converted(tiny_checkpoint, engine_cache, library_dir)
    found = json.loads(
        _imrec_without_torch(model_env, "search", "a red bicycle", "-l", str(library_dir), "--json", "-k", "3")
    )
    with Library.open(library_dir, model_config=TINY_CONFIG, pretrained=str(tiny_checkpoint), engine="torch") as lib:
        expected = lib.search(text="a red bicycle", k=3).results
    assert [hit["path"] for hit in found["results"]] == [hit.path for hit in expected]
    assert [hit["score"] for hit in found["results"]] == pytest.approx([hit.score for hit in expected], abs=0.005)


@pytest.mark.slow
def test_a_search_by_id_imports_no_model_and_no_picture_decoder(
    tiny_checkpoint: Path, engine_cache: Path, library_dir: Path, model_env: dict[str, str]
) -> None:
    """What a cold ``search --like-id`` costs is imports (docs/benchmarks.md, section 18): it uses
    the stored vector, so it needs no model, no Pillow (15 ms), no progress bar (7 ms) and no
    NumPy masked arrays (8 ms, imported by np.unique)."""
    _converted(tiny_checkpoint, engine_cache, library_dir)
    found = json.loads(
        _imrec_without_torch(
            model_env, "search", "--like-id", "1", "-l", str(library_dir), "--json", "-k", "3",
            unneeded=("PIL", "pillow_heif", "rich.progress", "numpy.ma", "openvino"),
        )
    )  # fmt: skip
    with Library.open(library_dir, model_config=TINY_CONFIG, pretrained=str(tiny_checkpoint), engine="torch") as lib:
        expected = lib.search([Term("id", "1")], k=3).results
    assert [hit["path"] for hit in found["results"]] == [hit.path for hit in expected] and len(expected) == 3

"""Indexing from a cached conversion without torch: the same pixels, the same vectors, no torch import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, TINY_CONFIG
from PIL import Image

from image_recommender import Library
from image_recommender.models.cached_engine import CachedImageModel, NumpyPixels, cached_image_model
from image_recommender.models.spec import ModelSpec

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
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['imrec', 'index', sys.argv[1], '--json', '--workers', '2']\n"
        "try:\n    runpy.run_module('image_recommender', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'open_clip' in sys.modules)\n"
    )
    env = {**model_env, "IMREC_ENGINE": "openvino"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(library_dir)], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False", result.stdout + result.stderr
    assert '"embedded": 41' in result.stdout
    with Library.open(library_dir, model_config=TINY_CONFIG, pretrained=str(tiny_checkpoint), engine="torch") as lib:
        model = lib.query_model().id
        assert len(lib.catalog.images("ok")) == 8 + 41
        for image in lib.catalog.images("ok"):
            if image.path in before:
                found = lib.catalog.vector_of_image(image.id, model)
                assert found is not None and before[image.path] is not None
                assert np.array_equal(found[1], before[image.path][1])

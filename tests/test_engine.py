"""The CPU engine: which engine and precision each machine gets, OpenVINO's vectors, its conversion cache."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from conftest import PHOTOS, TINY_CONFIG, Runner, run_json
from PIL import Image

from image_recommender import Library
from image_recommender.embed.pipeline import RunEstimate
from image_recommender.errors import ModelError
from image_recommender.models import openvino_engine
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import EngineOptions, LoadedModel, choose_runtime, load_model

# (engine asked, precision asked, device, native bf16, OpenVINO installed) -> (engine, precision)
RUNTIME_TABLE = [
    # a 2-core AVX2 laptop: OpenVINO in fp32 (bf16 would be emulated, 6x slower)
    ("auto", "auto", "cpu", False, True, ("openvino", "fp32")),
    # a CPU with AVX512-BF16 or AMX: OpenVINO in bf16
    ("auto", "auto", "cpu", True, True, ("openvino", "bf16")),
    # the same CPUs without OpenVINO installed: torch
    ("auto", "auto", "cpu", False, False, ("torch", "fp32")),
    ("auto", "auto", "cpu", True, False, ("torch", "bf16")),
    # GPUs: torch, bf16 where native, else fp16
    ("auto", "auto", "cuda", True, True, ("torch", "bf16")),
    ("auto", "auto", "cuda", False, True, ("torch", "fp16")),
    ("auto", "auto", "mps", False, True, ("torch", "fp32")),
    # what the user names wins
    ("torch", "auto", "cpu", True, True, ("torch", "bf16")),
    ("openvino", "fp32", "cpu", True, True, ("openvino", "fp32")),
    ("auto", "fp32", "cpu", True, True, ("openvino", "fp32")),
]


@pytest.mark.parametrize(("engine", "precision", "device", "bf16", "installed", "expected"), RUNTIME_TABLE)
def test_engine_and_precision_per_machine(
    engine: str, precision: str, device: str, bf16: bool, installed: bool, expected: tuple[str, str]
) -> None:
    assert choose_runtime(engine, precision, device, bf16, installed) == expected


def test_openvino_is_refused_for_a_gpu_device() -> None:
    with pytest.raises(ModelError, match="runs on the CPU"):
        choose_runtime("openvino", "auto", "cuda", True, True)


def _photos() -> list[Image.Image]:
    return [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]


def _tiny(checkpoint: Path, engine: str, cache: Path, precision: str = "fp32") -> LoadedModel:
    spec = ModelSpec("tiny-clip", str(checkpoint), TINY_CONFIG)
    return load_model(spec, "cpu", precision, engine=EngineOptions(engine, cache_dir=cache))


def _seeded_checkpoint(folder: Path, seed: int, name: str | None = None) -> Path:
    open_clip.add_model_config(TINY_CONFIG)
    torch.manual_seed(seed)
    path = folder / (name or f"tiny-{seed}.pt")
    torch.save(open_clip.create_model("tiny-clip").state_dict(), path)
    return path


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_openvino_vectors_equal_torch_fp32(tiny_checkpoint: Path, engine_cache: Path) -> None:
    torch_model = _tiny(tiny_checkpoint, "torch", engine_cache)
    openvino_model = _tiny(tiny_checkpoint, "openvino", engine_cache)
    assert (openvino_model.engine, torch_model.engine) == ("openvino", "torch")
    photos = _photos()
    assert _cosines(openvino_model.encode_pil(photos), torch_model.encode_pil(photos)).min() >= 0.9999
    texts = ["a bridge over a river", "a dragonfly", "", "wine " * 100]  # empty and over-long too
    assert _cosines(openvino_model.encode_texts(texts), torch_model.encode_texts(texts)).min() >= 0.9999
    batch_of_one = openvino_model.encode_pil(photos[:1])  # the batch axis is dynamic
    assert _cosines(batch_of_one, torch_model.encode_pil(photos[:1])).min() >= 0.9999
    assert openvino_model.dim == torch_model.dim == 32


@pytest.mark.slow  # converts twice
def test_conversion_is_cached_and_rebuilt_for_new_weights(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "engines"
    first = _seeded_checkpoint(tmp_path, 1)
    with caplog.at_level(logging.INFO, "image_recommender"):
        vectors = _tiny(first, "openvino", cache).encode_pil(_photos())
    assert sum("converting" in message for message in caplog.messages) == 1
    entries = list(cache.iterdir())
    stamps = {path: path.stat().st_mtime_ns for path in entries[0].iterdir()}
    caplog.clear()
    with caplog.at_level(logging.INFO, "image_recommender"):
        again = _tiny(first, "openvino", cache).encode_pil(_photos())
    assert not caplog.messages  # reused: nothing converted, nothing rewritten
    assert {path: path.stat().st_mtime_ns for path in entries[0].iterdir()} == stamps
    assert np.array_equal(vectors, again)

    second = _seeded_checkpoint(tmp_path, 2, name=first.name)  # new weights written over the old file
    changed = _tiny(second, "openvino", cache).encode_pil(_photos())
    reference = _tiny(second, "torch", cache).encode_pil(_photos())
    assert len(list(cache.iterdir())) == 2
    assert _cosines(changed, reference).min() >= 0.9999
    assert _cosines(changed, vectors).max() < 0.99  # the new weights' vectors, not the cached ones


@pytest.mark.slow  # converts twice
def test_an_entry_from_another_engine_version_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "engines"
    checkpoint = _seeded_checkpoint(tmp_path, 4)
    _tiny(checkpoint, "openvino", cache)
    (old,) = cache.iterdir()
    monkeypatch.setattr(openvino_engine, "EXPORT_FORMAT", openvino_engine.EXPORT_FORMAT + 1)
    with caplog.at_level(logging.INFO, "image_recommender"):
        model = _tiny(checkpoint, "openvino", cache)
    assert any("converting" in message for message in caplog.messages)  # the old entry was not used
    (new,) = cache.iterdir()  # and it is gone
    assert new != old
    assert (
        _cosines(model.encode_pil(_photos()), _tiny(checkpoint, "torch", cache).encode_pil(_photos())).min() >= 0.9999
    )


@pytest.fixture(scope="module")
def converted_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """(checkpoint, engine cache holding its conversion, its vectors of the photos): converted once."""
    folder = tmp_path_factory.mktemp("converted")
    checkpoint = _seeded_checkpoint(folder, 3)
    cache = folder / "engines"
    return checkpoint, cache, _tiny(checkpoint, "openvino", cache).encode_pil(_photos())


@pytest.mark.slow  # converts again
@pytest.mark.parametrize("damage", ["image.bin", "text.xml", "manifest.json", "manifest mean", "manifest key"])
def test_a_damaged_conversion_is_rebuilt_with_a_note(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture, converted_once: tuple[Path, Path, np.ndarray]
) -> None:
    checkpoint, template, reference = converted_once
    cache = tmp_path / "engines"
    shutil.copytree(template, cache)
    (entry,) = cache.iterdir()
    if damage.startswith("manifest "):  # valid JSON, edited: another normalisation, or a field unknown here
        manifest = json.loads((entry / "manifest.json").read_text())
        if damage == "manifest mean":
            manifest["preprocess"]["mean"] = [0.0, 0.0, 0.0]
        else:
            manifest["extra"] = 1
        (entry / "manifest.json").write_text(json.dumps(manifest))
    else:
        target = entry / damage
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, "image_recommender"):
        rebuilt = _tiny(checkpoint, "openvino", cache).encode_pil(_photos())
    assert any("damaged" in message and "converting again" in message for message in caplog.messages)
    assert any("converting" in message for message in caplog.messages)
    assert _cosines(rebuilt, reference).min() >= 0.9999


def test_without_openvino_auto_uses_torch_and_openvino_is_one_line(
    tiny_checkpoint: Path, engine_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # how Python blocks an import
    assert _tiny(tiny_checkpoint, "auto", engine_cache).engine == "torch"
    with pytest.raises(ModelError, match=r"needs the Python package\(s\) openvino: pip install openvino") as caught:
        _tiny(tiny_checkpoint, "openvino", engine_cache)
    assert "\n" not in str(caught.value)


def test_compile_and_openvino_do_not_mix(tiny_checkpoint: Path, engine_cache: Path) -> None:
    spec = ModelSpec("tiny-clip", str(tiny_checkpoint), TINY_CONFIG)
    with pytest.raises(ModelError, match="--compile"):
        load_model(spec, "cpu", "fp32", compile_model=True, engine=EngineOptions("openvino", cache_dir=engine_cache))


def test_a_missing_openvino_device_is_named(tiny_checkpoint: Path, engine_cache: Path) -> None:
    spec = ModelSpec("tiny-clip", str(tiny_checkpoint), TINY_CONFIG)
    with pytest.raises(ModelError, match=r"openvino_device 'NPU9' is not on this machine \(OpenVINO sees: .*CPU"):
        load_model(spec, "cpu", "fp32", engine=EngineOptions("openvino", "NPU9", engine_cache))


def test_a_library_indexed_by_one_engine_is_searched_and_extended_by_the_other(
    model_settings: dict, library_dir: Path
) -> None:
    with Library.open(library_dir, create=True, **model_settings, engine="openvino") as library:
        library.update()
        by_openvino = library.search(image=str(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg"), k=8)
    Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").rotate(180).save(library_dir / "upside-down.jpg")
    with Library.open(library_dir, **model_settings, engine="torch") as library:
        summary = library.update()
        assert (summary.embedded, summary.reused) == (1, 0)  # only the new file, no re-embedding
        by_torch = library.search(image=str(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg"), k=9)
    old = [hit for hit in by_torch.results if hit.path != "upside-down.jpg"]
    assert [hit.path for hit in old] == [hit.path for hit in by_openvino.results]
    assert np.allclose([hit.score for hit in old], [hit.score for hit in by_openvino.results], atol=1e-4)


class _Clock:
    """Batches of 32 images finishing at a fixed rate, as a run's writer sees them."""

    def __init__(self, estimate: RunEstimate, rate: float) -> None:
        self.estimate, self.rate, self.done, self.now = estimate, rate, 0, 100.0

    def batch(self, seconds_extra: float = 0.0) -> None:
        self.done += 32
        self.now += 32 / self.rate + seconds_extra
        self.estimate.observe(self.done, self.now)


def test_a_run_over_an_hour_says_how_long_and_what_would_be_faster(
    tiny_checkpoint: Path, engine_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _tiny(tiny_checkpoint, "torch", engine_cache)
    model.spec = ModelSpec("ViT-L-14", "openai")  # the default model's cost, as the table knows it
    clock = _Clock(RunEstimate(100_000, model), rate=2.0)
    with caplog.at_level(logging.INFO, "image_recommender"):
        clock.batch(seconds_extra=30)  # the first batch waits for workers and the model's first call
        clock.batch()
        assert not caplog.messages  # one steady batch is not yet a rate
        clock.batch()
        for _ in range(5):
            clock.batch()
    (line,) = caplog.messages
    assert line.startswith("100000 images to embed with ViT-L-14 (openai)")
    assert "at 2.0 images/s here: about 13.9 h to go" in line
    assert "ViT-B-32-256 (datacomp_s34b_b86k) would take about 1.4 h" in line


def test_a_short_run_says_nothing(tiny_checkpoint: Path, engine_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = _tiny(tiny_checkpoint, "torch", engine_cache)
    clock = _Clock(RunEstimate(5_000, model), rate=2.0)  # 42 minutes
    with caplog.at_level(logging.INFO, "image_recommender"):
        for _ in range(10):
            clock.batch()
    assert not caplog.messages


def test_cli_index_converts_once_and_search_with_torch_agrees(
    imrec: Runner, library_dir: Path, model_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**model_env, "IMREC_ENGINE_CACHE": str(tmp_path / "engines"), "IMREC_ENGINE": "openvino"}
    first = imrec("index", library_dir, env=env)
    assert first.stderr.count("converting tiny-clip") == 1
    query = ("search", "-l", library_dir, PHOTOS / "Dragonfly_by_Bolly.jpg", "-k", "3")
    by_openvino = run_json(imrec, *query, env=env)
    assert "converting" not in imrec(*query, env=env).stderr
    by_torch = run_json(imrec, *query, "--engine", "torch", env=env)
    assert [hit["path"] for hit in by_openvino["results"]] == [hit["path"] for hit in by_torch["results"]]
    scores = [[hit["score"] for hit in found["results"]] for found in (by_openvino, by_torch)]
    assert len(scores[0]) == 3 and np.allclose(*scores, atol=1e-3)


def test_cli_models_bench_measures_a_model(imrec: Runner, model_env: dict[str, str]) -> None:
    result = imrec("models", "--bench", "--seconds", "1", "--model-config", TINY_CONFIG, "--engine", "openvino")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "pretrained"] and "img/s" in lines[0]
    (row,) = [line for line in lines if line.startswith("tiny-clip")]
    assert float(row.split()[-1]) > 0
    assert "openvino on CPU" in result.stdout and "cores" in result.stdout


def test_an_unusable_engine_cache_is_one_line(tiny_checkpoint: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "engines"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(ModelError, match=r"engines: cannot store the converted model there .*--engine torch"):
        _tiny(tiny_checkpoint, "openvino", blocked)

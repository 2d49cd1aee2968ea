"""A library remembers its model; weights are checked before a model is built; the CLI's own surface."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import open_clip
import pytest
from conftest import PHOTOS, TINY_CONFIG, Runner, run_json
from PIL import Image

from image_recommender import Library
from image_recommender.cli import app, load_commands
from image_recommender.cli.argv import negative_terms_last
from image_recommender.errors import IndexMismatchError, ModelError
from image_recommender.models.spec import ModelSpec
from image_recommender.models.torch_model import load_model

LIBRARY_COMMANDS = ("index", "scan", "embed", "build-index", "duplicates", "status", "watch", "serve")


def without_model(settings: dict) -> dict:
    return {key: value for key, value in settings.items() if key not in ("model_config", "pretrained", "model")}


def test_a_library_keeps_using_the_model_it_was_indexed_with(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
    Image.open(PHOTOS / "Wine_by_Jakkub_Mede.jpg").rotate(90, expand=True).save(library_dir / "new.jpg")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with Library.open(library_dir, **without_model(model_settings)) as library:  # no model named at all
        assert [spec.architecture for spec, _ in library.models_to_update()] == ["tiny-clip"]
        summary = library.update()
        assert (summary.new, summary.embedded) == (1, 1)
        assert [m.name for m in library.catalog.models()] == ["tiny-clip"]
        assert library.search(text="a bridge").model == "tiny-clip"


def test_naming_another_model_needs_add_model(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
    (library_dir / "later.jpg").write_bytes((PHOTOS / "Wine_by_Jakkub_Mede.jpg").read_bytes())
    other = {**without_model(model_settings), "model": "ViT-B-32", "pretrained": "openai"}
    with Library.open(library_dir, **other) as library:
        with pytest.raises(IndexMismatchError, match="--add-model"):
            library.update()
        assert library.catalog.state_counts()["ok"] == 8 and library.catalog.state_counts()["pending"] == 0
        assert library.catalog.image_by_path("later.jpg") is None  # refused before the scan changed anything


def test_cli_index_without_model_flags_after_indexing_with_a_checkpoint(
    imrec: Runner, library_dir: Path, model_env: dict[str, str]
) -> None:
    imrec("index", library_dir, "-q")
    bare = {k: v for k, v in model_env.items() if k not in ("IMREC_MODEL_CONFIG", "IMREC_PRETRAINED")}
    noop = run_json(imrec, "index", library_dir, env=bare)
    assert (noop["embedded"], noop["indexed"]) == (0, 8)
    Image.open(PHOTOS / "Bridge_by_Sander_Klootwijk.jpg").rotate(45).save(library_dir / "more.jpg")
    more = run_json(imrec, "index", library_dir, env=bare)
    assert (more["new"], more["embedded"], more["indexed"]) == (1, 1, 9)
    status = run_json(imrec, "status", library_dir, env=bare)
    assert [m["name"] for m in status["models"]] == ["tiny-clip"]


def test_a_garbage_checkpoint_is_refused_before_any_model_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_build(*_: object, **__: object) -> None:
        raise AssertionError("the model was built before its weights were checked")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", must_not_build)
    garbage = tmp_path / "weights.pt"
    garbage.write_text("this is an HTML error page, not weights")
    with pytest.raises(ModelError, match="not a model checkpoint"):
        load_model(ModelSpec("tiny-clip", str(garbage), TINY_CONFIG), "cpu", "fp32")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="is empty"):
        ModelSpec("ViT-B-32", str(empty)).check_weights_file()
    with pytest.raises(ModelError, match="not found"):
        ModelSpec("ViT-B-32", str(tmp_path / "missing.pt")).check_weights_file()


def test_hub_weights_missing_offline_fail_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(open_clip, "create_model_and_transforms", lambda *a, **k: pytest.fail("model built first"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match="not cached here"):
        load_model(ModelSpec("ViT-B-32", "openai"), "cpu", "fp32")


def test_weights_that_do_not_fit_say_so(tiny_checkpoint: Path, tmp_path: Path) -> None:
    other = tmp_path / "tiny-other.json"
    config = json.loads(TINY_CONFIG.read_text())
    config["embed_dim"] = 24
    other.write_text(json.dumps(config))
    with pytest.raises(ModelError, match="do not fit the tiny-other architecture"):
        load_model(ModelSpec("tiny-other", str(tiny_checkpoint), other), "cpu", "fp32")


def test_negative_weighted_terms_reach_the_search_as_terms() -> None:
    args = ["search", "-l", "P", "2:a.jpg", "-1:b.jpg", "--json", "-0.5:c d"]
    assert negative_terms_last(args) == ["search", "-l", "P", "2:a.jpg", "--json", "--", "-1:b.jpg", "-0.5:c d"]
    assert negative_terms_last(["search", "--text", "-1:x"]) == ["search", "--text", "-1:x"]  # an option's value
    assert negative_terms_last(["index", "-1:x"]) == ["index", "-1:x"]
    assert negative_terms_last(["search", "a", "--", "-1:x"]) == ["search", "a", "--", "-1:x"]


def test_negative_weights_as_documented(imrec: Runner, library_dir: Path) -> None:
    imrec("index", library_dir, "-q")
    bridge, dragonfly = library_dir / "Bridge_by_Sander_Klootwijk.jpg", library_dir / "Dragonfly_by_Bolly.jpg"
    data = run_json(imrec, "search", "-l", library_dir, f"2:{bridge}", f"-1:{dragonfly}", "-k", "3")
    assert data["query"] == [f"+2*{bridge}", f"-{dragonfly}"] and len(data["results"]) == 3


def test_help_is_complete_and_plain() -> None:
    import typer.main

    load_commands([])
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help and "seed" not in command.help.lower(), name
        for param in command.params:
            assert param.help, (name, param.name)
            assert "seed" not in param.help.lower() and "<" not in (param.metavar or ""), (name, param.name)
        if name in LIBRARY_COMMANDS:
            assert any("--library" in getattr(param, "opts", ()) for param in command.params), name
    result = subprocess.run(
        [sys.executable, "-m", "image_recommender", "search", "--help"], capture_output=True, text=True, check=True
    )
    assert "<list[" not in result.stdout and "TERM" in result.stdout


def test_cli_output_choices_are_checked_before_searching(
    imrec: Runner, library_dir: Path, tmp_path: Path, model_env: dict[str, str]
) -> None:
    imrec("index", library_dir, "-q")
    query = library_dir / "Wine_by_Jakkub_Mede.jpg"
    cases = {
        ("--preview", tmp_path / "sheet.txt"): "cannot write a contact sheet as .txt",
        ("--show",): "--show needs a display",
        ("--json", "--paths"): "--json and --paths both print results",
    }
    env_without_display = {k: v for k, v in model_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for flags, message in cases.items():
        result = imrec("search", query, "-l", library_dir, *flags, expect=2, env=env_without_display)
        assert message in result.stderr and result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "sheet.txt").exists()
    by_dir = run_json(imrec, "duplicates", "--library", library_dir)
    assert by_dir["threshold"] == 0.95


def test_paths_refuses_line_breaks_and_paths0_separates_with_nul(imrec: Runner, library_dir: Path) -> None:
    (library_dir / "dir\n").mkdir()
    (library_dir / "dir\n" / "etc-passwd.jpg").write_bytes((PHOTOS / "Fossa_by_Jasper_Roks.jpg").read_bytes() + b"\0")
    imrec("index", library_dir, "-q")
    refused = imrec("search", "--text", "x", "-l", library_dir, "-k", "20", "--paths", expect=2)
    assert "--paths0" in refused.stderr and refused.stdout == ""
    listed = imrec("search", "--text", "x", "-l", library_dir, "-k", "20", "--paths0").stdout
    paths = listed.split("\0")
    assert paths[-1] == "" and len(paths) == 10 and str(library_dir / "dir\n" / "etc-passwd.jpg") in paths


def test_models_lists_recommendations_fast_without_torch(model_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "image_recommender", "models"],
        capture_output=True,
        text=True,
        env=model_env,
        check=True,
    )
    header = result.stdout.splitlines()[0]
    assert "model" in header and "cached" in header and "top-1" in header and "ImageNet" in result.stdout
    assert "ViT-L-14" in result.stdout and "default" in result.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    }
    assert "torch" not in imported and "open_clip" not in imported


def test_serve_without_the_web_extra_is_one_line(library_dir: Path, model_env: dict[str, str]) -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.argv = ['imrec', 'serve', sys.argv[1]];"
        " from image_recommender.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(library_dir)], capture_output=True, text=True, env=model_env
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "pip install 'image-recommender[web]'" in result.stderr and result.stderr.count("\n") == 1

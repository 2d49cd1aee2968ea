"""Every query form, recommendations, filters, duplicates and model mismatches."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, Runner, run_json
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from image_recommender import Library
from image_recommender.errors import IndexMismatchError, QueryError
from image_recommender.search import Term, combine, parse_term


@pytest.fixture
def indexed(imrec: Runner, library_dir: Path) -> Path:
    imrec("index", library_dir, "-q")
    return library_dir


def paths_of(data: dict) -> list[str]:
    return [r["path"] for r in data["results"]]


def test_like_id_uses_stored_vector_without_torch(indexed: Path, model_env: dict[str, str]) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "image_recommender", "search", "--like-id", "3", "-l", indexed],
        capture_output=True,
        text=True,
        env=model_env,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time")
    }
    assert "torch" not in imported
    assert "rank" in result.stdout


def test_query_image_and_its_copies_are_left_out_unless_asked(imrec: Runner, library_dir: Path) -> None:
    shutil.copy(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "wine-copy.jpg")
    imrec("index", library_dir, "-q")
    query = library_dir / "Wine_by_Jakkub_Mede.jpg"
    plain = paths_of(run_json(imrec, "search", query, "-l", library_dir, "-k", "20"))
    assert "Wine_by_Jakkub_Mede.jpg" not in plain and "wine-copy.jpg" not in plain and len(plain) == 7
    included = run_json(imrec, "search", query, "-l", library_dir, "-k", "1", "--include-query")["results"]
    assert [(hit["path"], hit["copies"]) for hit in included] == [("Wine_by_Jakkub_Mede.jpg", ["wine-copy.jpg"])]
    every = run_json(imrec, "search", query, "-l", library_dir, "-k", "2", "--include-query", "--all-copies")
    assert set(paths_of(every)) == {"Wine_by_Jakkub_Mede.jpg", "wine-copy.jpg"}


def test_text_negative_and_weighted_terms(imrec: Runner, indexed: Path) -> None:
    text = run_json(imrec, "search", "--text", "a bridge over water", "-l", indexed, "-k", "8")
    assert len(text["results"]) == 8 and text["query"] == ["+'a bridge over water'"]
    positional = run_json(imrec, "search", "a bridge over water", "-l", indexed, "-k", "8")
    assert paths_of(positional) == paths_of(text)
    bridge = indexed / "Bridge_by_Sander_Klootwijk.jpg"
    pushed = run_json(imrec, "search", "--like-id", "2", "--unlike", bridge, "-l", indexed, "-k", "8")
    assert "Bridge_by_Sander_Klootwijk.jpg" not in paths_of(pushed)
    weighted = run_json(imrec, "search", f"3:{bridge}", "--not-text", "wine", "-l", indexed, "-k", "3")
    assert weighted["query"][0] == f"+3*{bridge}" and weighted["query"][1] == "-'wine'"
    verbatim = run_json(imrec, "search", "--text", "16:9 panorama", "2:snow", "-l", indexed, "-k", "1")
    assert verbatim["query"] == ["+2*'snow'", "+'16:9 panorama'"]


def test_unlike_moves_results_away(model_settings: dict, indexed: Path) -> None:
    with Library.open(indexed, **model_settings) as library:
        base = library.search([Term("id", "2")], k=7, include_query=True).results
        disliked = base[1]
        pushed = library.search([Term("id", "2"), Term("id", str(disliked.id), 1.0, negative=True)], k=7).results
        score_before = {r.id: r.score for r in base}[disliked.id]
        score_after = {r.id: r.score for r in pushed}.get(disliked.id, -1.0)
        assert score_after < score_before


def test_recommend_excludes_inputs_and_filters(imrec: Runner, indexed: Path) -> None:
    data = run_json(imrec, "recommend", "1", "2", "--unlike", "3", "-l", indexed, "-k", "10")
    ids = {r["id"] for r in data["results"]}
    assert not ids & {1, 2, 3} and len(ids) == 5
    paths = imrec("recommend", "1", "-l", indexed, "-k", "3", "--paths").stdout.splitlines()
    assert len(paths) == 3 and all(Path(p).is_file() and Path(p).is_absolute() for p in paths)
    high = run_json(imrec, "search", "--like-id", "1", "-l", indexed, "--min-score", "0.999999")
    assert high["results"] == []


def test_under_limits_results_to_a_subfolder(imrec: Runner, library_dir: Path) -> None:
    (library_dir / "trip").mkdir()
    for name in ("Wine_by_Jakkub_Mede.jpg", "Fossa_by_Jasper_Roks.jpg"):
        shutil.move(library_dir / name, library_dir / "trip" / name)
    imrec("index", library_dir, "-q")
    data = run_json(imrec, "search", "--like-id", "1", "-l", library_dir, "--under", "trip", "-k", "10")
    assert sorted(paths_of(data)) == ["trip/Fossa_by_Jasper_Roks.jpg", "trip/Wine_by_Jakkub_Mede.jpg"]
    absolute = run_json(imrec, "search", "--like-id", "1", "-l", library_dir, "--under", library_dir / "trip")
    assert paths_of(absolute) == paths_of(data)  # a path as the shell completes it works too
    for wrong in ("tri", "../elsewhere", library_dir.parent):
        refused = imrec("search", "--like-id", "1", "-l", library_dir, "--under", wrong, expect=2)
        assert refused.stderr.strip() == f"imrec: error: {wrong}: not a folder in the library {library_dir}"


def test_deleted_and_changed_images_never_appear_even_before_rebuild(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        victim = library_dir / "Dragonfly_by_Bolly.jpg"
        victim.unlink()
        library.scan()  # catalog knows it is gone; the index still holds its vector
        results = library.search(text="a dragonfly", k=20).results
        assert "Dragonfly_by_Bolly.jpg" not in {r.path for r in results} and len(results) == 7
        Image.open(PHOTOS / "Dragonfly_by_Bolly.jpg").rotate(180).save(library_dir / "Fossa_by_Jasper_Roks.jpg")
        library.scan()  # changed: pending until re-embedded, its old vector is filtered
        assert "Fossa_by_Jasper_Roks.jpg" not in {r.path for r in library.search(text="x", k=20).results}
        library.update()
        assert "Fossa_by_Jasper_Roks.jpg" in {r.path for r in library.search(text="x", k=20).results}


def test_model_mismatch_is_refused(imrec: Runner, indexed: Path, model_env: dict[str, str]) -> None:
    env = dict(model_env)
    env.pop("IMREC_MODEL_CONFIG")
    env.pop("IMREC_PRETRAINED")
    result = imrec("search", "--like-id", "1", "-l", indexed, "--model", "ViT-B-32", expect=2, env=env)
    assert "indexed with tiny-clip" in result.stderr and "ViT-B-32" in result.stderr
    implicit = run_json(imrec, "search", "--like-id", "1", "-l", indexed, env=env)  # only one model: used
    assert implicit["model"] == "tiny-clip"


def test_duplicates_find_planted_copies_only(imrec: Runner, library_dir: Path) -> None:
    shutil.copy(library_dir / "Bridge_by_Sander_Klootwijk.jpg", library_dir / "bridge-copy.jpg")
    with Image.open(library_dir / "Kleiber_by_Lukas_Baubkus.jpg") as image:
        image.resize((image.width // 2, image.height // 2)).save(library_dir / "kleiber-small.jpg", quality=75)
    # A later copy that the scan meets first: the near group must show the exact group's keeper, once.
    shutil.copy(library_dir / "Kleiber_by_Lukas_Baubkus.jpg", library_dir / "0-kleiber-from-phone.jpg")
    imrec("index", library_dir, "-q")
    data = run_json(imrec, "duplicates", library_dir, "--threshold", "0.995")
    groups = {(g["kind"], frozenset(i["path"] for i in g["images"])): g for g in data["groups"]}
    exact = ("exact", frozenset({"Bridge_by_Sander_Klootwijk.jpg", "bridge-copy.jpg"}))
    copies = ("exact", frozenset({"Kleiber_by_Lukas_Baubkus.jpg", "0-kleiber-from-phone.jpg"}))
    near = ("near", frozenset({"Kleiber_by_Lukas_Baubkus.jpg", "kleiber-small.jpg"}))
    assert set(groups) == {exact, copies, near}
    assert groups[copies]["keeper"]["path"] == "Kleiber_by_Lukas_Baubkus.jpg"  # the older file
    assert groups[near]["keeper"]["path"] == "Kleiber_by_Lukas_Baubkus.jpg"  # the larger one
    human = imrec("duplicates", library_dir, "--threshold", "0.995").stdout
    assert "keep Kleiber_by_Lukas_Baubkus.jpg" in human


def test_query_errors_are_clear(imrec: Runner, indexed: Path, tmp_path: Path) -> None:
    missing_id = imrec("search", "--like-id", "999", "-l", indexed, expect=2)
    assert "999" in missing_id.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"garbage")
    bad_file = imrec("search", "--like", broken, "-l", indexed, expect=2)
    assert "broken.jpg" in bad_file.stderr
    cancel = imrec("search", "--like-id", "1", "--unlike", "1", "-l", indexed, expect=2)
    assert "cancel" in cancel.stderr
    typo = imrec("search", tmp_path / "holiday.jpg", "-l", indexed, expect=2)
    assert "holiday.jpg: no such image file" in typo.stderr and "--text" in typo.stderr
    folder = imrec("search", tmp_path, "-l", indexed, expect=2)
    assert "is a folder" in folder.stderr
    for flags, named in ((("-k", "0"), "--top-k"), (("--ef-search", "-1"), "--ef-search")):
        refused = imrec("search", "--like-id", "1", *flags, "-l", indexed, expect=2)
        assert named in refused.stderr and refused.stderr.count("\n") == 1
    words = run_json(imrec, "search", "--text", "holiday.jpg", "-l", indexed)
    assert words["query"] == ["+'holiday.jpg'"]


def test_an_empty_answer_has_no_header_and_a_huge_query_is_echoed_short(imrec: Runner, indexed: Path) -> None:
    empty = imrec("search", "--like-id", "1", "--camera", "No Such Camera", "-l", indexed)
    assert empty.stdout.splitlines() == ["query: +#1"] and "no matching images" in empty.stderr
    huge = "Strand " * 15_000  # 105 KB
    said = imrec("search", huge, "-l", indexed, "-k", "1")
    assert len(said.stdout) + len(said.stderr) < 2_000 and "more characters" in said.stdout


def test_combine_is_normalised_weighted_sum() -> None:
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    vector = combine([a, b], [Term("text", "a", 3.0), Term("text", "b", 1.0, negative=True)])
    assert np.allclose(vector, np.array([3, -1]) / np.sqrt(10), atol=1e-6)
    with pytest.raises(QueryError):
        combine([a, a], [Term("text", "a"), Term("text", "a", negative=True)])


@given(
    st.floats(0.01, 100, allow_nan=False),
    st.text(min_size=1).filter(lambda s: s.strip() and not set(s) & {":", "/", "."}),
)
def test_weight_prefix_parses(weight: float, text: str) -> None:
    term = parse_term(f"{weight}:{text}")
    if os.path.isfile(text):
        return
    assert term.kind == "text" and term.value == text and term.weight == pytest.approx(weight)
    negative = parse_term(f"-{weight}:{text}")
    assert negative.negative and negative.weight == pytest.approx(weight)


_WEIGHTED = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+):.+", re.DOTALL)


@given(st.text(min_size=1))
def test_any_term_parses_or_refuses_clearly(raw: str) -> None:
    try:
        term = parse_term(raw)
    except QueryError as exc:
        message = str(exc)
        assert message and "\n" not in message.strip() and (raw.strip() == "" or "empty" in message or ":" in message)
        return
    assert term.kind in ("file", "text") and term.weight > 0 and term.value
    if term.kind == "text" and not _WEIGHTED.fullmatch(raw):
        assert term.value == raw and term.weight == 1 and not term.negative  # unweighted words stay as typed


def test_existing_file_with_weighted_looking_name_is_a_file(tmp_path: Path) -> None:
    odd = tmp_path / "2:cat.jpg"
    odd.write_bytes(b"x")
    assert parse_term(str(odd)).kind == "file"
    assert parse_term(f"2:{odd}").weight == 2 and parse_term(f"2:{odd}").kind == "file"


def test_python_api_search_by_image_returns_typed_results(model_settings: dict, library_dir: Path) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        summary = library.update()
        assert summary.embedded == 8
        response = library.search(image=library_dir / "Wine_by_Jakkub_Mede.jpg", k=3, include_query=True)
        assert response.results[0].path == "Wine_by_Jakkub_Mede.jpg" and response.results[0].score > 0.9999
        with pytest.raises(IndexMismatchError):
            Library.open(library_dir, model="ViT-B-32", pretrained="openai").query_model()


def test_under_gives_the_same_answer_exactly_and_through_the_index(
    model_settings: dict, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.index.sync as index_module

    (library_dir / "trip").mkdir()
    for number, photo in enumerate(sorted(PHOTOS.glob("*.jpg"))):
        Image.open(photo).rotate(5 * number).save(library_dir / "trip" / f"t{number}.jpg")
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        exact = library.search(text="a photo", under="trip", k=5).results
        monkeypatch.setattr(index_module, "EXACT_FILTER_LIMIT", 0)
        through_index = library.search(text="a photo", under="trip/", k=5).results
    assert [r.path for r in exact] == [r.path for r in through_index]
    assert all(r.path.startswith("trip/") for r in exact) and len(exact) == 5


def test_under_a_folder_never_matches_a_sibling_sharing_its_prefix(tmp_path: Path, model_settings: dict) -> None:
    from conftest import PHOTOS, indexed

    from image_recommender import Library

    root = tmp_path / "library"
    photos = sorted(PHOTOS.glob("*.jpg"))
    for folder, chosen in (("2024", photos[:3]), ("2024-old", photos[3:6]), ("20245", photos[6:])):
        (root / folder).mkdir(parents=True)
        for photo in chosen:
            shutil.copy2(photo, root / folder / photo.name)
    indexed(root, model_settings)
    with Library.open(root, **model_settings) as library:
        for under in ("2024", "2024/", str(root / "2024")):
            paths = {hit.path for hit in library.search(text="a photo", under=under, k=20).results}
            assert paths == {f"2024/{photo.name}" for photo in photos[:3]}, under

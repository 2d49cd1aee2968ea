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


def test_status_and_search_agree_on_whether_the_index_is_current(
    library_dir: Path, model_settings: dict, tmp_path: Path
) -> None:
    import shutil

    shutil.copy2(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "wine-copy.jpg")
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        exact = [group for group in library.duplicates(0.9999) if group.kind == "exact"]
        _, report = library.move_duplicates(exact, tmp_path / "moved", apply=True)
        assert report is not None and report.moved == 1 and report.manifest is not None
        library.undo_moves(report.manifest)
        assert library.status().index.current is True
        assert library.search(text="wine").index_current is True  # was False: a second definition
        library.scan()
        library.embed()  # a new vector the index does not hold yet
        shutil.copy2(library_dir / "Dragonfly_by_Bolly.jpg", library_dir / "later.png")
    with Library.open(library_dir, **model_settings) as library:
        library.scan()
        library.embed()
        assert library.status().index.current is False
        assert library.search(text="wine").index_current is False


def test_duplicates_say_when_images_are_not_embedded_yet(library_dir: Path, model_settings: dict) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.web.app import create_app

    with Library.open(library_dir, create=True, **model_settings) as library:
        library.scan()  # catalogued, not embedded
        assert library.duplicates() == [] and library.not_embedded() == 8
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        assert client.get("/api/duplicates").json()["not_embedded"] == 8


def test_an_undo_after_an_index_keeps_ids_and_vectors(library_dir: Path, model_settings: dict, tmp_path: Path) -> None:
    import shutil

    shutil.copy2(library_dir / "Wine_by_Jakkub_Mede.jpg", library_dir / "wine-copy.jpg")
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        before = {image.path: image.id for image in library.catalog.images("ok")}
        exact = [group for group in library.duplicates(0.9999) if group.kind == "exact"]
        _, report = library.move_duplicates(exact, tmp_path / "moved", apply=True)
        assert report is not None and report.moved == 1 and report.manifest is not None
        assert library.update().embedded == 0  # 'imrec index' between the move and the undo
        library.undo_moves(report.manifest)
        again = library.update()
        assert (again.embedded, again.new) == (0, 0)
        assert {image.path: image.id for image in library.catalog.images("ok")} == before


def test_exact_copies_are_one_result_and_the_path_is_never_cut(
    library_dir: Path, model_settings: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from image_recommender.cli.render import print_table

    deep = library_dir / ("a folder with a long name, " * 3).strip() / "and another one inside it"
    deep.mkdir(parents=True)
    for number in range(2):
        shutil.copy2(library_dir / "Wine_by_Jakkub_Mede.jpg", deep / f"wine copy {number} with a long name.jpg")
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
        query = library_dir / "Wine_by_Jakkub_Mede.jpg"
        folded = library.search(image=query, k=8, include_query=True)
        assert len(folded.results) == 8 and len({hit.path for hit in folded.results}) == 8
        wine = next(hit for hit in folded.results if "wine" in hit.path.lower())
        assert len(wine.copies) == 2 and wine.as_json()["copies"] == list(wine.copies)
        every = library.search(image=query, k=10, include_query=True, all_copies=True)
        assert sum("wine" in hit.path.lower() for hit in every.results) == 3
        longest = max((hit for hit in every.results), key=lambda hit: len(hit.path))
        print_table(folded)
        assert f"{wine.path} (+2 copies)" in capsys.readouterr().out
        print_table(every)
    printed = capsys.readouterr().out
    assert any(line.endswith(longest.path) for line in printed.splitlines())  # whole, on its line
    assert "(+2 copies)" not in printed and "~20" in printed  # file dates are marked


def test_a_subfolder_of_a_library_finds_the_library_as_git_finds_its_repository(
    library_dir: Path, model_settings: dict
) -> None:
    with Library.open(library_dir, create=True, **model_settings) as library:
        library.update()
    inner = library_dir / "trip" / "day-1"
    inner.mkdir(parents=True)
    with Library.open(inner, **model_settings) as library:
        assert library.root == library_dir and library.settings.asked_for == inner
        assert library.status().counts["ok"] == 8
    assert not (inner / ".imrec").exists() and not (library_dir / "trip" / ".imrec").exists()
    elsewhere = library_dir.parent / "not-a-library"
    elsewhere.mkdir()
    with Library.open(elsewhere, create=True) as library:
        assert library.root == elsewhere and library.settings.asked_for is None


@pytest.mark.parametrize(
    ("count", "shape"),
    [(1, (1, 1)), (3, (1, 3)), (4, (2, 2)), (6, (2, 3)), (10, (2, 5)), (11, (3, 4)), (13, (2, 7)), (25, (5, 5))],
)
def test_the_contact_sheet_grid_follows_the_count(count: int, shape: tuple[int, int]) -> None:
    from image_recommender.preview import grid_shape

    rows, columns = grid_shape(count)
    assert (rows, columns) == shape
    assert rows * columns - count < columns / 2  # never a mostly empty last row


def test_contact_sheet_captions_keep_the_folder_and_line_up(library_dir: Path, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from image_recommender.preview import CAPTION_CHARS, contact_sheet, short_path

    assert short_path("2024/summer/IMG_0001.jpg") == "2024/summer/IMG_0001.jpg"
    shortened = short_path("2024/a very long holiday folder name/IMG_0001.jpg")
    assert shortened.startswith("2024/a very") and shortened.endswith("…IMG_0001.jpg")
    assert len(shortened) == CAPTION_CHARS
    tall, wide = tmp_path / "tall.png", tmp_path / "wide.png"
    Image.new("RGB", (100, 400), "black").save(tall)
    Image.new("RGB", (400, 100), "black").save(wide)
    sheet = tmp_path / "sheet.png"
    contact_sheet([], [("#1 tall", tall), ("#2 wide", wide)], sheet)
    pixels = np.asarray(Image.open(sheet).convert("L"))
    halves = pixels[:, : pixels.shape[1] // 2], pixels[:, pixels.shape[1] // 2 :]
    picture_bottom = [int(np.where((half < 10).sum(axis=1) > 20)[0].max()) for half in halves]
    caption_bottom = [int(np.where((half < 128).any(axis=1))[0].max()) for half in halves]
    assert picture_bottom[0] > picture_bottom[1] + 50  # the tall picture reaches lower than the wide one
    assert abs(caption_bottom[0] - caption_bottom[1]) <= 1  # yet both captions sit on one line


def test_the_summary_says_what_the_index_holds_and_counts_failed_videos() -> None:
    from image_recommender.library import UpdateSummary

    mixed = UpdateSummary(indexed=69, files=67, videos_held=1, failed=1, videos_failed=2)
    assert "index holds 69 vectors of 67 files (66 pictures, 1 video as 3 frames)" in mixed.line()
    assert mixed.failed_now == 3
    assert "; index holds 8 (" in UpdateSummary(indexed=8, files=8).line()  # pictures only: as before

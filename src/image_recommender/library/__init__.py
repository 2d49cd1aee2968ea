"""The public Python API: one ``Library`` per image folder.

    lib = Library.open("~/Pictures")
    lib.update()                                  # scan, embed, index (incremental)
    lib.search(image="query.jpg", k=10)           # -> SearchResponse
    lib.search(text="a red bicycle")
    lib.recommend([12, 40], disliked=[7])
    lib.duplicates(threshold=0.95)

``Library`` opens the library and delegates: each concept owns its work in a module of this
package (``indexing``, ``passes``, ``searching``, ``themes``, ``albums``, ``people``,
``duplicates``, ``status``), and what they share (settings, catalog, the write lock, the
loaded models, the indexes) is one ``Shared`` (``shared.py``). Torch is imported only when a
model has to run (a new image, a text, an out-of-library file): queries by stored vectors,
``status`` and ``duplicates`` stay light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_recommender.answers import StatusReport, UpdateSummary
from image_recommender.catalog.store import Catalog
from image_recommender.errors import LibraryError
from image_recommender.library.albums import Albums
from image_recommender.library.duplicates import MAX_RESOLVE_MOVES, MIN_MOVE_THRESHOLD, Duplicates
from image_recommender.library.indexing import Indexing
from image_recommender.library.passes import Passes
from image_recommender.library.people import People
from image_recommender.library.searching import Searching
from image_recommender.library.shared import INDEX_CHECK_SAMPLE, Shared, engine_options
from image_recommender.library.status import Status
from image_recommender.library.themes import Themes
from image_recommender.places.listing import CityPlaces, by_city
from image_recommender.query.plan import SearchResponse
from image_recommender.settings import Settings, load_settings

if TYPE_CHECKING:
    from image_recommender.albums import MirrorReport
    from image_recommender.catalog.faces import FaceRow
    from image_recommender.catalog.rows import AlbumRow, ImageRow, ModelRow, ThemeRow
    from image_recommender.duplicates.finding import DuplicateGroup
    from image_recommender.duplicates.moves import Move, MoveReport
    from image_recommender.embed.pipeline import EmbedReport, ProgressCallback
    from image_recommender.faces.grouping import GroupReport
    from image_recommender.faces.people import Person
    from image_recommender.faces.reading import FaceReport
    from image_recommender.index.sync import IndexReport, LibraryIndex
    from image_recommender.models.spec import ModelSpec
    from image_recommender.scan import ScanReport
    from image_recommender.search import Term
    from image_recommender.text.reading import TextProgress, TextReport
    from image_recommender.video.embedding import VideoReport

__all__ = [
    "INDEX_CHECK_SAMPLE",
    "MAX_RESOLVE_MOVES",
    "MIN_MOVE_THRESHOLD",
    "Library",
    "SearchResponse",
    "StatusReport",
    "UpdateSummary",
    "engine_options",
]


class Library:
    """A folder of images with its catalog, vectors and index."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.shared = shared = Shared(settings, catalog)
        self.settings, self.catalog = settings, catalog
        self._themes = Themes(shared)
        self._searching = Searching(shared, self._themes)
        self._albums = Albums(shared, self._searching)
        self._passes = Passes(shared)
        self._indexing = Indexing(shared, self._passes, self._themes, self._albums)
        self._people = People(shared)
        self._duplicates = Duplicates(shared, self._indexing)
        self._status = Status(shared)

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None, *, create: bool = False, **overrides: Any) -> Library:
        """Open the library at ``root``; ``create`` makes its catalog if there is none yet.

        ``overrides`` are settings (``model=``, ``batch_size=``, ``ef_search=`` ...), taking
        precedence over the environment and ``ROOT/.imrec/config.toml``.
        """
        settings = load_settings(root, overrides)
        if not settings.root.is_dir():
            raise LibraryError(f"{settings.root}: library folder does not exist or is not mounted")
        return cls(settings, Catalog.open(settings.catalog_path, create=create))

    def close(self) -> None:
        self.shared.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def root(self) -> Path:
        return self.settings.root

    # -- bringing it up to date (indexing.py, passes.py) -----------------------------------

    def update(
        self,
        retry_failed: bool = False,
        progress: ProgressCallback | None = None,
        add_model: bool = False,
        text_progress: TextProgress | None = None,
    ) -> UpdateSummary:
        """The main job: scan, embed what is new or changed, update the index, then the text and
        face passes (searchable by image before they end), themes and album mirrors."""
        return self._indexing.update(retry_failed, progress, add_model, text_progress)

    def scan(self) -> ScanReport:
        """Bring the catalog's file list up to date with the folder."""
        return self._indexing.scan()

    def embed(
        self, retry_failed: bool = False, progress: ProgressCallback | None = None, add_model: bool = False
    ) -> EmbedReport:
        """Embed every new or changed image and video with the library's model(s)."""
        return self._indexing.embed(retry_failed, progress, add_model)

    def embed_videos(self) -> VideoReport:
        return self._indexing.embed_videos()

    def fill_metadata(self, chunk: int = 256) -> int:
        return self._indexing.fill_metadata(chunk)

    def fill_places(self, chunk: int = 2048) -> int:
        return self._indexing.fill_places(chunk)

    def build_index(self, rebuild: bool = False) -> IndexReport:
        """Bring each model's index up to date; returns the report of the library's own."""
        return self._indexing.build_index(rebuild)

    def models_to_update(self, add_model: bool = False) -> list[tuple[ModelSpec, ModelRow | None]]:
        return self._indexing.models_to_update(add_model)

    def read_texts(self, progress: TextProgress | None = None) -> TextReport:
        """The text pass alone: read the text in every picture not read yet."""
        return self._passes.read_texts(progress)

    def find_faces(self) -> FaceReport:
        """The face pass alone: faces in every picture not looked at yet, grouped."""
        return self._passes.find_faces()

    # -- searching (searching.py) ------------------------------------------------------------

    def search(self, terms: Sequence[Term | str] = (), **options: Any) -> SearchResponse:
        """Images most like the weighted sum of the terms (files, ids, texts; +/-), with the
        filters and options of ``Searching.search`` (image=, text=, k=, under=, after=, place=,
        person=, words=, crop=, sort=, ...)."""
        return self._searching.search(terms, **options)

    def recommend(
        self,
        liked: Sequence[str | int | os.PathLike[str]],
        disliked: Sequence[str | int | os.PathLike[str]] = (),
        **options: Any,
    ) -> SearchResponse:
        """More like the liked images (files or ids), less like the disliked; inputs never returned."""
        return self._searching.recommend(liked, disliked, **options)

    def query_model(self) -> ModelRow:
        """The catalogued model queries use: the one named, else the library's first."""
        return self.shared.query_model()

    def index_for(self, row: ModelRow) -> LibraryIndex:
        return self.shared.index_for(row)

    def text_tower_name(self) -> str | None:
        return self.shared.text_tower_name()

    def warm_up(self) -> None:
        """Load the query model (and text tower) now, so the first query is fast (web server)."""
        self.shared.warm_up()

    def image(self, image_id: int) -> ImageRow | None:
        return self.catalog.image(image_id)

    def places(self) -> list[CityPlaces]:
        """Where the photos were taken: towns and cities, quarters under their city, most photos first."""
        return by_city(self.catalog.place_counts())

    # -- people (people.py) --------------------------------------------------------------------

    def people(self, include_hidden: bool = False) -> list[Person]:
        """The people, most faces first (hidden ones too with ``include_hidden``)."""
        return self._people.listed(include_hidden)

    def person(self, person_id: int) -> Person:
        return self._people.person(person_id)

    def name_person(self, person_id: int, name: str | None) -> Person:
        """Name a person (None or "": unnamed again); a name is kept across regroupings."""
        return self._people.name_person(person_id, name)

    def merge_people(self, kept: int, merged: int) -> Person:
        return self._people.merge_people(kept, merged)

    def hide_person(self, person_id: int, hidden: bool = True) -> Person:
        return self._people.hide_person(person_id, hidden)

    def move_face(self, face_id: int, to: int | str | None) -> int | None:
        """Put a face with person ``to`` (an id), a new person ("new") or nobody (None)."""
        return self._people.move_face(face_id, to)

    def regroup_people(self) -> GroupReport:
        return self._people.regroup_people()

    def person_images(self, person_id: int, k: int = 50, offset: int = 0) -> list[ImageRow]:
        return self._people.person_images(person_id, k, offset)

    def person_faces(self, person_id: int) -> list[tuple[FaceRow, str]]:
        return self._people.person_faces(person_id)

    # -- themes and albums (themes.py, albums.py) -------------------------------------------

    def themes(self, count: int | None = None, recompute: bool = False) -> list[ThemeRow]:
        """The library's themes, computed from the stored vectors when needed."""
        return self._themes.listed(count, recompute)

    def theme(self, name: str) -> ThemeRow:
        return self._themes.theme(name)

    def theme_images(self, theme: str | ThemeRow, k: int = 48, offset: int = 0) -> list[tuple[ImageRow, float]]:
        return self._themes.theme_images(theme, k, offset)

    def rename_theme(self, name: str, new_name: str | None) -> ThemeRow:
        return self._themes.rename_theme(name, new_name)

    def save_album(
        self, name: str, terms: Sequence[Term | str], **options: Any
    ) -> tuple[AlbumRow, SearchResponse, MirrorReport | None]:
        """Keep a query under ``name`` (k=, mirror=, mode=, and a search's filters)."""
        return self._albums.save(name, terms, **options)

    def album_results(self, name: str) -> SearchResponse:
        return self._albums.results(name)

    def albums(self) -> list[AlbumRow]:
        return self._albums.listed()

    def album_query(self, name: str) -> list[str]:
        return self._albums.query(name)

    def delete_album(self, name: str) -> None:
        self._albums.delete(name)

    # -- duplicates (duplicates.py) ------------------------------------------------------------

    def duplicates(self, threshold: float = 0.95, keep_under: str | None = None) -> list[DuplicateGroup]:
        """Exact copies, near duplicates (cosine >= threshold) and bursts among the library's images."""
        return self._duplicates.find(threshold, keep_under)

    def not_embedded(self) -> int:
        return self._duplicates.not_embedded()

    def move_duplicates(
        self, groups: Sequence[DuplicateGroup], target: Path, apply: bool, confirmed: bool = False
    ) -> tuple[list[Move], MoveReport | None]:
        """The moves that resolve ``groups`` into ``target``; with ``apply``, done, with a manifest."""
        return self._duplicates.move(groups, target, apply, confirmed)

    def moves_most(self, moves: Sequence[Move]) -> bool:
        return self._duplicates.moves_most(moves)

    def resolve_group(self, image_ids: Sequence[int], keeper_id: int, threshold: float) -> MoveReport:
        """Move every image of one duplicate group but ``keeper_id`` (the web page's "move the others")."""
        return self._duplicates.resolve_group(image_ids, keeper_id, threshold)

    def undo_last_move(self) -> MoveReport:
        return self._duplicates.undo_last_move()

    def undo_moves(self, manifest: Path) -> MoveReport:
        return self._duplicates.undo_moves(manifest)

    # -- status (status.py) ----------------------------------------------------------------------

    def status(self, check: bool = False) -> StatusReport:
        """Counts, models, index freshness and failures; ``check`` verifies catalog and indexes."""
        return self._status.report(check)

"""Smart albums: kept queries, run again on demand, mirrored into folders they own (albums.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from image_recommender.albums import MODES, KeptQuery, MirrorReport, check_album_name, check_mirror, sync_mirror
from image_recommender.catalog.rows import AlbumRow
from image_recommender.errors import ImrecError, QueryError, SettingsError
from image_recommender.library.searching import Searching
from image_recommender.library.shared import Part, Shared
from image_recommender.query.plan import SearchResponse
from image_recommender.search import Term, parse_term


class Albums(Part):
    """The library's albums; their queries run through ``searching``."""

    def __init__(self, shared: Shared, searching: Searching) -> None:
        super().__init__(shared)
        self.searching = searching

    def save(
        self,
        name: str,
        terms: Sequence[Term | str],
        *,
        k: int | None = None,
        mirror: str | os.PathLike[str] | None = None,
        mode: str = "link",
        **filters: Any,
    ) -> tuple[AlbumRow, SearchResponse, MirrorReport | None]:
        """Keep a query under ``name`` (run once now, so a query that cannot run is refused);
        with ``mirror``, its results are linked (or copied) into that folder now and after
        every update."""
        check_album_name(name)
        if mode not in MODES:
            raise SettingsError(f"album mode {mode!r}: choose link or copy")
        parsed = [term if isinstance(term, Term) else parse_term(term) for term in terms]
        response = self.searching.search(parsed, k=k, **filters)
        existing = self.catalog.album(name)
        folder = None
        if mirror is not None:
            folder = str(check_mirror(Path(mirror), self.root, existing.mirror if existing else None))
        kept_mode = mode if folder else None
        if existing is not None and (existing.mirror, existing.mode) != (folder, kept_mode):
            # Another folder (or none, or the other mode): what was made in the old one stays there, unrecorded.
            self.catalog.record_album_files(
                existing.id, [], [made.name for made in self.catalog.album_files(existing.id)]
            )
        album = self.catalog.save_album(name, KeptQuery(parsed, filters, k).to_json(), folder, kept_mode)
        report = self._mirror(album, response) if folder is not None else None
        return album, response, report

    def results(self, name: str) -> SearchResponse:
        """The album's query, run now."""
        album = self._album(name)
        kept = KeptQuery.from_json(album.query)
        return self.searching.search(kept.terms, k=kept.k, **kept.filters)

    def listed(self) -> list[AlbumRow]:
        return self.catalog.albums()

    def query(self, name: str) -> list[str]:
        """The album's query as a search describes its terms (no model is loaded)."""
        return [term.describe() for term in KeptQuery.from_json(self._album(name).query).terms]

    def delete(self, name: str) -> None:
        """Forget the album; the files its mirror made stay where they are."""
        if not self.catalog.delete_album(name):
            raise QueryError(f"album {name!r}: there is no album of that name ('imrec album list' shows them)")

    def _album(self, name: str) -> AlbumRow:
        album = self.catalog.album(name)
        if album is None:
            raise QueryError(f"album {name!r}: there is no album of that name ('imrec album list' shows them)")
        return album

    def _mirror(self, album: AlbumRow, response: SearchResponse) -> MirrorReport:
        assert album.mirror is not None and album.mode is not None
        report = sync_mirror(
            Path(album.mirror), album.mode, self.root, response.results, self.catalog.album_files(album.id)
        )
        self.catalog.record_album_files(album.id, report.made, report.forgotten)
        return report

    def mirror_all(self) -> list[tuple[str, MirrorReport]]:
        """Bring every album's mirror folder up to date; an album whose query no longer runs is
        reported, never a reason for the update to fail."""
        done = []
        for album in self.catalog.albums():
            if album.mirror is None:
                continue
            try:
                done.append((album.name, self._mirror(album, self.results(album.name))))
            except ImrecError as exc:
                done.append((album.name, MirrorReport(left_alone=[f"not mirrored: {exc}"])))
        return done

"""Duplicates: exact copies, near duplicates and bursts found, and moved out (duplicates/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from image_recommender.duplicates.finding import DuplicateGroup, find_duplicates
from image_recommender.duplicates.moves import Move, MoveReport, apply_moves, plan_moves, undo_moves
from image_recommender.errors import QueryError, SettingsError
from image_recommender.library.indexing import Indexing
from image_recommender.library.shared import Part, Shared

# The web page's "move the others" moves one group: at most this many files, and only for a
# threshold at which a group is one picture (0.9 keeps re-encodes and resizes, 0.0001 would be everything).
MAX_RESOLVE_MOVES = 50
MIN_MOVE_THRESHOLD = 0.9


class Duplicates(Part):
    """Finding and moving duplicates; an undo rescans through ``indexing``."""

    def __init__(self, shared: Shared, indexing: Indexing) -> None:
        super().__init__(shared)
        self.indexing = indexing

    def find(self, threshold: float = 0.95, keep_under: str | None = None) -> list[DuplicateGroup]:
        """Exact copies, near duplicates (cosine >= threshold) and bursts among the library's images.

        ``keep_under`` (a folder of the library) is where a group's keeper is taken from first.
        """
        if not 0 < threshold <= 1:
            raise QueryError(f"--threshold {threshold}: must be above 0 and at most 1")
        prefer = self.shared.folder_prefix(keep_under) if keep_under else None
        models = self.catalog.models()
        row = self.shared.query_model() if models else None
        index = self.shared.index_for(row) if row else None
        return find_duplicates(
            self.catalog, index, threshold, self.settings.ef_search, prefer_folder=prefer,
            raw_pairs=self.settings.raw_pairs == "group",
        )  # fmt: skip

    def not_embedded(self) -> int:
        """Catalogued images without a vector yet (duplicates and searches cannot see them)."""
        return self.catalog.state_counts()["pending"]

    def move(
        self, groups: Sequence[DuplicateGroup], target: Path, apply: bool, confirmed: bool = False
    ) -> tuple[list[Move], MoveReport | None]:
        """The moves that resolve ``groups`` into ``target``; with ``apply``, done, with a manifest.

        A plan that would move more than half of the library (a model whose vectors group
        everything, a threshold set too low) is applied only ``confirmed`` (``--yes``).

        The plan is checked again under the write lock against the catalog as it is then (a
        second resolve that ran meanwhile has moved its files out of the live set) and each file
        on disk as it is then. Moved images leave the catalog's live set at once (their rows wait
        as 'gone', so an undo before the next ``index`` brings them back with their vectors).
        """
        moves = plan_moves(groups, self.root, target.absolute())
        if not apply:
            return moves, None
        if self.moves_most(moves) and not confirmed:
            raise SettingsError(
                f"the plan moves {len(moves)} of the library's {self.catalog.state_counts()['ok']} files, more than"
                " half: check it without --apply (a model with poor vectors groups everything), then add --yes"
            )
        with self.shared.write_lock():
            current = self.catalog.images_by_ids([i for m in moves for i in (m.image_id, m.keeper.id)])
            report = apply_moves(moves, self.root, target.absolute(), current)
            self.catalog.move_out(report.moved_ids)
        return moves, report

    def moves_most(self, moves: Sequence[Move]) -> bool:
        """Whether ``moves`` would take more than half of the library's files out of it."""
        return len(moves) * 2 > self.catalog.state_counts()["ok"]

    def resolve_group(self, image_ids: Sequence[int], keeper_id: int, threshold: float) -> MoveReport:
        """Move every image of one duplicate group but ``keeper_id`` to ``duplicates_dir`` (the web page's
        "move the others"); the group must be one ``duplicates(threshold)`` finds, and not a burst.

        The group is found again under the write lock, so two resolves at once cannot each move
        "the other" copy; at most ``MAX_RESOLVE_MOVES`` files move, and never at a threshold
        below ``MIN_MOVE_THRESHOLD``.
        """
        if threshold < MIN_MOVE_THRESHOLD:
            raise QueryError(f"threshold {threshold}: files are moved only for groups at {MIN_MOVE_THRESHOLD} or above")
        wanted = set(image_ids)
        if len(wanted) - 1 > MAX_RESOLVE_MOVES:
            raise QueryError(f"a group of {len(wanted)} images: one resolve moves at most {MAX_RESOLVE_MOVES} files")
        with self.shared.write_lock():
            group = next((g for g in self.find(threshold) if {i.id for i in g.images} == wanted), None)
            if group is None or keeper_id not in wanted:
                raise QueryError("these images are no longer one duplicate group; look for duplicates again")
            if group.kind == "burst":
                raise QueryError("a burst is similar shots, not duplicates: nothing is moved")
            chosen = replace(group, keeper=next(i for i in group.images if i.id == keeper_id))
            _, report = self.move([chosen], self.settings.moved_duplicates_dir, apply=True)
            assert report is not None and report.manifest is not None
            self._last_move_file().write_text(str(report.manifest), encoding="utf-8")
        return report

    def undo_last_move(self) -> MoveReport:
        """Undo the web page's last "move the others"."""
        try:
            manifest = Path(self._last_move_file().read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            raise QueryError("no move to undo") from None
        report = self.undo_moves(manifest)
        self._last_move_file().unlink(missing_ok=True)
        return report

    def _last_move_file(self) -> Path:
        return self.settings.state_dir / "last-move"

    def undo_moves(self, manifest: Path) -> MoveReport:
        """Put back what a manifest moved out of this library, then rescan so the catalog follows."""
        with self.shared.write_lock():
            report = undo_moves(manifest, self.root)
            self.indexing.scan()
        return report

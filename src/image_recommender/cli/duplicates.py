"""The duplicates command: groups, the dry run, moves and undo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly, out
from image_recommender.cli.options import (
    DbOpt,
    JsonOpt,
    LibraryOpt,
    RootArg,
    _root,
    model_options,
    open_library,
)
from image_recommender.cli.render import emit_json
from image_recommender.duplicates.finding import shown_score
from image_recommender.duplicates.moves import MoveReport
from image_recommender.errors import SettingsError


@app.command(cls=PlainArguments)
@friendly
@model_options
def duplicates(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", metavar="X", help="Cosine similarity at which two images are near duplicates."),
    ] = 0.95,
    keep_under: Annotated[
        str | None, typer.Option("--keep-under", metavar="FOLDER", help="Prefer keepers inside this folder.")
    ] = None,
    move_to: Annotated[
        Path | None,
        typer.Option(
            "--move-to", metavar="DIR", help="Move every non-keeper (not bursts) into DIR, outside the library."
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Really move (without it, --move-to shows what would move).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Apply a plan that moves more than half of the library.")] = False,
    undo: Annotated[
        Path | None, typer.Option("--undo", metavar="MANIFEST", help="Put back the files a --move-to --apply moved.")
    ] = None,
    db_path: DbOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Exact copies, near duplicates (cosine >= threshold) and bursts, with a keeper each; move and undo."""
    if apply and move_to is None:
        raise SettingsError("--apply moves duplicates: give --move-to DIR too")
    if undo is not None and move_to is not None:
        raise SettingsError("--undo and --move-to: do one at a time")
    with open_library(_root(root, library), ctx) as opened:
        if undo is not None:
            restored = opened.undo_moves(undo)
            if json_output:
                emit_json(restored.as_json())
            else:
                _report_moves(restored, "put back", None)
            return
        groups = opened.duplicates(threshold, keep_under)
        waiting = opened.not_embedded()
        moves, report = opened.move_duplicates(groups, move_to, apply, yes) if move_to is not None else ([], None)
        most = bool(moves) and opened.moves_most(moves)
    if json_output:
        plan = [{"id": m.image_id, "from": str(m.source), "to": str(m.target), "size": m.size} for m in moves]
        extra = {"moves": plan, "applied": report.as_json() if report else None} if move_to is not None else {}
        groups_json = [group.as_json() for group in groups]
        emit_json({"threshold": threshold, "not_embedded": waiting, "groups": groups_json, **extra})
        return
    if waiting:
        err.print(
            f"imrec: note: {waiting} image(s) are not embedded yet and cannot be compared; run 'imrec index' first",
            markup=False,
        )
    if not groups:
        out.print("no duplicates found" + (" among the embedded images" if waiting else ""), markup=False)
    for number, group in enumerate(groups, 1):
        title = "similar shots, kept" if group.kind == "burst" else f"similarity >= {shown_score(group.score, 3):.3f}"
        out.print(f"group {number} ({group.kind}, {title}):", markup=False)
        paths = {image.id: image.path for image in group.images}
        for image in group.images:
            mark = "keep" if image.id == group.keeper.id else "    "
            copy = f", an exact copy of {paths[group.copies[image.id]]}" if image.id in group.copies else ""
            out.print(f"  {mark} {image.path} ({image.width}x{image.height}{copy})", markup=False)
    if move_to is not None and report is None:
        size = sum(m.size for m in moves)
        for move in moves:
            out.print(f"  would move {move.source} -> {move.target}", markup=False)
        out.print(
            f"would move {len(moves)} file(s), {size / 1e6:.1f} MB, to {move_to}; add --apply to move them",
            markup=False,
        )
        if most:
            err.print("imrec: warning: that is more than half of the library; --apply also needs --yes", markup=False)
    elif report is not None:
        _report_moves(report, f"moved to {move_to}", report.manifest)


def _report_moves(report: MoveReport, done: str, manifest: Path | None) -> None:
    out.print(f"{report.moved} file(s), {report.bytes / 1e6:.1f} MB, {done}", markup=False)
    if manifest is not None:
        out.print(f"manifest: {manifest} ('imrec duplicates --undo {manifest}' puts them back)", markup=False)
    for path, reason in report.skipped:
        err.print(f"imrec: left alone: {path}: {reason}", markup=False)

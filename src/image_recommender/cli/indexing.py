"""Commands that bring a library up to date: index, scan, embed, build-index, watch."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Annotated

import typer

from image_recommender.cli.app import QUICK_EXIT, PlainArguments, app, err, friendly, out
from image_recommender.cli.options import (
    AddModelOpt,
    AllowMassRemovalOpt,
    BatchSizeOpt,
    CompileOpt,
    DbOpt,
    DecodeOpt,
    DeviceOpt,
    EfConstructionOpt,
    EngineOpt,
    FacesOpt,
    FollowSymlinksOpt,
    HnswMOpt,
    IncludeHiddenOpt,
    IndexKindOpt,
    JsonOpt,
    LibraryOpt,
    MemoryBudgetOpt,
    MilvusUriOpt,
    ModelBatchSizeOpt,
    OcrOpt,
    PrecisionOpt,
    QuietOpt,
    RayOpt,
    RetryFailedOpt,
    RootArg,
    WorkersOpt,
    _root,
    model_options,
    open_library,
)
from image_recommender.cli.render import embed_progress, emit_json, warn_unreadable
from image_recommender.errors import ImrecError
from image_recommender.library import UpdateSummary


@app.command(cls=PlainArguments)
@friendly
@model_options
def index(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    add_model: AddModelOpt = False,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    batch_size: BatchSizeOpt = None,
    model_batch_size: ModelBatchSizeOpt = None,
    workers: WorkersOpt = None,
    decode: DecodeOpt = None,
    compile: CompileOpt = None,
    index_kind: IndexKindOpt = None,
    milvus_uri: MilvusUriOpt = None,
    memory_budget: MemoryBudgetOpt = None,
    hnsw_m: HnswMOpt = None,
    ef_construction: EfConstructionOpt = None,
    retry_failed: RetryFailedOpt = False,
    ray_address: RayOpt = None,
    include_hidden: IncludeHiddenOpt = None,
    follow_symlinks: FollowSymlinksOpt = None,
    allow_mass_removal: AllowMassRemovalOpt = None,
    ocr: OcrOpt = None,
    faces: FacesOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Scan, embed and index ROOT, then read the text in its pictures: the main job, incremental on every later run."""
    shown = not quiet and not json_output
    with (
        open_library(_root(root, library), ctx, create=True) as opened,
        embed_progress(shown) as bar,
        embed_progress(shown, "reading text") as text_bar,
    ):
        reading = (lambda done, total: text_bar(done, total, 0)) if text_bar is not None else None
        summary = opened.update(retry_failed=retry_failed, progress=bar, add_model=add_model, text_progress=reading)
    if json_output:
        emit_json(summary.as_json())
    elif not quiet:
        out.print(summary.line(), markup=False)
    if not quiet and not json_output:
        warn_unreadable(summary.unreadable)
        for note in summary.album_notes:
            err.print(f"imrec: warning: {note}", markup=False)
        if summary.failed_now:
            earlier = summary.failed_in_library - summary.failed_now
            also = f" ({summary.failed_in_library} in all with earlier runs)" if earlier > 0 else ""
            err.print(
                f"{summary.failed_now} file(s) could not be read{also}; 'imrec status' lists them with reasons",
                markup=False,
            )


@app.command(cls=PlainArguments)
@friendly
def scan(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    include_hidden: IncludeHiddenOpt = None,
    follow_symlinks: FollowSymlinksOpt = None,
    allow_mass_removal: AllowMassRemovalOpt = None,
    metadata: Annotated[
        bool,
        typer.Option(
            "--metadata", help="Also read date taken, camera and place of images catalogued before imrec recorded them."
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Step 1: catalog new, changed and removed files (no model needed)."""
    with open_library(_root(root, library), ctx, create=True) as opened:
        report = opened.scan()
        filled = opened.fill_metadata() if metadata else 0
    if json_output:
        emit_json({**report.as_json(), **({"metadata_read": filled} if metadata else {})})
        return
    out.print(
        f"scanned {report.scanned}, new {report.new}, changed {report.changed}, "
        f"returned {report.returned}, removed {report.removed}" + (f", metadata read {filled}" if metadata else ""),
        markup=False,
    )
    warn_unreadable(report.unreadable)


@app.command(cls=PlainArguments)
@friendly
@model_options
def embed(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    add_model: AddModelOpt = False,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    batch_size: BatchSizeOpt = None,
    model_batch_size: ModelBatchSizeOpt = None,
    workers: WorkersOpt = None,
    decode: DecodeOpt = None,
    compile: CompileOpt = None,
    retry_failed: RetryFailedOpt = False,
    ray_address: RayOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Step 2: embed new and changed images with the library's model."""
    with open_library(_root(root, library), ctx) as opened, embed_progress(not quiet and not json_output) as bar:
        report = opened.embed(retry_failed=retry_failed, progress=bar, add_model=add_model)
    if json_output:
        emit_json(report.as_json())
    elif not quiet:
        out.print(report.line(), markup=False)


@app.command("build-index", cls=PlainArguments)
@friendly
@model_options
def build_index(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    index_kind: IndexKindOpt = None,
    milvus_uri: MilvusUriOpt = None,
    memory_budget: MemoryBudgetOpt = None,
    hnsw_m: HnswMOpt = None,
    ef_construction: EfConstructionOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild from scratch even if adding would do.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Step 3: bring the FAISS index up to date with the catalog's vectors."""
    with open_library(_root(root, library), ctx) as opened:
        report = opened.build_index(rebuild=rebuild)
    if json_output:
        emit_json(report.as_json())
    else:
        how = f"rebuilt in {report.seconds:.1f} s" if report.rebuilt else f"added {report.added}"
        out.print(
            f"{report.kind or 'no'} index holds {report.count} vectors ({how}, {report.stale} stale filtered)",
            markup=False,
        )


@app.command("watch", cls=PlainArguments)
@friendly
@model_options
def watch_command(
    ctx: typer.Context,
    root: RootArg = None,
    library: LibraryOpt = None,
    debounce: Annotated[
        float, typer.Option("--debounce", metavar="SECONDS", help="Quiet time after a change before an update runs.")
    ] = 2.0,
    db_path: DbOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON summary line per update.")] = False,
) -> None:
    """Keep ROOT's catalog and index current as files appear, change or vanish (Ctrl-C stops)."""
    from image_recommender.watch import watch

    def report(summary: UpdateSummary) -> None:
        if json_output:
            sys.stdout.write(json.dumps(summary.as_json()) + "\n")
            sys.stdout.flush()
        else:
            out.print(summary.line(), markup=False)
            warn_unreadable(summary.unreadable)

    def complain(problem: ImrecError) -> None:
        err.print(f"imrec: error: {problem}; still watching", markup=False)

    with open_library(_root(root, library), ctx, create=True) as opened:
        if not json_output:
            err.print(f"watching {opened.root} (Ctrl-C stops)", markup=False)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # systemd stops services with SIGTERM
        try:
            watch(opened, debounce, report, complain, stop)
        except KeyboardInterrupt:
            stop.set()
    if stop.is_set():  # the library is closed: nothing is left to save
        err.print("imrec: stopped watching", markup=False)
        QUICK_EXIT.set()
        raise typer.Exit(130)

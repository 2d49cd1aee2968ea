"""The ``imrec`` command: parse flags, call ``Library``, render tables, JSON or previews.

Every user mistake ends as one ``imrec: error: ...`` line and a non-zero exit code.
Options that several commands share are declared once below, so their names, metavars
and help texts cannot drift apart.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from image_recommender import __version__
from image_recommender.duplicate_moves import MoveReport
from image_recommender.errors import ImrecError, LibraryError, SettingsError, damaged_catalog_message
from image_recommender.library import Library, SearchResponse, UpdateSummary
from image_recommender.query import SearchResult, parse_file_or_id, parse_term, shown_score
from image_recommender.settings import Settings, load_settings

app = typer.Typer(
    name="imrec",
    help="Find similar images in a folder: OpenCLIP embeddings, SQLite catalog, FAISS HNSW index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Command = TypeVar("Command", bound=Callable[..., Any])


class _PlainArguments(typer.core.TyperCommand):
    """Help that names an argument by its metavar alone, not also by its Python type (``<list[str]>``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]


SETTING_NAMES = frozenset(Settings.__dataclass_fields__) - {"root", "explicit"}
WEB_EXTRA_HINT = "pip install 'image-recommender[web]'"


def _print_version(asked: bool) -> None:
    if asked:
        out.print(f"imrec {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Find similar images in a folder: OpenCLIP embeddings, SQLite catalog, FAISS HNSW index."""


def friendly(command: Command) -> Command:
    """Turn ImrecError into one stderr line and its exit code; Ctrl-C into a calm message and 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImrecError as exc:
            err.print(f"imrec: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.DatabaseError as exc:
            err.print(f"imrec: error: {damaged_catalog_message(exc)}", markup=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("imrec: interrupted; everything finished so far is saved", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# -- options shared by several commands ------------------------------------------------------

LIBRARY_HELP = "Library folder (default: $IMREC_ROOT, else the current folder)."
RootArg = Annotated[Path | None, typer.Argument(metavar="ROOT", help=LIBRARY_HELP, show_default=False)]
LibraryOpt = Annotated[
    Path | None, typer.Option("--library", "-l", metavar="FOLDER", help=LIBRARY_HELP + " Same as ROOT.")
]
SearchLibraryOpt = Annotated[Path | None, typer.Option("--library", "-l", metavar="FOLDER", help=LIBRARY_HELP)]
DbOpt = Annotated[
    Path | None, typer.Option("--db", metavar="FILE", help="Catalog file [default: ROOT/.imrec/catalog.sqlite3].")
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", metavar="NAME", help="OpenCLIP architecture [default: the library's model; ViT-L-14 for a new one]."
    ),
]
PretrainedOpt = Annotated[
    str | None,
    typer.Option(
        "--pretrained",
        metavar="TAG|FILE",
        help="Pretrained weights: a tag, or a local checkpoint file [default: the library's own; openai for a new one].",
    ),
]
ModelConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--model-config", metavar="FILE", help="JSON config of a custom architecture (its name is the file's stem)."
    ),
]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", metavar="auto|cpu|cuda|mps", help="Where the model runs [default: auto].")
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--precision",
        metavar="auto|fp32|bf16|fp16",
        help="Model precision [default: auto = bf16 on CPUs with native bf16 and on CUDA, else fp32].",
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="auto|torch|openvino",
        help="What runs the model [default: auto = OpenVINO on a CPU where it is installed, else torch].",
    ),
]
AddModelOpt = Annotated[
    bool,
    typer.Option(
        "--add-model", help="Embed the library with the named model too, beside the model(s) it already holds."
    ),
]
BatchSizeOpt = Annotated[
    int | None, typer.Option("--batch-size", metavar="N", help="Images per catalog transaction [default: 256].")
]
ModelBatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--model-batch-size", metavar="N", help="Images per forward pass [default: 0 = 256 on CUDA, 32 elsewhere]."
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", metavar="N", help="Decode worker processes; 0 decodes in-process [default: one per core]."
    ),
]
DecodeOpt = Annotated[
    str | None,
    typer.Option(
        "--decode",
        metavar="auto|workers|device",
        help="Where JPEGs too small for a DCT draft are decoded [default: auto = nvJPEG on GPUs with hardware "
        "JPEG decoders, else the workers].",
    ),
]
CompileOpt = Annotated[
    bool | None,
    typer.Option("--compile", help="torch.compile the image tower (needs a C++ compiler; slow first batch)."),
]
RetryFailedOpt = Annotated[bool, typer.Option("--retry-failed", help="Try files that failed before again.")]
IndexKindOpt = Annotated[
    str | None,
    typer.Option(
        "--index",
        metavar="auto|hnsw|hnsw-sq8|ivf-pq|flat",
        help="Index kind, kept until asked otherwise; auto picks by the library's size and --memory-budget"
        " [default: auto].",
    ),
]
RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="Embed on a Ray cluster: host:port, or auto for the one RAY_ADDRESS names; alone, a local one."
        " ROOT must be the same path on every node. Needs the [ray] extra.",
    ),
]
MemoryBudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-budget", metavar="SIZE", help="RAM the index may use, e.g. 4GB [default: a quarter of the RAM]."
    ),
]
HnswMOpt = Annotated[int | None, typer.Option("--hnsw-m", metavar="M", help="HNSW graph degree M [default: 32].")]
EfConstructionOpt = Annotated[
    int | None, typer.Option("--ef-construction", metavar="N", help="HNSW build beam efConstruction [default: 200].")
]
EfSearchOpt = Annotated[
    int | None,
    typer.Option("--ef-search", metavar="N", help="HNSW query beam efSearch [default: 64, or 128 past 200k images]."),
]
IncludeHiddenOpt = Annotated[
    bool | None,
    typer.Option("--include-hidden", help="Also catalog hidden files and folders (names starting with '.')."),
]
FollowSymlinksOpt = Annotated[
    bool | None, typer.Option("--follow-symlinks", help="Follow symbolic links that lead out of the library folder.")
]
AllowMassRemovalOpt = Annotated[
    bool | None,
    typer.Option(
        "--allow-mass-removal",
        help="Accept that most catalogued files vanished at once (else refused as an unmounted drive).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]


def _root(root: Path | None, library: Path | None) -> Path | None:
    """The library folder, named positionally or with -l (not two different ones)."""
    if root is not None and library is not None and root.absolute() != library.absolute():
        raise SettingsError(f"two library folders given: {root} and --library {library}; give one")
    return root if root is not None else library


FILTER_NAMES = (
    "under",
    "min_score",
    "after",
    "before",
    "taken_on",
    "camera",
    "near",
    "radius",
    "sort",
    "all_copies",
)


def result_filters(values: dict[str, Any]) -> dict[str, Any]:
    """The result filters a search command's flags gave, as ``Library.search`` keyword arguments."""
    return {name: values[name] for name in FILTER_NAMES}


def open_library(root: Path | None, values: dict[str, Any], create: bool = False) -> Library:
    """Open the library with every setting a command's flags gave (``None`` = not given)."""
    overrides = {name: value for name, value in values.items() if name in SETTING_NAMES}
    opened = Library.open(root, create=create, **overrides)
    if opened.settings.asked_for is not None:
        err.print(f"imrec: using the library at {opened.root} ({opened.settings.asked_for} is inside it)", markup=False)
    return opened


@contextmanager
def embed_progress(enabled: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    """A rich bar with images/s, ETA and failures, only on a terminal, shown from the first image on
    (a model that cannot load fails before any bar appears)."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        TextColumn("failed {task.fields[failed]}"),
    )
    with contextlib.ExitStack() as stack:
        shown: list[tuple[Progress, TaskID]] = []

        def update(done: int, total: int, failed: int) -> None:
            if not shown:
                bar = stack.enter_context(Progress(*columns, console=err, transient=True))
                shown.append((bar, bar.add_task("embed", total=None, failed=0, rate="")))
            bar, task = shown[0]
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=total, failed=failed, rate=rate)

        yield update


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def warn_unreadable(folders: list[str]) -> None:
    for problem in folders:
        err.print(f"imrec: warning: cannot read folder {problem}; its catalogued images are kept", markup=False)


# -- the library commands --------------------------------------------------------------------


@app.command(cls=_PlainArguments)
@friendly
def index(
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
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
    memory_budget: MemoryBudgetOpt = None,
    hnsw_m: HnswMOpt = None,
    ef_construction: EfConstructionOpt = None,
    retry_failed: RetryFailedOpt = False,
    ray_address: RayOpt = None,
    include_hidden: IncludeHiddenOpt = None,
    follow_symlinks: FollowSymlinksOpt = None,
    allow_mass_removal: AllowMassRemovalOpt = None,
    json_output: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Scan, embed and index ROOT: the main job, incremental on every later run."""
    with (
        open_library(_root(root, library), locals(), create=True) as opened,
        embed_progress(not quiet and not json_output) as bar,
    ):
        summary = opened.update(retry_failed=retry_failed, progress=bar, add_model=add_model)
    if json_output:
        emit_json(summary.as_json())
    elif not quiet:
        out.print(summary.line(), markup=False)
    if not quiet and not json_output:
        warn_unreadable(summary.unreadable)
        if summary.failed:
            err.print(
                f"{summary.failed} file(s) could not be read; 'imrec status' lists them with reasons", markup=False
            )


@app.command(cls=_PlainArguments)
@friendly
def scan(
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
    with open_library(_root(root, library), locals(), create=True) as opened:
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


@app.command(cls=_PlainArguments)
@friendly
def embed(
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
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
    with open_library(_root(root, library), locals()) as opened, embed_progress(not quiet and not json_output) as bar:
        report = opened.embed(retry_failed=retry_failed, progress=bar, add_model=add_model)
    if json_output:
        emit_json(report.as_json())
    elif not quiet:
        out.print(report.line(), markup=False)


@app.command("build-index", cls=_PlainArguments)
@friendly
def build_index(
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
    index_kind: IndexKindOpt = None,
    memory_budget: MemoryBudgetOpt = None,
    hnsw_m: HnswMOpt = None,
    ef_construction: EfConstructionOpt = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild from scratch even if adding would do.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Step 3: bring the FAISS index up to date with the catalog's vectors."""
    with open_library(_root(root, library), locals()) as opened:
        report = opened.build_index(rebuild=rebuild)
    if json_output:
        emit_json(report.as_json())
    else:
        how = f"rebuilt in {report.seconds:.1f} s" if report.rebuilt else f"added {report.added}"
        out.print(
            f"{report.kind or 'no'} index holds {report.count} vectors ({how}, {report.stale} stale filtered)",
            markup=False,
        )


# -- searching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultOutputs:
    """Where a search's results go: printed (table, JSON or paths), drawn, placed in a folder, opened."""

    json_output: bool = False
    paths: bool = False
    paths0: bool = False
    preview: Path | None = None
    show: bool = False
    copy_to: Path | None = None
    link_to: Path | None = None
    open_results: bool = False
    k: int | None = None

    def check(self) -> None:
        """Refuse impossible combinations and unusable targets before any search runs."""
        chosen = [
            name
            for name, on in (("--json", self.json_output), ("--paths", self.paths), ("--paths0", self.paths0))
            if on
        ]
        if len(chosen) > 1:
            raise SettingsError(f"{' and '.join(chosen)} both print results; choose one")
        if self.copy_to is not None and self.link_to is not None:
            raise SettingsError("--copy-to and --link-to both place the results; choose one")
        if self.preview is not None or self.show:
            from image_recommender.preview import check_display, check_output

            if self.preview is not None:
                check_output(self.preview)
            if self.show:
                check_display()
        from image_recommender.export import check_target, check_viewer

        folder = self.copy_to or self.link_to
        if folder is not None:
            check_target(folder)
        if self.open_results:
            check_viewer(1 if folder is not None else (self.k or 10))


def _print_paths(response: SearchResponse, library: Library, separator: str) -> None:
    """One absolute path per result; a name with a line break cannot be a line, so --paths refuses it."""
    located = [str(library.root / result.path) for result in response.results]
    if separator == "\n":
        broken = next((path for path in located if "\n" in path or "\r" in path), None)
        if broken is not None:
            raise LibraryError(f"{broken!r}: a result's path holds a line break; use --paths0 (NUL-separated) instead")
    sys.stdout.write("".join(path + separator for path in located))


def render(response: SearchResponse, library: Library, outputs: ResultOutputs) -> None:
    """Print results as a table, JSON or paths; draw, place or open them if asked."""
    json_output, paths, paths0 = outputs.json_output, outputs.paths, outputs.paths0
    preview, show = outputs.preview, outputs.show
    if not response.index_current:
        err.print(
            "imrec: note: the index is older than the catalog; results are complete (newer images are scored"
            " exactly), run 'imrec index' to make searches fast again",
            markup=False,
        )
    if json_output:
        emit_json(response.as_json())
    elif paths or paths0:
        _print_paths(response, library, "\0" if paths0 else "\n")
    else:
        print_table(response)
    if preview is not None or show:
        from image_recommender.preview import contact_sheet, short_path

        queries = [
            (f"{'unlike' if away else 'like'}:\n{short_path(path.name)}", path) for path, away in response.query_images
        ]
        results = [(f"#{r.rank}  {r.score:.3f}\n{short_path(r.path)}", library.root / r.path) for r in response.results]
        contact_sheet(queries, results, preview, show, title="query: " + " ".join(response.query))
        if preview is not None and not json_output and not (paths or paths0):
            err.print(f"preview written to {preview}", markup=False)
    _place_and_open(response, library, outputs)


def shown_date(result: SearchResult) -> str:
    """The date taken as "2024-12-24 09:00"; "~2024-12-24 09:00" when it is only the file's time."""
    if not result.taken_at:
        return ""
    return ("~" if result.taken_from == "mtime" else "") + result.taken_at.replace("T", " ")[:16]


def print_table(response: SearchResponse) -> None:
    """Results as aligned columns with the path last and whole, never cut or wrapped by the
    program (an 80-column terminal or a pipe gets every character of it); exact copies are
    named after it, a "~" date is the file's time (no EXIF date)."""
    dated = any(result.taken_at for result in response.results)
    header = ["rank", "score", "id", *(["taken"] if dated else []), "path"]
    rows = [
        [str(r.rank), f"{r.score:.4f}", str(r.id), *([shown_date(r)] if dated else []), _with_copies(r)]
        for r in response.results
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    out.print(f"query: {' '.join(response.query)}", markup=False, highlight=False, soft_wrap=True)
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if column < 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        out.print("  ".join([*cells, row[-1]]), markup=False, highlight=False, soft_wrap=True)
    if not response.results:
        err.print("no matching images", markup=False)
    if any(r.taken_from == "mtime" for r in response.results):
        err.print("~: the file's date (the photo has no EXIF date taken)", markup=False)


def _with_copies(result: SearchResult) -> str:
    if not result.copies:
        return result.path
    return f"{result.path} (+{len(result.copies)} {'copy' if len(result.copies) == 1 else 'copies'})"


def _place_and_open(response: SearchResponse, library: Library, outputs: ResultOutputs) -> None:
    """--copy-to/--link-to put the results in a folder in rank order; --open shows it (or them)."""
    from image_recommender.export import open_in_viewer, place_results

    files = [library.root / result.path for result in response.results]
    folder = outputs.copy_to or outputs.link_to
    if folder is not None:
        place_results(files, folder, link=outputs.link_to is not None)
        if not (outputs.json_output or outputs.paths or outputs.paths0):
            verb = "linked" if outputs.link_to is not None else "copied"
            err.print(f"{len(files)} result(s) {verb} to {folder}", markup=False)
    if outputs.open_results and (files or folder is not None):
        for problem in open_in_viewer([folder] if folder is not None else files):
            err.print(f"imrec: warning: {problem}", markup=False)


CopyToOpt = Annotated[
    Path | None,
    typer.Option("--copy-to", metavar="DIR", help="Copy the results into DIR (new or empty) as 001-name.jpg, 002-..."),
]
LinkToOpt = Annotated[
    Path | None,
    typer.Option("--link-to", metavar="DIR", help="Like --copy-to, with symbolic links instead of copies."),
]
OpenOpt = Annotated[
    bool,
    typer.Option("--open", help="Open the results with the system's viewer (the folder, with --copy-to/--link-to)."),
]
ShowOpt = Annotated[bool, typer.Option("--show", help="Open the contact sheet in a window (needs a display).")]
PreviewOpt = Annotated[
    Path | None,
    typer.Option("--preview", metavar="FILE", help="Write a contact sheet here (.png, .pdf, .svg, .jpg ...)."),
]
PathsOpt = Annotated[bool, typer.Option("--paths", help="Print one absolute path per line.")]
Paths0Opt = Annotated[
    bool, typer.Option("--paths0", help="Print absolute paths separated by NUL bytes (for xargs -0).")
]
TopKOpt = Annotated[int | None, typer.Option("-k", "--top-k", metavar="N", help="Number of results [default: 10].")]
AfterOpt = Annotated[
    str | None,
    typer.Option("--after", metavar="DATE", help="Only photos taken on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
]
BeforeOpt = Annotated[
    str | None,
    typer.Option("--before", metavar="DATE", help="Only photos taken before DATE (YYYY, YYYY-MM or YYYY-MM-DD)."),
]
TakenOnOpt = Annotated[
    str | None, typer.Option("--taken-on", metavar="DATE", help="Only photos taken on that day (or month, or year).")
]
CameraOpt = Annotated[
    str | None, typer.Option("--camera", metavar="NAME", help="Only photos from a camera whose name contains NAME.")
]
NearOpt = Annotated[
    str | None,
    typer.Option(
        "--near", metavar="LAT,LON", help="Only photos taken near this place (decimal degrees, from EXIF GPS)."
    ),
]
RadiusOpt = Annotated[
    str | None, typer.Option("--radius", metavar="DISTANCE", help="How near, for --near: 5km, 500m [default: 1km].")
]
SortOpt = Annotated[
    str,
    typer.Option(
        "--sort",
        metavar="score|date",
        help="Order results by score or by date taken (EXIF, else the file's date, marked ~) [default: score].",
        show_default=False,
    ),
]
UnderOpt = Annotated[
    str | None, typer.Option("--under", metavar="FOLDER", help="Only results inside this folder of the library.")
]
MinScoreOpt = Annotated[
    float | None, typer.Option("--min-score", metavar="X", help="Only results with at least this cosine score.")
]
AllCopiesOpt = Annotated[
    bool,
    typer.Option("--all-copies", help="Show exact copies of a file as results of their own (default: one, +N copies)."),
]


@app.command(cls=_PlainArguments)
@friendly
def search(
    terms: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TERM",
            help="Image files or texts, optionally weighted as WEIGHT:TERM (e.g. 2:cat.jpg, -1:dog.jpg, 0.5:snow).",
            show_default=False,
        ),
    ] = None,
    library: SearchLibraryOpt = None,
    like: Annotated[
        list[str] | None, typer.Option("--like", metavar="FILE", help="An image file to find more like.")
    ] = None,
    like_id: Annotated[list[str] | None, typer.Option("--like-id", metavar="ID", help="An indexed image's id.")] = None,
    text: Annotated[
        list[str] | None, typer.Option("--text", metavar="TEXT", help="Words describing what you want.")
    ] = None,
    unlike: Annotated[
        list[str] | None, typer.Option("--unlike", metavar="FILE|ID", help="An image file or id to move away from.")
    ] = None,
    not_text: Annotated[
        list[str] | None, typer.Option("--not-text", metavar="TEXT", help="Words to move away from.")
    ] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    taken_on: TakenOnOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    radius: RadiusOpt = None,
    sort: SortOpt = "score",
    min_score: MinScoreOpt = None,
    all_copies: AllCopiesOpt = False,
    include_query: Annotated[
        bool, typer.Option("--include-query", help="Keep the query images (and exact copies of them) in the results.")
    ] = False,
    ef_search: EfSearchOpt = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    json_output: JsonOpt = False,
    paths: PathsOpt = False,
    paths0: Paths0Opt = False,
    preview: PreviewOpt = None,
    show: ShowOpt = False,
    copy_to: CopyToOpt = None,
    link_to: LinkToOpt = None,
    open_results: OpenOpt = False,
) -> None:
    """Images like files, ids and texts, and unlike others: the library's search."""
    outputs = ResultOutputs(json_output, paths, paths0, preview, show, copy_to, link_to, open_results, top_k)
    outputs.check()
    parsed = [parse_term(term) for term in terms or []]
    parsed += [parse_term(item, kind="file") for item in like or []]
    parsed += [parse_term(item, kind="id") for item in like_id or []]
    parsed += [parse_term(item, kind="text") for item in text or []]
    parsed += [parse_file_or_id(item, negative=True) for item in unlike or []]
    parsed += [parse_term(item, negative=True, kind="text") for item in not_text or []]
    if not parsed:
        raise typer.BadParameter("give an image, --like-id, or --text to search for")
    with open_library(library, locals()) as opened:
        response = opened.search(parsed, include_query=include_query, **result_filters(locals()))
        render(response, opened, outputs)


@app.command(cls=_PlainArguments)
@friendly
def recommend(
    liked: Annotated[
        list[str], typer.Argument(metavar="LIKED", help="Image files or ids you like (WEIGHT:TERM weights one).")
    ],
    library: SearchLibraryOpt = None,
    unlike: Annotated[
        list[str] | None, typer.Option("--unlike", metavar="FILE|ID", help="An image file or id you dislike.")
    ] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    taken_on: TakenOnOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    radius: RadiusOpt = None,
    sort: SortOpt = "score",
    min_score: MinScoreOpt = None,
    all_copies: AllCopiesOpt = False,
    ef_search: EfSearchOpt = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    json_output: JsonOpt = False,
    paths: PathsOpt = False,
    paths0: Paths0Opt = False,
    preview: PreviewOpt = None,
    show: ShowOpt = False,
    copy_to: CopyToOpt = None,
    link_to: LinkToOpt = None,
    open_results: OpenOpt = False,
) -> None:
    """More like these, less like those: the liked images themselves are never returned."""
    outputs = ResultOutputs(json_output, paths, paths0, preview, show, copy_to, link_to, open_results, top_k)
    outputs.check()
    with open_library(library, locals()) as opened:
        response = opened.recommend(liked, unlike or [], **result_filters(locals()))
        render(response, opened, outputs)


@app.command(cls=_PlainArguments)
@friendly
def duplicates(
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
    undo: Annotated[
        Path | None, typer.Option("--undo", metavar="MANIFEST", help="Put back the files a --move-to --apply moved.")
    ] = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Exact copies, near duplicates (cosine >= threshold) and bursts, with a keeper each; move and undo."""
    if apply and move_to is None:
        raise SettingsError("--apply moves duplicates: give --move-to DIR too")
    if undo is not None and move_to is not None:
        raise SettingsError("--undo and --move-to: do one at a time")
    with open_library(_root(root, library), locals()) as opened:
        if undo is not None:
            restored = opened.undo_moves(undo)
            if json_output:
                emit_json(restored.as_json())
            else:
                _report_moves(restored, "put back", None)
            return
        groups = opened.duplicates(threshold, keep_under)
        waiting = opened.not_embedded()
        moves, report = opened.move_duplicates(groups, move_to, apply) if move_to is not None else ([], None)
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
        for image in group.images:
            mark = "keep" if image.id == group.keeper.id else "    "
            out.print(f"  {mark} {image.path} ({image.width}x{image.height})", markup=False)
    if move_to is not None and report is None:
        size = sum(m.size for m in moves)
        for move in moves:
            out.print(f"  would move {move.source} -> {move.target}", markup=False)
        out.print(
            f"would move {len(moves)} file(s), {size / 1e6:.1f} MB, to {move_to}; add --apply to move them",
            markup=False,
        )
    elif report is not None:
        _report_moves(report, f"moved to {move_to}", report.manifest)


def _report_moves(report: MoveReport, done: str, manifest: Path | None) -> None:
    out.print(f"{report.moved} file(s), {report.bytes / 1e6:.1f} MB, {done}", markup=False)
    if manifest is not None:
        out.print(f"manifest: {manifest} ('imrec duplicates --undo {manifest}' puts them back)", markup=False)
    for path, reason in report.skipped:
        err.print(f"imrec: left alone: {path}: {reason}", markup=False)


@app.command(cls=_PlainArguments)
@friendly
def status(
    root: RootArg = None,
    library: LibraryOpt = None,
    db_path: DbOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Also verify the catalog file and the index against the catalog.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Counts per state, models, index freshness, and every failed file with its reason."""
    with open_library(_root(root, library), locals()) as opened:
        report = opened.status(check)
    if json_output:
        emit_json(report.as_json())
    else:
        _print_status(report)
    if report.integrity not in (None, "ok"):
        raise typer.Exit(1)


def _print_status(report: Any) -> None:
    counts = report.counts
    out.print(f"library {report.root}", markup=False)
    out.print(", ".join(f"{state} {counts[state]}" for state in counts), markup=False)
    for held in report.models:
        out.print(
            f"model {held['name']} ({held['pretrained']}), {held['dim']}-d, {held['vectors']} vectors", markup=False
        )
    if report.index is None:
        out.print("index: none yet", markup=False)
    else:
        state = "current" if report.index.current else "out of date: run 'imrec index'"
        out.print(
            f"index: {report.index.kind or 'missing'}, {report.index.count} vectors, {state}"
            f" ({report.index.stale} stale, {report.index.unindexed} not yet indexed)",
            markup=False,
        )
    for path, error in report.failures:
        out.print(f"failed: {path}: {error}", markup=False)
    if report.integrity is not None:
        out.print(f"check: {report.integrity}", markup=False)


@app.command("watch", cls=_PlainArguments)
@friendly
def watch_command(
    root: RootArg = None,
    library: LibraryOpt = None,
    debounce: Annotated[
        float, typer.Option("--debounce", metavar="SECONDS", help="Quiet time after a change before an update runs.")
    ] = 2.0,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
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

    with open_library(_root(root, library), locals(), create=True) as opened:
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
        _QUICK_EXIT.set()
        raise typer.Exit(130)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command(cls=_PlainArguments)
@friendly
def serve(
    root: RootArg = None,
    library: LibraryOpt = None,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on; only this machine by default.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to listen on.")] = 8765,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            "--allowed-hosts",
            metavar="NAMES",
            help="Comma-separated extra host names the page may be reached by (besides localhost, "
            "127.0.0.1 and --host).",
        ),
    ] = None,
    db_path: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ModelConfigOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Browse, search and refine ROOT in a local web page (JSON API and docs at /docs)."""
    try:
        import uvicorn

        from image_recommender.web.app import create_app
    except ImportError as exc:
        raise LibraryError(f"the web page needs the web extra ({exc.name} is missing): {WEB_EXTRA_HINT}") from None

    if not 0 < port < 65536:
        raise SettingsError(f"--port {port}: not a port number (1-65535)")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise LibraryError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
    if host not in LOOPBACK:
        err.print(f"imrec: warning: listening on {host}: anyone who can reach it can browse this library", markup=False)
    with open_library(_root(root, library), locals()) as opened:
        try:
            opened.warm_up()
        except ImrecError as exc:
            err.print(f"imrec: warning: {exc}; text and new-image queries will fail until this is fixed", markup=False)
        err.print(f"serving {opened.root} on http://{_url_host(host)}:{port}/ (Ctrl-C stops)", markup=False)
        config = uvicorn.Config(
            create_app(opened, served_host=host),
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        uvicorn.Server(config).run()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@app.command(cls=_PlainArguments)
@friendly
def models(
    all_models: Annotated[
        bool, typer.Option("--all", help="List every architecture and tag OpenCLIP knows (slow: loads OpenCLIP).")
    ] = False,
    bench: Annotated[
        bool,
        typer.Option(
            "--bench",
            help="Also measure each architecture's images/s here (random weights, model alone, ~10 s each;"
            " the first run with OpenVINO converts each model once).",
        ),
    ] = False,
    seconds: Annotated[
        float, typer.Option("--seconds", metavar="S", min=0.5, max=600, help="Measuring time per model.")
    ] = 10.0,
    model: Annotated[
        str | None, typer.Option("--model", metavar="NAME", help="With --bench: measure this architecture only.")
    ] = None,
    model_config: ModelConfigOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """The recommended models with their published quality, which are cached here, and (--bench) their speed."""
    if all_models:
        from image_recommender.models import available_models

        out.print("architecture\tpretrained", markup=False)
        for name, tag in available_models():
            out.print(f"{name}\t{tag}", markup=False)
        return
    from image_recommender.recommended import RECOMMENDED, RESULTS_SOURCE

    if (model or model_config) and not bench:
        raise SettingsError("--model and --model-config name the architecture to measure with --bench")
    chosen = load_settings(
        None, {"device": device, "engine": engine, "precision": precision, "model": model, "model_config": model_config}
    )
    named = (chosen.model_spec.architecture,) if model or model_config else ()
    speeds = _bench_models(named or tuple(dict.fromkeys(c.name for c in RECOMMENDED)), seconds, chosen) if bench else {}
    columns = "{:<22}{:<24}{:>5}{:>7}{:>10}{:>8}  {:<7}{:>8}  {}"
    out.print(
        columns.format(
            "model", "pretrained", "dim", "top-1", "COCO R@1", "GFLOPs", "cached", "img/s" if bench else "", "note"
        ),
        markup=False,
    )
    rows = [
        (
            c.name,
            c.pretrained,
            c.dim,
            f"{c.imagenet_top1:.3f}",
            f"{c.coco_image_r1:.3f}",
            f"{c.gflops:g}",
            "yes" if c.cached() else "no",
            c.note,
        )
        for c in RECOMMENDED
        if not named or c.name in named
    ]
    if named and not rows:
        rows = [(named[0], "(random)", "", "", "", "", "", "")]
    for name, pretrained, dim, top1, recall, gflops, cached, note in rows:
        out.print(
            columns.format(name, pretrained, dim, top1, recall, gflops, cached, speeds.get(name, ""), note),
            markup=False,
        )
    out.print(
        f"top-1: ImageNet zero-shot accuracy; COCO R@1: a caption finds its image first; {RESULTS_SOURCE}."
        " 'imrec models --all' lists every model",
        markup=False,
    )
    if speeds:
        out.print(f"img/s: {speeds['']}", markup=False)


def _bench_models(names: tuple[str, ...], seconds: float, settings: Settings) -> dict[str, str]:
    """images/s of each recommended architecture here, by name; '' says what was measured, and on what."""
    import os

    from image_recommender.models import EngineOptions, load_model, measure_speed
    from image_recommender.recommended import cpu_flags
    from image_recommender.settings import ModelSpec

    engine = EngineOptions(settings.engine, settings.openvino_device, settings.engine_cache)
    speeds: dict[str, str] = {}
    runtime = settings.engine
    for name in names:
        err.print(f"imrec: measuring {name} for {seconds:g} s", markup=False)
        spec = ModelSpec(name, "", settings.model_config if name == settings.model_spec.architecture else None)
        try:
            model = load_model(spec, settings.device, settings.precision, engine=engine)
            runtime = model.describe()
            speeds[name] = f"{measure_speed(model, seconds):.1f}"
        except ImrecError as exc:
            speeds[name] = "failed"
            err.print(f"imrec: {name}: {exc}", markup=False)
        finally:
            model = None  # one model in memory at a time
    speeds[""] = (
        f"model alone, random weights, batch 8, {runtime}; CPU flags: {' '.join(cpu_flags()) or 'none of note'},"
        f" {os.cpu_count()} cores"
    )
    return speeds


_NEGATIVE_WEIGHT = re.compile(r"-(\d+(\.\d*)?|\.\d+):.+", re.DOTALL)


def negative_terms_last(args: list[str]) -> list[str]:
    """Move ``-1:dog.jpg`` style terms of search/recommend after ``--``, where they are read as terms.

    The parser would take them for unknown options. A value that follows an option expecting
    one (``--text -1:x``) stays where it is.
    """
    position = next((i for i, arg in enumerate(args) if not arg.startswith("-")), None)
    if position is None or args[position] not in ("search", "recommend") or "--" in args:
        return args
    command = typer.main.get_command(app).commands[args[position]]  # type: ignore[attr-defined]
    takes_value = {
        name
        for param in command.params
        if param.param_type_name == "option" and not param.is_flag
        for name in param.opts
    }
    kept, moved = args[: position + 1], []
    for previous, arg in zip(args[position:], args[position + 1 :], strict=False):
        if _NEGATIVE_WEIGHT.fullmatch(arg) and previous not in takes_value:
            moved.append(arg)
        else:
            kept.append(arg)
    return [*kept, "--", *moved] if moved else args


def ray_value_given(args: list[str]) -> list[str]:
    """``--ray`` alone means a local Ray: give it that value when no address follows it (the end,
    another option, or the library folder: an address is never a folder)."""
    given = []
    for position, arg in enumerate(args):
        following = args[position + 1] if position + 1 < len(args) else None
        alone = following is None or following.startswith("-") or os.path.isdir(following)
        given.append("--ray=local" if arg == "--ray" and alone else arg)
    return given


class _NoteHandler(logging.Handler):
    """Library notes (a model being converted, a long run's estimate, a damaged cache) as one stderr line each."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"imrec: {record.getMessage()}", markup=False)


# Set by a command whose work and files are all closed, so the process may end without teardown.
_QUICK_EXIT = threading.Event()


def main() -> None:
    notes = logging.getLogger("image_recommender")
    notes.addHandler(_NoteHandler())
    notes.setLevel(logging.INFO)
    notes.propagate = False
    try:
        code = app(args=ray_value_given(negative_terms_last(sys.argv[1:])), prog_name="imrec", standalone_mode=False)
    except typer.TyperException as exc:  # a usage mistake: one line, like every other mistake
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        context = getattr(exc, "ctx", None)
        where = f" (see '{context.command_path} --help')" if context is not None else ""
        err.print(f"imrec: error: {message}{where}", markup=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):
        err.print("imrec: interrupted", markup=False)
        sys.exit(130)
    if _QUICK_EXIT.is_set():
        # A stopped watch has closed its library; the interpreter's teardown of torch's and
        # OpenVINO's threads took 0.3-3.7 s more on a loaded 2-core machine, so skip it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 0)
    sys.exit(code if isinstance(code, int) else 0)

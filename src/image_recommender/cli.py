"""The ``imrec`` command: parse flags, call ``Library``, render tables, JSON or previews.

Every user mistake ends as one ``imrec: error: ...`` line and a non-zero exit code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from image_recommender import __version__
from image_recommender.errors import ImrecError, LibraryError
from image_recommender.library import Library, SearchResponse, UpdateSummary
from image_recommender.query import parse_file_or_id, parse_term

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
    """Turn ImrecError into one stderr line and its exit code; Ctrl-C into a calm message."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ImrecError as exc:
            err.print(f"imrec: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("imrec: interrupted; everything finished so far is saved", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


RootArg = Annotated[Path | None, typer.Argument(help="Library folder (default: $IMREC_ROOT or the current folder).")]
LibraryOpt = Annotated[
    Path | None, typer.Option("--library", "-l", help="Library folder (default: $IMREC_ROOT or the current folder).")
]
DbOpt = Annotated[Path | None, typer.Option("--db", help="Catalog file (default: ROOT/.imrec/catalog.sqlite3).")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="OpenCLIP architecture [default: ViT-L-14].")]
PretrainedOpt = Annotated[
    str | None, typer.Option("--pretrained", help="Pretrained tag or local checkpoint file [default: openai].")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--model-config", help="JSON config registering a custom architecture (name = stem).")
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto|cpu|cuda|mps [default: auto].")]
PrecisionOpt = Annotated[
    str | None,
    typer.Option("--precision", help="auto|fp32|bf16|fp16 [default: bf16 on capable CPUs, fp16/bf16 on CUDA]."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
WorkersOpt = Annotated[int | None, typer.Option(help="Decode worker processes [default: one per core].")]
DecodeOpt = Annotated[
    str | None,
    typer.Option(
        "--decode",
        help="Where JPEGs too small for a DCT draft are decoded: auto|workers|device "
        "[default: auto = nvJPEG on GPUs with hardware JPEG decoders, else the workers].",
    ),
]
EfSearchOpt = Annotated[
    int | None, typer.Option("--ef-search", help="HNSW query beam (efSearch) [default: 64, or 128 past 200k images].")
]


def model_overrides(
    model: str | None, pretrained: str | None, config: Path | None, device: str | None, precision: str | None
) -> dict[str, Any]:
    return {"model": model, "pretrained": pretrained, "model_config": config, "device": device, "precision": precision}


@contextmanager
def embed_progress(enabled: bool) -> Iterator[Callable[[int, int, int], None] | None]:
    """A rich bar with images/s, ETA and failures, only on a terminal."""
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
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("embed", total=None, failed=0, rate="")

        def update(done: int, total: int, failed: int) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 else ""
            bar.update(task, completed=done, total=total, failed=failed, rate=rate)

        yield update


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command()
@friendly
def index(
    root: RootArg = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per catalog transaction [default: 256].")] = None,
    model_batch_size: Annotated[int | None, typer.Option(help="Images per forward pass [default: 32].")] = None,
    workers: WorkersOpt = None,
    decode: DecodeOpt = None,
    compile: Annotated[bool | None, typer.Option("--compile", help="torch.compile the image tower.")] = None,
    index_kind: Annotated[
        str | None, typer.Option("--index", help="hnsw (approximate, default) or flat (exact).")
    ] = None,
    hnsw_m: Annotated[int | None, typer.Option("--hnsw-m", help="HNSW graph degree M [default: 32].")] = None,
    ef_construction: Annotated[int | None, typer.Option(help="HNSW efConstruction [default: 200].")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Try files that failed before again.")] = False,
    include_hidden: Annotated[
        bool | None, typer.Option("--include-hidden", help="Also scan hidden files/folders.")
    ] = None,
    follow_symlinks: Annotated[
        bool | None, typer.Option("--follow-symlinks", help="Follow links that leave the library folder.")
    ] = None,
    allow_mass_removal: Annotated[
        bool | None, typer.Option("--allow-mass-removal", help="Accept that most files vanished at once.")
    ] = None,
    json_output: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Scan, embed and index ROOT: the main job, incremental on every later run."""
    overrides = model_overrides(model, pretrained, model_config, device, precision) | {
        "db_path": db,
        "batch_size": batch_size,
        "model_batch_size": model_batch_size,
        "workers": workers,
        "decode": decode,
        "compile": compile,
        "index_kind": index_kind,
        "hnsw_m": hnsw_m,
        "ef_construction": ef_construction,
        "include_hidden": include_hidden,
        "follow_symlinks": follow_symlinks,
        "allow_mass_removal": allow_mass_removal,
    }
    with Library.open(root, create=True, **overrides) as library, embed_progress(not quiet and not json_output) as bar:
        summary = library.update(retry_failed=retry_failed, progress=bar)
    if json_output:
        emit_json(summary.as_json())
    elif not quiet:
        out.print(summary.line(), markup=False)
    if summary.failed and not quiet and not json_output:
        err.print(f"{summary.failed} file(s) could not be read; 'imrec status' lists them with reasons", markup=False)


@app.command()
@friendly
def scan(
    root: RootArg = None,
    db: DbOpt = None,
    include_hidden: Annotated[bool | None, typer.Option("--include-hidden")] = None,
    follow_symlinks: Annotated[bool | None, typer.Option("--follow-symlinks")] = None,
    allow_mass_removal: Annotated[bool | None, typer.Option("--allow-mass-removal")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Step 1 (the seed's create_db): catalog new, changed and removed files."""
    overrides = {
        "db_path": db,
        "include_hidden": include_hidden,
        "follow_symlinks": follow_symlinks,
        "allow_mass_removal": allow_mass_removal,
    }
    with Library.open(root, create=True, **overrides) as library:
        report = library.scan()
    if json_output:
        emit_json(dataclasses.asdict(report))
        return
    out.print(
        f"scanned {report.scanned}, new {report.new}, changed {report.changed}, "
        f"returned {report.returned}, removed {report.removed}",
        markup=False,
    )
    for problem in report.unreadable:
        err.print(f"imrec: warning: cannot read folder {problem}", markup=False)


@app.command()
@friendly
def embed(
    root: RootArg = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per catalog transaction [default: 256].")] = None,
    model_batch_size: Annotated[int | None, typer.Option(help="Images per forward pass [default: 32].")] = None,
    workers: WorkersOpt = None,
    decode: DecodeOpt = None,
    compile: Annotated[bool | None, typer.Option("--compile")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Try files that failed before again.")] = False,
    json_output: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Step 2 (the seed's create_features): embed new and changed images."""
    overrides = model_overrides(model, pretrained, model_config, device, precision) | {
        "db_path": db,
        "batch_size": batch_size,
        "model_batch_size": model_batch_size,
        "workers": workers,
        "decode": decode,
        "compile": compile,
    }
    with Library.open(root, **overrides) as library, embed_progress(not quiet and not json_output) as bar:
        report = library.embed(retry_failed=retry_failed, progress=bar)
    data = {
        "embedded": report.embedded,
        "reused": report.reused,
        "failed": report.failed,
        "seconds": round(report.seconds, 3),
        "images_per_second": round(report.images_per_second, 2),
    }
    if json_output:
        emit_json(data)
    elif not quiet:
        out.print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in data.items()), markup=False)


@app.command("build-index")
@friendly
def build_index(
    root: RootArg = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    index_kind: Annotated[str | None, typer.Option("--index", help="hnsw or flat.")] = None,
    hnsw_m: Annotated[int | None, typer.Option("--hnsw-m")] = None,
    ef_construction: Annotated[int | None, typer.Option()] = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild from scratch even if an update would do.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Step 3 (the seed's create_index): bring the FAISS index up to date."""
    overrides = model_overrides(model, pretrained, model_config, None, None) | {
        "db_path": db,
        "index_kind": index_kind,
        "hnsw_m": hnsw_m,
        "ef_construction": ef_construction,
    }
    with Library.open(root, **overrides) as library:
        report = library.build_index(rebuild=rebuild)
    if json_output:
        emit_json(vars(report))
    else:
        how = "rebuilt" if report.rebuilt else f"added {report.added}"
        out.print(f"index holds {report.count} vectors ({how}, {report.stale} stale filtered)", markup=False)


def render(
    response: SearchResponse, library: Library, json_output: bool, paths: bool, preview: Path | None, show: bool
) -> None:
    """Print results as a table, JSON or paths, and draw the contact sheet if asked."""
    if not response.index_current:
        err.print(
            "imrec: note: the index is older than the catalog; results are complete (newer images are scored"
            " exactly), run 'imrec index' to make searches fast again",
            markup=False,
        )
    if json_output:
        emit_json(response.as_json())
    elif paths:
        for result in response.results:
            sys.stdout.write(f"{library.root / result.path}\n")
    else:
        table = Table("rank", "score", "id", "path", title=" ".join(response.query), title_justify="left")
        for result in response.results:
            table.add_row(str(result.rank), f"{result.score:.4f}", str(result.id), result.path)
        out.print(table)
        if not response.results:
            err.print("no matching images", markup=False)
    if preview is not None or show:
        from image_recommender.preview import contact_sheet

        queries = [(f"query: {p.name}", p) for p in response.query_paths]
        results = [(f"#{r.rank}  {r.score:.3f}\n{Path(r.path).name}", library.root / r.path) for r in response.results]
        contact_sheet(queries, results, preview, show)
        if preview is not None and not json_output and not paths:
            err.print(f"preview written to {preview}", markup=False)


ShowOpt = Annotated[bool, typer.Option("--show", help="Open the contact sheet in a window.")]
PreviewOpt = Annotated[Path | None, typer.Option("--preview", help="Write a contact sheet PNG here.")]
PathsOpt = Annotated[bool, typer.Option("--paths", help="Print one absolute path per line.")]
TopKOpt = Annotated[int | None, typer.Option("-k", "--top-k", help="Number of results (TOP_K) [default: 10].")]
UnderOpt = Annotated[str | None, typer.Option("--under", help="Only results inside this subfolder of the library.")]
MinScoreOpt = Annotated[float | None, typer.Option("--min-score", help="Only results with at least this score.")]


@app.command()
@friendly
def search(
    terms: Annotated[
        list[str] | None,
        typer.Argument(help="Image files or texts, optionally weighted as WEIGHT:TERM (e.g. 2:cat, -1:dog.jpg)."),
    ] = None,
    library_root: LibraryOpt = None,
    like: Annotated[list[str] | None, typer.Option("--like", help="An image file to find more like.")] = None,
    like_id: Annotated[list[str] | None, typer.Option("--like-id", help="An indexed image id.")] = None,
    text: Annotated[list[str] | None, typer.Option("--text", help="A text describing what you want.")] = None,
    unlike: Annotated[list[str] | None, typer.Option("--unlike", help="An image file or id to move away from.")] = None,
    not_text: Annotated[list[str] | None, typer.Option("--not-text", help="A text to move away from.")] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    min_score: MinScoreOpt = None,
    include_query: Annotated[bool, typer.Option(help="Keep the query images (and their copies) in results.")] = False,
    ef_search: EfSearchOpt = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    json_output: JsonOpt = False,
    paths: PathsOpt = False,
    preview: PreviewOpt = None,
    show: ShowOpt = False,
) -> None:
    """Step 4 (the seed's search_from_image): images like files, ids and texts, unlike others."""
    parsed = [parse_term(term) for term in terms or []]
    parsed += [parse_term(item, kind="file") for item in like or []]
    parsed += [parse_term(item, kind="id") for item in like_id or []]
    parsed += [parse_term(item, kind="text") for item in text or []]
    parsed += [parse_file_or_id(item, negative=True) for item in unlike or []]
    parsed += [parse_term(item, negative=True, kind="text") for item in not_text or []]
    if not parsed:
        raise typer.BadParameter("give an image, --like-id, or --text to search for")
    overrides = model_overrides(model, pretrained, model_config, device, precision) | {
        "db_path": db,
        "top_k": top_k,
        "ef_search": ef_search,
    }
    with Library.open(library_root, **overrides) as library:
        response = library.search(parsed, under=under, min_score=min_score, include_query=include_query)
        render(response, library, json_output, paths, preview, show)


@app.command()
@friendly
def recommend(
    liked: Annotated[list[str], typer.Argument(help="Image files or ids you like.")],
    library_root: LibraryOpt = None,
    unlike: Annotated[list[str] | None, typer.Option("--unlike", help="Image files or ids you dislike.")] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    min_score: MinScoreOpt = None,
    ef_search: EfSearchOpt = None,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    json_output: JsonOpt = False,
    paths: PathsOpt = False,
    preview: PreviewOpt = None,
    show: ShowOpt = False,
) -> None:
    """More like these, less like those: the liked images themselves are never returned."""
    overrides = model_overrides(model, pretrained, model_config, device, precision) | {
        "db_path": db,
        "top_k": top_k,
        "ef_search": ef_search,
    }
    with Library.open(library_root, **overrides) as library:
        response = library.recommend(liked, unlike or [], under=under, min_score=min_score)
        render(response, library, json_output, paths, preview, show)


@app.command()
@friendly
def duplicates(
    root: RootArg = None,
    threshold: Annotated[float, typer.Option(help="Cosine similarity for near duplicates.")] = 0.95,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Exact copies (same bytes) and near duplicates (cosine >= threshold), with a keeper each."""
    overrides = model_overrides(model, pretrained, model_config, None, None) | {"db_path": db}
    with Library.open(root, **overrides) as library:
        groups = library.duplicates(threshold)
    if json_output:
        emit_json({"threshold": threshold, "groups": [group.as_json() for group in groups]})
        return
    if not groups:
        out.print("no duplicates found", markup=False)
    for number, group in enumerate(groups, 1):
        out.print(f"group {number} ({group.kind}, similarity >= {group.score:.3f}):", markup=False)
        for image in group.images:
            mark = "keep" if image.id == group.keeper.id else "    "
            out.print(f"  {mark} {image.path} ({image.width}x{image.height})", markup=False)


@app.command()
@friendly
def status(
    root: RootArg = None,
    db: DbOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Also verify the catalog file (SQLite integrity check).")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Counts per state, models, index freshness, and every failed file with its reason."""
    with Library.open(root, db_path=db) as library:
        report = library.status(check)
    if json_output:
        emit_json(report.as_json())
        return
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
        out.print(f"catalog integrity: {report.integrity}", markup=False)
        if report.integrity != "ok":
            raise typer.Exit(1)


@app.command("watch")
@friendly
def watch_command(
    root: RootArg = None,
    debounce: Annotated[float, typer.Option(help="Seconds of quiet before an update runs.")] = 2.0,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON summary per line per update.")] = False,
) -> None:
    """Keep ROOT's catalog and index current as files appear, change or vanish (Ctrl-C stops)."""
    from image_recommender.watch import watch

    def report(summary: UpdateSummary) -> None:
        if json_output:
            sys.stdout.write(json.dumps(summary.as_json()) + "\n")
            sys.stdout.flush()
        else:
            out.print(summary.line(), markup=False)

    def complain(problem: ImrecError) -> None:
        err.print(f"imrec: error: {problem}; still watching", markup=False)

    overrides = model_overrides(model, pretrained, model_config, device, precision) | {"db_path": db}
    with Library.open(root, create=True, **overrides) as library:
        if not json_output:
            err.print(f"watching {library.root} (Ctrl-C stops)", markup=False)
        try:
            watch(library, debounce, report, complain)
        except KeyboardInterrupt:
            err.print("imrec: stopped watching", markup=False)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
@friendly
def serve(
    root: RootArg = None,
    host: Annotated[str, typer.Option(help="Address to listen on; only this machine by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    db: DbOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    model_config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Browse, search and refine ROOT in a local web page (JSON API and docs at /docs)."""
    import uvicorn

    from image_recommender.web.app import create_app

    if not 0 < port < 65536:
        raise typer.BadParameter(f"{port} is not a port number", param_hint="--port")
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise LibraryError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port") from None
    if host not in LOOPBACK:
        err.print(f"imrec: warning: listening on {host}: anyone who can reach it can browse this library", markup=False)
    overrides = model_overrides(model, pretrained, model_config, device, precision) | {"db_path": db}
    with Library.open(root, **overrides) as library:
        try:
            library.warm_up()
        except ImrecError as exc:
            err.print(f"imrec: warning: {exc}; text and new-image queries will fail until this is fixed", markup=False)
        err.print(f"serving {library.root} on http://{host}:{port}/ (Ctrl-C stops)", markup=False)
        uvicorn.run(create_app(library), host=host, port=port, log_level="warning")


@app.command()
@friendly
def models() -> None:
    """List the OpenCLIP architectures and pretrained tags that can be used."""
    from image_recommender.models import available_models

    for name, tag in available_models():
        out.print(f"{name}\t{tag}", markup=False)


def main() -> None:
    app()

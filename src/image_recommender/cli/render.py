"""What the commands print: progress, tables with the path whole, JSON, paths, contact sheets,
placed and opened results.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_recommender.cli.app import err, out
from image_recommender.errors import ECHO_LIMIT, LibraryError, SettingsError
from image_recommender.library import Library, SearchResponse
from image_recommender.search import SearchResult

if TYPE_CHECKING:
    from PIL import Image
    from rich.progress import Progress, TaskID


@contextmanager
def embed_progress(enabled: bool, label: str = "embedding") -> Iterator[Callable[[int, int, int], None] | None]:
    """A rich bar with images/s, ETA and failures, only on a terminal, shown from the first image on
    (a model that cannot load fails before any bar appears). rich's progress module is imported
    here: a search never draws a bar, and importing it cost every cold search 7 ms."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn(label),
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
                shown.append((bar, bar.add_task(label, total=None, failed=0, rate="")))
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
    if response.understood is not None and response.understood.anything:
        err.print(f"imrec: {response.understood.describe()}", markup=False)
    if response.undated_left_out:
        err.print(
            f"imrec: note: the date filter left out {response.undated_left_out} picture(s) dated only by the"
            " file's time; --include-undated keeps them",
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
        results = [
            (
                f"#{r.rank}  {r.score:.3f}{'  ' + short_place(r) if r.place else ''}\n{short_path(r.path)}"
                + ("" if r.timestamp is None else f" @ {moment(r.timestamp)}"),
                library.root / r.path if r.timestamp is None else _video_still(library, r.path, r.timestamp),
            )
            for r in response.results
        ]
        highlights = [snippet(r.text_match, 28) for r in response.results]
        contact_sheet(
            queries, results, preview, show, title="query: " + " ".join(response.query), highlights=highlights
        )
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
    worded = any(result.text_match for result in response.results)
    marked = worded and any(not result.text_match for result in response.results)
    placed = any(result.place for result in response.results)
    header = [
        "rank", "score", "id", *(["taken"] if dated else []), *(["place"] if placed else []),
        *(["words"] if worded else []), "path",
    ]  # fmt: skip
    rows = [
        [
            str(r.rank),
            f"{r.score:.4f}" + ("*" if r.text_match and marked else ""),
            str(r.id),
            *([shown_date(r)] if dated else []),
            *([short_place(r)] if placed else []),
            *([snippet(r.text_match)] if worded else []),
            _with_copies(r),
        ]
        for r in response.results
    ]
    asked = " ".join(response.query)
    if len(asked) > ECHO_LIMIT:
        asked = f"{asked[:ECHO_LIMIT]}... ({len(asked) - ECHO_LIMIT:,} more characters)"
    out.print(f"query: {asked}", markup=False, highlight=False, soft_wrap=True)
    if not response.results:
        err.print("no matching images", markup=False)
        return
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [
            cell.rjust(width) if column < 3 else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        out.print("  ".join([*cells, row[-1]]), markup=False, highlight=False, soft_wrap=True)
    if marked:
        err.print("*: a word match, ranked before CLIP's own results by the words read in it", markup=False)
    if any(r.taken_from == "mtime" for r in response.results):
        err.print("~: the file's date (the photo has no EXIF date taken)", markup=False)


def short_place(result: SearchResult) -> str:
    """ "Westerland, Germany", "St. Pauli, Hamburg": the town and its city or country."""
    return result.place_short or result.place or ""


def snippet(lines: tuple[str, ...], width: int = 40) -> str:
    """The matched line(s) on one line, cut to ``width`` characters with an ellipsis."""
    if not lines:
        return ""
    joined = " / ".join(lines)
    return f"“{joined if len(joined) <= width else joined[: width - 1] + '…'}”"


def _video_still(library: Library, path: str, seconds: float) -> Path | Image.Image:
    """A video result's frame at its moment, for the contact sheet (the path: drawn "unreadable")."""
    from image_recommender.errors import ImageDecodeError
    from image_recommender.video.sampling import frame_at

    try:
        return frame_at(library.root / path, library.root, seconds, long_side=512)
    except ImageDecodeError:
        return library.root / path


def moment(seconds: float) -> str:
    """ "1:23" (or "1:02:03"): a time in a video as players show it."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _with_copies(result: SearchResult) -> str:
    path = result.path if result.timestamp is None else f"{result.path} @ {moment(result.timestamp)}"
    if not result.copies:
        return path
    return f"{path} (+{len(result.copies)} {'copy' if len(result.copies) == 1 else 'copies'})"


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

"""Commands that search: search and recommend."""

from __future__ import annotations

from typing import Annotated

import typer

from image_recommender.cli.app import PlainArguments, app, err, friendly
from image_recommender.cli.options import (
    AfterOpt,
    AllCopiesOpt,
    BeforeOpt,
    CameraOpt,
    CopyToOpt,
    DbOpt,
    DeviceOpt,
    EfSearchOpt,
    EngineOpt,
    IncludeUndatedOpt,
    JsonOpt,
    KindOpt,
    LikeIdOpt,
    LikeOpt,
    LinkToOpt,
    MinScoreOpt,
    NearOpt,
    NotTextOpt,
    OpenOpt,
    Paths0Opt,
    PathsOpt,
    PersonOpt,
    PlaceOpt,
    PrecisionOpt,
    PreviewOpt,
    RadiusOpt,
    SearchLibraryOpt,
    ShowOpt,
    SortOpt,
    TakenOnOpt,
    TermsArg,
    TextModelOpt,
    TextOpt,
    ThemeOpt,
    TopKOpt,
    UnderOpt,
    UnlikeOpt,
    model_options,
    open_library,
    result_filters,
)
from image_recommender.cli.render import ResultOutputs, render
from image_recommender.search import Term, parse_file_or_id, parse_term


def query_terms(
    terms: list[str] | None,
    like: list[str] | None,
    like_id: list[str] | None,
    text: list[str] | None,
    unlike: list[str] | None,
    not_text: list[str] | None,
) -> list[Term]:
    """The terms a command's arguments and flags give, in the order search and album save take them."""
    parsed = [parse_term(term) for term in terms or []]
    parsed += [parse_term(item, kind="file") for item in like or []]
    parsed += [parse_term(item, kind="id") for item in like_id or []]
    parsed += [parse_term(item, kind="text") for item in text or []]
    parsed += [parse_file_or_id(item, negative=True) for item in unlike or []]
    parsed += [parse_term(item, negative=True, kind="text") for item in not_text or []]
    return parsed


@app.command(cls=PlainArguments)
@friendly
@model_options
def search(
    ctx: typer.Context,
    terms: TermsArg = None,
    library: SearchLibraryOpt = None,
    like: LikeOpt = None,
    like_id: LikeIdOpt = None,
    text: TextOpt = None,
    unlike: UnlikeOpt = None,
    not_text: NotTextOpt = None,
    words: Annotated[
        str | None,
        typer.Option(
            "--words",
            metavar="TEXT",
            help="Only pictures whose text (read by 'imrec index') holds these words; no model is loaded.",
        ),
    ] = None,
    no_words: Annotated[
        bool, typer.Option("--no-words", help="Rank a text query by CLIP alone, not by the words read in pictures.")
    ] = False,
    literal: Annotated[
        bool,
        typer.Option(
            "--literal",
            help="Take a text query word for word: no dates ('Juli 2019'), places ('in Lisbon') or 'nicht X' read from it.",
        ),
    ] = False,
    crop: Annotated[
        str | None,
        typer.Option(
            "--crop",
            metavar="X,Y,W,H",
            help="Search by a region of the query image: pixels of the upright image, or fractions 0-1 (0.5,0,0.5,1"
            " is the right half).",
        ),
    ] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    theme: ThemeOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    taken_on: TakenOnOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    place: PlaceOpt = None,
    person: PersonOpt = None,
    kind: KindOpt = None,
    include_undated: IncludeUndatedOpt = False,
    radius: RadiusOpt = None,
    sort: SortOpt = "score",
    min_score: MinScoreOpt = None,
    all_copies: AllCopiesOpt = False,
    include_query: Annotated[
        bool, typer.Option("--include-query", help="Keep the query images (and exact copies of them) in the results.")
    ] = False,
    ef_search: EfSearchOpt = None,
    db_path: DbOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    text_model: TextModelOpt = None,
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
    parsed = query_terms(terms, like, like_id, text, unlike, not_text)
    if words is not None and (parsed or no_words):
        raise typer.BadParameter("--words searches the text in pictures alone: give it without other terms")
    if not parsed and words is None:
        raise typer.BadParameter("give an image, --like-id, --text or --words to search for")
    if crop is not None and like_id and not json_output:
        err.print("imrec: note: the region is embedded from the image's file, so the model loads", markup=False)
    with open_library(library, ctx) as opened:
        response = opened.search(
            parsed,
            include_query=include_query,
            words=words,
            use_words=not no_words,
            crop=crop,
            literal=literal,
            **result_filters(ctx),
        )
        render(response, opened, outputs)


@app.command(cls=PlainArguments)
@friendly
@model_options
def recommend(
    ctx: typer.Context,
    liked: Annotated[
        list[str], typer.Argument(metavar="LIKED", help="Image files or ids you like (WEIGHT:TERM weights one).")
    ],
    library: SearchLibraryOpt = None,
    unlike: Annotated[
        list[str] | None, typer.Option("--unlike", metavar="FILE|ID", help="An image file or id you dislike.")
    ] = None,
    top_k: TopKOpt = None,
    under: UnderOpt = None,
    theme: ThemeOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    taken_on: TakenOnOpt = None,
    camera: CameraOpt = None,
    near: NearOpt = None,
    place: PlaceOpt = None,
    person: PersonOpt = None,
    kind: KindOpt = None,
    include_undated: IncludeUndatedOpt = False,
    radius: RadiusOpt = None,
    sort: SortOpt = "score",
    min_score: MinScoreOpt = None,
    all_copies: AllCopiesOpt = False,
    ef_search: EfSearchOpt = None,
    db_path: DbOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    precision: PrecisionOpt = None,
    text_model: TextModelOpt = None,
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
    with open_library(library, ctx) as opened:
        response = opened.recommend(liked, unlike or [], **result_filters(ctx))
        render(response, opened, outputs)

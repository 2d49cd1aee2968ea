"""The local web app and JSON API: the same ``Library`` as the CLI, kept open and warm.

Images are only ever served by catalogue id, after checking at serve time that the file is
a regular file that still resolves inside the library root and really is an image; it goes
out with its image content type only. Requests must name a host this server serves, so a
page elsewhere that rebinds its name to 127.0.0.1 cannot read the library. Uploaded query
images live in a temporary file for the length of one request and are never written into
the library.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from image_recommender.catalog.rows import ImageRow, ThemeRow
from image_recommender.errors import (
    ImageDecodeError,
    ImrecError,
    QueryError,
)
from image_recommender.images.decode import load_image, open_regular_file
from image_recommender.images.media import is_video
from image_recommender.library import Library, SearchResponse
from image_recommender.paths import is_inside
from image_recommender.search import MAX_IMAGE_ID, Term, parse_crop
from image_recommender.video.sampling import frame_at
from image_recommender.web.files import (
    Budget,
    ascii_name,
    byte_range,
    chunks,
    file_span,
    image_type,
    video_type,
    zipped,
)
from image_recommender.web.safety import SAFE_METHODS, BodyLimit, allowed_hosts, api_words, host_of, same_origin

STATIC = Path(__file__).parent / "static"


MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Any request body: an upload and its multipart framing.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + (1 << 20)


# One zip download: at most this many images and bytes (spooled to a temporary file).
MAX_ZIP_FILES = 500


MAX_ZIP_BYTES = 4 << 30


# All zips being prepared at once, together (each is spooled to the temporary folder).
MAX_SPOOLED_BYTES = 8 << 30


# 2048: the viewer's picture of what a browser cannot show itself (RAW, HEIC, TIFF).
THUMB_SIZES = (128, 256, 512, 2048)
# Pictures a theme card shows.
THEME_REPRESENTATIVES = 4


CACHE_SECONDS = 7 * 24 * 3600


# Thumbnails decode whole pictures (a 144 MP PNG holds ~430 MB of pixels): two at a time.
THUMB_DECODES_AT_ONCE = 2


ImageId = Annotated[int, PathParam(ge=1, le=MAX_IMAGE_ID, description="an image's catalogue id")]


ListedId = Annotated[int, Field(ge=1, le=MAX_IMAGE_ID)]


FilterText = Annotated[str | None, Field(max_length=100)]


class PhotoFilters(BaseModel):
    """What the CLI's --after/--before/--taken-on/--camera/--place/--near/--radius/--sort/--min-score do."""

    after: FilterText = None
    before: FilterText = None
    taken_on: FilterText = None
    camera: FilterText = None
    near: FilterText = None
    radius: FilterText = None
    sort: Literal["score", "date"] = "score"
    min_score: float | None = Field(default=None, ge=-1, le=1)
    all_copies: bool = False
    theme: FilterText = None
    place: FilterText = None
    person: FilterText = None
    kind: Literal["image", "video"] | None = None
    # What of a text query stays words (the page's removed chips, or all three: "word for word").
    literal: list[Literal["date", "place", "negative", "person"]] = []


class PersonName(BaseModel):
    """A person's name from the user; null or "" leaves the person unnamed."""

    name: str | None = Field(default=None, max_length=100)


class MergeRequest(BaseModel):
    """Two people to make one: ``merged``'s faces join ``kept``."""

    kept: ListedId
    merged: ListedId


class ThemeName(BaseModel):
    """A theme's own name from the user; null or "" gives it back its computed one."""

    name: str | None = Field(default=None, max_length=100)


class ResolveRequest(BaseModel):
    """One duplicate group as the page shows it, and the image to keep."""

    image_ids: list[ListedId] = Field(min_length=2, max_length=1000)
    keeper_id: ListedId
    threshold: float = Field(default=0.95, gt=0, le=1)


class RecommendRequest(PhotoFilters):
    """Liked and disliked image ids: "more like these, less like those"."""

    liked: list[ListedId] = Field(min_length=1, max_length=500)
    disliked: list[ListedId] = Field(default=[], max_length=500)
    k: int | None = Field(default=None, ge=1, le=500)


def _image_json(image: ImageRow) -> dict[str, Any]:
    return {
        "id": image.id,
        "path": image.path,
        "width": image.width,
        "height": image.height,
        "size": image.size,
        "state": image.state,
        "error": image.error,
        "thumb": f"/api/images/{image.id}/thumb",
        "file": f"/api/images/{image.id}/file",
        "kind": "video" if is_video(image.path) else "image",
        "duration": image.duration,
    }


def _results_json(response: SearchResponse) -> dict[str, Any]:
    data = response.as_json()
    for result in data["results"]:
        moment = f"?t={result['timestamp']}" if result.get("timestamp") is not None else ""
        result["thumb"] = f"/api/images/{result['id']}/thumb{moment}"
        result["file"] = f"/api/images/{result['id']}/file"
    return data


def _upload_name(raw: str | None) -> str:
    """The uploaded file's name as shown back: no folders, no control characters, bounded."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", os.path.basename((raw or "").replace("\\", "/")))[:120]
    return name or "upload"


def create_app(library: Library, served_host: str = "127.0.0.1") -> FastAPI:
    """Build the app around an open library; one lock serialises its SQLite connection."""
    app = FastAPI(title="imrec", description="Image similarity search over a local library.", version="1")
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    lock = threading.Lock()
    thumb_decodes = threading.BoundedSemaphore(THUMB_DECODES_AT_ONCE)
    thumbs = library.settings.state_dir / "thumbs"
    hosts = allowed_hosts(served_host, library.settings.allowed_hosts)
    spooled = Budget(MAX_SPOOLED_BYTES)

    @app.middleware("http")
    async def known_hosts_only(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Refuse requests for other host names (DNS rebinding): the page is this server's alone."""
        if host_of(request.headers.get("host", "")) not in hosts:
            return JSONResponse({"detail": "unknown host name; see imrec serve --allowed-hosts"}, status_code=421)
        return await call_next(request)

    @app.middleware("http")
    async def same_origin_changes_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Refuse a state-changing request that a page of another origin sent (a form posted
        from elsewhere could otherwise move the user's files): its ``Sec-Fetch-Site`` or
        ``Origin`` must say this server. Clients that send neither (curl, scripts) are no browser
        acting for another site and pass."""
        if request.method not in SAFE_METHODS and not same_origin(request.headers):
            return JSONResponse({"detail": "refused: the request came from another site's page"}, status_code=403)
        return await call_next(request)

    @contextlib.contextmanager
    def using() -> Iterator[Library]:
        with lock:
            yield library

    @app.exception_handler(ImrecError)
    def user_error(_: Request, exc: ImrecError) -> JSONResponse:
        return JSONResponse({"detail": api_words(str(exc))}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each wrong field, without echoing its value: FastAPI's own answer echoed
        ``1e400`` or ``NaN`` back, which JSON cannot carry, and so became a 500."""
        problems = [
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": problems}, status_code=422)

    def catalogued(image_id: int) -> tuple[ImageRow, Path]:
        """The image and its file, if the file still resolves inside the library."""
        with using() as lib:
            image = lib.image(image_id)
        if image is None or image.state not in ("ok", "pending"):
            raise HTTPException(404, f"no image with id {image_id}")
        location = image.location(library.root)
        if not is_inside(location, library.root):
            raise HTTPException(403, f"image {image_id} does not resolve inside the library")
        return image, Path(os.path.realpath(location))

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> HTMLResponse:
        """The page, in the browser's language (its switch can choose the other)."""
        language = page_language(request.headers.get("accept-language", ""))
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        html = html.replace('<html lang="en">', f'<html lang="{language}">', 1)
        return HTMLResponse(html, headers={"Cache-Control": "no-cache", "Vary": "Accept-Language"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        with using() as lib:
            return lib.status().as_json()

    @app.get("/api/search")
    def search_get(
        text: Annotated[list[str], Query(max_length=1000)] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
        like_id: Annotated[list[ListedId], Query()] = [],  # noqa: B006
        unlike_id: Annotated[list[ListedId], Query()] = [],  # noqa: B006
        not_text: Annotated[list[str], Query(max_length=1000)] = [],  # noqa: B006
        k: Annotated[int | None, Query(ge=1, le=500)] = None,
        under: Annotated[str | None, Query(max_length=4096)] = None,
        words: Annotated[str | None, Query(max_length=1000)] = None,
        no_words: bool = False,
        crop: Annotated[str | None, Query(max_length=100)] = None,
        at: Annotated[float | None, Query(ge=0, le=1e7, description="the first like_id's moment, for a video")] = None,
        filters: Annotated[PhotoFilters, Query()] = PhotoFilters(),  # noqa: B008 - FastAPI reads the default
    ) -> dict[str, Any]:
        """Search by texts and indexed image ids (with negatives), within the photo filters; a text
        also asks the words read in pictures unless ``no_words``; ``words`` asks those alone;
        ``crop`` ("X,Y,W,H", pixels or fractions) searches by a region of the first liked image."""
        region = parse_crop(crop) if crop is not None else None
        if region is not None and not like_id:
            raise HTTPException(400, "crop needs like_id: the image to cut the region from")
        liked = [
            Term("id", str(i), crop=region if number == 0 else None, at=at if number == 0 else None)
            for number, i in enumerate(like_id)
        ]
        terms = [Term("text", t) for t in text] + liked
        terms += [Term("id", str(i), negative=True) for i in unlike_id]
        terms += [Term("text", t, negative=True) for t in not_text]
        if words is not None and terms:
            raise HTTPException(400, "words searches the text in pictures alone: give it without text or like_id")
        with using() as lib:
            response = lib.search(terms, k=k, under=under, words=words, use_words=not no_words, **filters.model_dump())
            return _results_json(response)

    @app.post("/api/search")
    def search_upload(
        image: Annotated[UploadFile, File(description=f"a query image, at most {MAX_UPLOAD_BYTES // 2**20} MB")],
        text: Annotated[str | None, Form(max_length=1000)] = None,
        like_id: Annotated[list[ListedId], Form()] = [],  # noqa: B006
        unlike_id: Annotated[list[ListedId], Form()] = [],  # noqa: B006
        k: Annotated[int | None, Form(ge=1, le=500)] = None,
        crop: Annotated[str | None, Form(max_length=100)] = None,
        filters: Annotated[PhotoFilters, Form()] = PhotoFilters(),  # noqa: B008 - FastAPI reads the default
    ) -> dict[str, Any]:
        """Search by an uploaded image, or a region of it (``crop``), plus an optional text, liked
        and disliked ids; never stored."""
        data = image.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        if not data:
            raise HTTPException(400, "the uploaded file is empty")
        name = _upload_name(image.filename)
        suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(name).suffix)[:10]
        with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
            handle.write(data)
            handle.flush()
            region = parse_crop(crop) if crop is not None else None
            terms = [Term("file", handle.name, crop=region)] + ([Term("text", text)] if text else [])
            terms += [Term("id", str(i)) for i in like_id] + [Term("id", str(i), negative=True) for i in unlike_id]
            try:
                with using() as lib:
                    response = lib.search(terms, k=k, **filters.model_dump())
            except QueryError as exc:
                raise HTTPException(400, api_words(str(exc).replace(handle.name, name))) from None
        response.query[0] = response.query[0].replace(handle.name, name)
        return _results_json(response)

    @app.post("/api/recommend")
    def recommend(request: RecommendRequest) -> dict[str, Any]:
        """More like the liked ids, less like the disliked ones; inputs never returned."""
        with using() as lib:
            filters = request.model_dump(include=set(PhotoFilters.model_fields))
            return _results_json(lib.recommend(request.liked, request.disliked, k=request.k, **filters))

    @app.get("/api/albums")
    def albums() -> dict[str, Any]:
        """The smart albums: name, query, mirror folder."""
        with using() as lib:
            kept = [(album, lib.album_query(album.name)) for album in lib.albums()]
        return {
            "albums": [
                {"name": album.name, "query": query, "mirror": album.mirror, "mode": album.mode}
                for album, query in kept
            ]
        }

    @app.get("/api/albums/{name}")
    def album(name: Annotated[str, PathParam(max_length=100)]) -> dict[str, Any]:
        """An album's query, run now."""
        with using() as lib:
            return _results_json(lib.album_results(name)) | {"album": name}

    def theme_json(lib: Library, theme: ThemeRow) -> dict[str, Any]:
        shown = lib.theme_images(theme, THEME_REPRESENTATIVES)
        return {
            "id": theme.id, "name": theme.name, "name_de": theme.name_de, "name_en": theme.name_en,
            "user_name": theme.user_name, "named": theme.name_de is not None, "confidence": round(theme.confidence, 3),
            "size": theme.size, "representatives": [_image_json(image) for image, _ in shown],
        }  # fmt: skip

    @app.get("/api/places")
    def places() -> dict[str, Any]:
        """Where the photos were taken, most photos first, as ``imrec places --json`` lists them."""
        with using() as lib:
            listed = lib.places()
        return {"places": [row.as_json() for row in listed]}

    @app.get("/api/people")
    def people(include_hidden: bool = False) -> dict[str, Any]:
        """The people the faces were grouped into, most faces first, as ``imrec people --json``."""
        with using() as lib:
            return {"people": [person.as_json() for person in lib.people(include_hidden)]}

    @app.get("/api/people/{person_id}")
    def person(person_id: ImageId) -> dict[str, Any]:
        """One person with each face: its box (fractions of the picture) and the picture's id."""
        with using() as lib:
            found = lib.person(person_id)
            faces = [
                {"id": face.id, "box": list(face.box), "side": face.side, "path": path, "seconds": face.seconds}
                for face, path in lib.person_faces(found.id)
            ]
        return found.as_json() | {"face_list": faces}

    @app.get("/api/people/{person_id}/images")
    def person_images(
        person_id: ImageId, k: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0)] = 0
    ) -> dict[str, Any]:
        """The pictures showing one person, newest first, as search results."""
        with using() as lib:
            found = lib.person(person_id)
            shown = lib.person_images(found.id, k, offset)
        results = [
            _image_json(image) | {"rank": offset + rank, "score": 1.0, "taken_at": image.taken_at,
                                  "taken_from": image.taken_from, "camera": image.camera}
            for rank, image in enumerate(shown, start=1)
        ]  # fmt: skip
        return {"person": found.as_json(), "model": "people", "results": results}

    @app.get("/api/faces/{face_id}/crop")
    def face_crop(face_id: ImageId) -> Response:
        """A 128-px JPEG of one face with a margin around it, cut from its picture (cached)."""
        with using() as lib:
            face = lib.catalog.face(face_id)
            path = lib.catalog.path_of_content(face.fingerprint) if face is not None else None
            image = lib.catalog.image_by_path(path) if path is not None else None
        if face is None or image is None:
            raise HTTPException(404, f"no face with id {face_id}")
        _, located = catalogued(image.id)
        cached = thumbs / f"face-{face.id}-{image.fingerprint}.jpg"
        if not cached.exists():
            try:
                with thumb_decodes:
                    if face.seconds is not None:  # a face in a video: cut from its frame
                        picture = frame_at(located, library.root, face.seconds, 512)
                    else:
                        picture = load_image(located, 512, root=library.root)
            except ImageDecodeError as exc:
                raise HTTPException(422, f"{image.path}: {exc}") from None
            left, top, right, bottom = face.box
            margin = 0.25 * max(right - left, bottom - top)
            box = (max(0.0, left - margin), max(0.0, top - margin), min(1.0, right + margin), min(1.0, bottom + margin))
            width, height = picture.size
            crop = picture.crop(
                (round(box[0] * width), round(box[1] * height), round(box[2] * width), round(box[3] * height))
            )
            crop.thumbnail((128, 128))
            thumbs.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            crop.convert("RGB").save(partial, "JPEG", quality=85)
            os.replace(partial, cached)
        headers = {"Cache-Control": f"private, max-age={CACHE_SECONDS}", "X-Content-Type-Options": "nosniff"}
        return FileResponse(cached, media_type="image/jpeg", headers=headers)

    @app.post("/api/people/{person_id}/name")
    def name_person(person_id: ImageId, request: PersonName) -> dict[str, Any]:
        """Name a person (kept across regroupings); null or "" leaves it unnamed."""
        with using() as lib:
            return lib.name_person(person_id, request.name).as_json()

    @app.post("/api/people/merge")
    def merge_people(request: MergeRequest) -> dict[str, Any]:
        with using() as lib:
            return lib.merge_people(request.kept, request.merged).as_json()

    @app.get("/api/themes")
    def themes() -> dict[str, Any]:
        """The library's themes (computed first when there are none, or the library grew by a tenth)."""
        with using() as lib:
            return {"themes": [theme_json(lib, theme) for theme in lib.themes()]}

    @app.get("/api/themes/{theme_id}/images")
    def theme_images(
        theme_id: ImageId,
        k: Annotated[int, Query(ge=1, le=500)] = 48,
        offset: Annotated[int, Query(ge=0, le=MAX_IMAGE_ID)] = 0,
    ) -> dict[str, Any]:
        """A theme's pictures, closest to its centre first (score: closeness)."""
        with using() as lib:
            theme = lib.theme(str(theme_id))
            shown = lib.theme_images(theme, k, offset)
        results = [
            _image_json(image) | {"rank": offset + rank, "score": round(closeness, 6), "taken_at": image.taken_at,
                                  "taken_from": image.taken_from, "camera": image.camera, "theme": theme.name}
            for rank, (image, closeness) in enumerate(shown, start=1)
        ]  # fmt: skip
        return {
            "theme": {"id": theme.id, "name": theme.name, "size": theme.size},
            "model": "themes",
            "results": results,
        }

    @app.post("/api/themes/{theme_id}/name")
    def rename_theme(theme_id: ImageId, request: ThemeName) -> dict[str, Any]:
        """Give a theme the user's own name; it is kept when the themes are computed again."""
        with using() as lib:
            return theme_json(lib, lib.rename_theme(str(theme_id), request.name))

    @app.get("/api/images")
    def browse(
        offset: Annotated[int, Query(ge=0, le=MAX_IMAGE_ID)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 48
    ) -> dict[str, Any]:
        """The library's readable images by path, a page at a time."""
        with using() as lib:
            images = lib.catalog.images("ok", limit, offset)
            total = lib.catalog.state_counts()["ok"]
        return {"offset": offset, "total": total, "images": [_image_json(image) for image in images]}

    @app.get("/api/images/{image_id}")
    def image_info(image_id: ImageId) -> dict[str, Any]:
        with using() as lib:
            image = lib.image(image_id)
            lines = lib.catalog.text_of(image.fingerprint) if image is not None else None
            faces = lib.catalog.faces_of(image.fingerprint) if image is not None else []
        if image is None:
            raise HTTPException(404, f"no image with id {image_id}")
        return _image_json(image) | {
            "text": [line.as_json() for line in lines] if lines is not None else None,
            "faces": [{"id": face.id, "box": list(face.box), "person": face.person_id, "name": name}
                      for face, name in faces],
        }  # fmt: skip

    def opened_image(image: ImageRow, path: Path) -> tuple[BinaryIO, os.stat_result, str]:
        """The file opened once and checked on that handle: a regular file inside the library whose
        header names an image format; else the request fails with 404 (gone) or 403 (not an image)."""
        try:
            handle, info = open_regular_file(path, library.root)
        except OSError:
            raise HTTPException(404, f"image {image.id}: the file cannot be opened") from None
        except ImageDecodeError:
            raise HTTPException(403, f"image {image.id}: {image.path} is no longer an image file") from None
        media_type = video_type(handle) if is_video(image.path) else image_type(handle)
        if media_type is None:
            handle.close()
            raise HTTPException(403, f"image {image.id}: {image.path} is no longer an image file")
        return handle, info, media_type

    @app.get("/api/images/{image_id}/file")
    def image_file(request: Request, image_id: ImageId) -> StreamingResponse:
        """The original file, opened once and checked on that open handle: a regular file holding an
        image or a video. A ``Range`` of bytes is answered with that part (206), so a player seeks."""
        image, path = catalogued(image_id)
        handle, info, media_type = opened_image(image, path)  # the response closes it
        headers = {
            "Cache-Control": f"private, max-age={CACHE_SECONDS}",
            "ETag": f'"{image.fingerprint}"',
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
        }
        wanted = request.headers.get("range")
        if wanted is None:
            headers["Content-Length"] = str(info.st_size)
            return StreamingResponse(chunks(handle), media_type=media_type, headers=headers)
        span = byte_range(wanted, info.st_size)
        if span is None:
            handle.close()
            raise HTTPException(416, f"range {wanted[:40]!r} is not within the file's {info.st_size} bytes")
        first, last = span
        headers["Content-Range"] = f"bytes {first}-{last}/{info.st_size}"
        headers["Content-Length"] = str(last - first + 1)
        return StreamingResponse(
            file_span(handle, first, last - first + 1), status_code=206, media_type=media_type, headers=headers
        )

    @app.get("/api/download")
    def download(id: Annotated[list[ListedId], Query(min_length=1, max_length=MAX_ZIP_FILES)]) -> StreamingResponse:
        """The chosen images as one zip, in the order given (001-name.jpg, ...), at most MAX_ZIP_BYTES.

        Every file is checked as ``/file`` checks it before the zip is started (so a missing or
        swapped file is a 404/403, too much a 413), and opened again and re-checked while it is
        copied; exactly the size checked is copied. All downloads in flight together spool at
        most ``MAX_SPOOLED_BYTES`` (a 503 asks to try again).
        """
        located = [catalogued(image_id) for image_id in dict.fromkeys(id)]
        checked: list[tuple[ImageRow, Path, os.stat_result]] = []
        total = 0
        for image, path in located:
            handle, info, _ = opened_image(image, path)
            handle.close()
            total += info.st_size
            if total > MAX_ZIP_BYTES:
                raise HTTPException(413, f"the chosen images hold more than {MAX_ZIP_BYTES >> 30} GB; choose fewer")
            checked.append((image, path, info))
        if not spooled.reserve(total):
            raise HTTPException(503, "other downloads are being prepared; try again in a moment")
        try:
            archive = zipped(checked, opened_image)
        except BaseException:
            spooled.release(total)
            raise
        size = archive.tell()
        archive.seek(0)
        headers = {
            "Content-Disposition": f'attachment; filename="{ascii_name(library.root.name)}-{len(located)}.zip"',
            "Content-Length": str(size),
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(
            chunks(archive, done=lambda: spooled.release(total)), media_type="application/zip", headers=headers
        )

    @app.get("/api/images/{image_id}/thumb")
    def image_thumb(
        request: Request,
        image_id: ImageId,
        size: int = 256,
        t: Annotated[float | None, Query(ge=0, le=1e7, description="a video's moment, in seconds")] = None,
    ) -> Response:
        """A JPEG of the picture (or of a video's frame at ``t`` seconds, default its start), cached."""
        if size not in THUMB_SIZES:
            raise HTTPException(400, f"size must be one of {', '.join(map(str, THUMB_SIZES))}")
        image, path = catalogued(image_id)
        moment = round(t or 0.0, 3) if is_video(image.path) else None
        key = f"{image.fingerprint}:{image.size}:{image.mtime_ns}:{moment}"
        tag = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        headers = {
            "Cache-Control": f"private, max-age={CACHE_SECONDS}",
            "ETag": f'"{tag}-{size}"',
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        cached = thumbs / f"{image.id}-{tag}-{size}.jpg"
        if not cached.exists():
            try:
                with thumb_decodes:
                    picture = (
                        load_image(path, size, root=library.root)
                        if moment is None
                        else frame_at(path, library.root, moment)
                    )
            except ImageDecodeError as exc:
                raise HTTPException(422, f"{image.path}: {exc}") from None
            picture.thumbnail((size, size))
            thumbs.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            picture.save(partial, "JPEG", quality=85)
            os.replace(partial, cached)
        return FileResponse(cached, media_type="image/jpeg", headers=headers)

    @app.get("/api/duplicates")
    def duplicates(threshold: Annotated[float, Query(gt=0, le=1)] = 0.95) -> dict[str, Any]:
        with using() as lib:
            groups = lib.duplicates(threshold)
            waiting = lib.not_embedded()
        return {
            "threshold": threshold,
            "not_embedded": waiting,
            "folder": str(library.settings.moved_duplicates_dir),
            "groups": [group.as_json() for group in groups],
        }

    @app.post("/api/duplicates/resolve")
    def resolve_duplicates(request: ResolveRequest) -> dict[str, Any]:
        """Keep one image of a group and move the others out of the library (undoable)."""
        with using() as lib:
            report = lib.resolve_group(request.image_ids, request.keeper_id, request.threshold)
        return {**report.as_json(), "folder": str(library.settings.moved_duplicates_dir)}

    @app.post("/api/duplicates/undo")
    def undo_duplicates() -> dict[str, Any]:
        """Put back what the last resolve moved."""
        with using() as lib:
            return lib.undo_last_move().as_json()

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


PAGE_LANGUAGES = ("en", "de")


def page_language(header: str) -> str:
    """The page's language from an Accept-Language header: the most wanted one the page speaks
    (``de-DE,de;q=0.9,en;q=0.8`` is German), English otherwise."""
    wanted = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in PAGE_LANGUAGES and quality > 0:
            wanted.append((-quality, position, primary))
    return min(wanted)[2] if wanted else "en"

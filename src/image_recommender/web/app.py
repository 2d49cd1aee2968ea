"""The local web app and JSON API: the same ``Library`` as the CLI, kept open and warm.

Images are only ever served by catalogue id, after checking that the file still resolves
inside the library root, so no request path can reach anything else on disk. Uploaded
query images live in a temporary file for the length of one request and are never
written into the library.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from image_recommender.catalog import ImageRow
from image_recommender.errors import ImageDecodeError, ImrecError, LibraryError, QueryError, UnknownImageError
from image_recommender.images import load_image
from image_recommender.library import Library, SearchResponse
from image_recommender.query import Term

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
THUMB_SIZES = (128, 256, 512)
CACHE_SECONDS = 7 * 24 * 3600


class RecommendRequest(BaseModel):
    """Liked and disliked image ids: "more like these, less like those"."""

    liked: list[int] = Field(min_length=1)
    disliked: list[int] = []
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
    }


def _results_json(response: SearchResponse) -> dict[str, Any]:
    data = response.as_json()
    for result in data["results"]:
        result["thumb"] = f"/api/images/{result['id']}/thumb"
        result["file"] = f"/api/images/{result['id']}/file"
    return data


def create_app(library: Library) -> FastAPI:
    """Build the app around an open library; one lock serialises its SQLite connection."""
    app = FastAPI(title="imrec", description="Image similarity search over a local library.", version="1")
    lock = threading.Lock()
    thumbs = library.settings.state_dir / "thumbs"
    real_root = os.path.realpath(library.root)

    @contextlib.contextmanager
    def using() -> Iterator[Library]:
        with lock:
            yield library

    @app.exception_handler(ImrecError)
    def user_error(_: Request, exc: ImrecError) -> JSONResponse:
        status = 404 if isinstance(exc, UnknownImageError) else 409 if isinstance(exc, LibraryError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    def served_file(image_id: int) -> tuple[ImageRow, Path]:
        with using() as lib:
            image = lib.image(image_id)
        if image is None or image.state not in ("ok", "pending"):
            raise HTTPException(404, f"no image with id {image_id}")
        location = image.location(library.root)
        real = os.path.realpath(location)
        if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
            raise HTTPException(403, f"image {image_id} does not resolve inside the library")
        return image, Path(real)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        with using() as lib:
            return lib.status().as_json()

    @app.get("/api/search")
    def search_get(
        text: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
        like_id: Annotated[list[int], Query()] = [],  # noqa: B006
        unlike_id: Annotated[list[int], Query()] = [],  # noqa: B006
        not_text: Annotated[list[str], Query()] = [],  # noqa: B006
        k: Annotated[int | None, Query(ge=1, le=500)] = None,
        under: str | None = None,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        """Search by texts and indexed image ids (with negatives)."""
        terms = [Term("text", t) for t in text] + [Term("id", str(i)) for i in like_id]
        terms += [Term("id", str(i), negative=True) for i in unlike_id]
        terms += [Term("text", t, negative=True) for t in not_text]
        with using() as lib:
            return _results_json(lib.search(terms, k=k, under=under, min_score=min_score))

    @app.post("/api/search")
    def search_upload(
        image: Annotated[UploadFile, File(description=f"a query image, at most {MAX_UPLOAD_BYTES // 2**20} MB")],
        text: Annotated[str | None, Form()] = None,
        k: Annotated[int | None, Form(ge=1, le=500)] = None,
    ) -> dict[str, Any]:
        """Search by an uploaded image (optionally plus a text); the upload is never stored."""
        data = image.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"upload larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        if not data:
            raise HTTPException(400, "the uploaded file is empty")
        name = image.filename or "upload"
        with tempfile.NamedTemporaryFile(suffix=Path(name).suffix[:10]) as handle:
            handle.write(data)
            handle.flush()
            terms = [Term("file", handle.name)] + ([Term("text", text)] if text else [])
            try:
                with using() as lib:
                    response = lib.search(terms, k=k)
            except QueryError as exc:
                raise HTTPException(400, str(exc).replace(handle.name, name)) from None
        response.query[0] = f"+{name}"
        return _results_json(response)

    @app.post("/api/recommend")
    def recommend(request: RecommendRequest) -> dict[str, Any]:
        """More like the liked ids, less like the disliked ones; inputs never returned."""
        with using() as lib:
            return _results_json(lib.recommend(request.liked, request.disliked, k=request.k))

    @app.get("/api/images")
    def browse(
        offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 48
    ) -> dict[str, Any]:
        """The library's readable images by path, a page at a time."""
        with using() as lib:
            images = lib.catalog.images("ok", limit, offset)
            total = lib.catalog.state_counts()["ok"]
        return {"offset": offset, "total": total, "images": [_image_json(image) for image in images]}

    @app.get("/api/images/{image_id}")
    def image_info(image_id: int) -> dict[str, Any]:
        with using() as lib:
            image = lib.image(image_id)
        if image is None:
            raise HTTPException(404, f"no image with id {image_id}")
        return _image_json(image)

    @app.get("/api/images/{image_id}/file")
    def image_file(image_id: int) -> FileResponse:
        image, path = served_file(image_id)
        headers = {"Cache-Control": f"private, max-age={CACHE_SECONDS}", "ETag": f'"{image.fingerprint}"'}
        return FileResponse(path, headers=headers)

    @app.get("/api/images/{image_id}/thumb")
    def image_thumb(request: Request, image_id: int, size: int = 256) -> Response:
        if size not in THUMB_SIZES:
            raise HTTPException(400, f"size must be one of {', '.join(map(str, THUMB_SIZES))}")
        image, path = served_file(image_id)
        tag = hashlib.blake2b(f"{image.fingerprint}:{image.size}:{image.mtime_ns}".encode(), digest_size=8).hexdigest()
        headers = {"Cache-Control": f"private, max-age={CACHE_SECONDS}", "ETag": f'"{tag}-{size}"'}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        cached = thumbs / f"{image.id}-{tag}-{size}.jpg"
        if not cached.exists():
            try:
                picture = load_image(path, size)
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
        return {"threshold": threshold, "groups": [group.as_json() for group in groups]}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app

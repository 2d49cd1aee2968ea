"""Which files a library holds, pictures, camera RAWs and videos: by their name's suffix (any case),
as the scan, the watcher, the search and the catalog see them. Nothing is imported here, so a
search that reads no picture never imports Pillow (15 ms of a cold ``search --like-id``)."""

from __future__ import annotations

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp"})
RAW_SUFFIXES = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef",
     ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".mos", ".mrw", ".rwl", ".kdc", ".dcr"}
)  # fmt: skip
# What a library holds (any case): HEIC, HEIF and AVIF through pillow-heif, camera RAWs through LibRaw.
IMAGE_SUFFIXES = (
    frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"})
    | RAW_SUFFIXES
)


def is_video(path: str) -> bool:
    dot = path.rfind(".")
    return dot >= 0 and "/" not in path[dot:] and path[dot:].lower() in VIDEO_SUFFIXES

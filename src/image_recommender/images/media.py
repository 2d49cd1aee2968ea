"""Which files are videos: by their name's suffix (any case), as the scan and the catalog see them."""

from __future__ import annotations

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp"})


def is_video(path: str) -> bool:
    dot = path.rfind(".")
    return dot >= 0 and "/" not in path[dot:] and path[dot:].lower() in VIDEO_SUFFIXES

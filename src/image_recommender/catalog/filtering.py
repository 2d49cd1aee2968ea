"""The photo filters as SQL conditions on ``images``, shared by vectors, words and counts."""

from __future__ import annotations

from image_recommender.filters import PhotoFilter


def filter_clauses(photo_filter: PhotoFilter) -> tuple[list[str], list[object]]:
    """SQL conditions on ``images`` for a live image inside the filter (folder, dates, camera, place)."""
    clauses = ["images.state = 'ok'"]
    values: list[object] = []
    if photo_filter.folder is not None:
        clauses.append("substr(images.path, 1, ?) = ?")
        values += [len(photo_filter.folder), photo_filter.folder]
    if photo_filter.after is not None:
        clauses.append("images.taken_at >= ?")
        values.append(photo_filter.after)
    if photo_filter.before is not None:
        clauses.append("images.taken_at < ?")
        values.append(photo_filter.before)
    if photo_filter.camera is not None:
        clauses.append("instr(lower(images.camera), lower(?)) > 0")
        values.append(photo_filter.camera)
    if photo_filter.near is not None:
        latitude, longitude, radius = photo_filter.near
        clauses.append("distance_km(images.latitude, images.longitude, ?, ?) <= ?")
        values += [latitude, longitude, radius]
    if photo_filter.theme is not None:
        clauses.append("images.id IN (SELECT image_id FROM theme_members WHERE theme_id = ?)")
        values.append(photo_filter.theme)
    if photo_filter.kind is not None:
        clauses.append("is_video(images.path) = ?")
        values.append(photo_filter.kind == "video")
    if photo_filter.every_year is not None:
        first, last = photo_filter.every_year
        joiner = "AND" if first <= last else "OR"  # a window over New Year: December or January
        clauses.append(f"(substr(images.taken_at, 6, 5) >= ? {joiner} substr(images.taken_at, 6, 5) <= ?)")
        values += [first, last]
    if photo_filter.dated and not photo_filter.include_undated:
        clauses.append("images.taken_from IS NOT 'mtime'")
    if photo_filter.places is not None:
        clauses.append(f"images.place_id IN ({','.join('?' * len(photo_filter.places)) or 'NULL'})")
        values += photo_filter.places
    for ids in photo_filter.people:
        clauses.append(
            f"images.fingerprint IN (SELECT fingerprint FROM faces WHERE person_id IN ({','.join('?' * len(ids))}))"
        )
        values += ids
    if photo_filter.not_places:
        marks = ",".join("?" * len(photo_filter.not_places))
        clauses.append(f"(images.place_id IS NULL OR images.place_id NOT IN ({marks}))")
        values += photo_filter.not_places
    return clauses, values

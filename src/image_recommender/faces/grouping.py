"""Faces into people: a new face joins the nearest person close enough; the rest are grouped
with dlib's Chinese-whispers clustering, and a group of one stays nobody's.

Distances are dlib's: the Euclidean distance of two 128-d descriptors, under 0.6 for one
person at 99.38% on LFW (dlib's figure); 0.5 is used here, the threshold of dlib's own
face-clustering example, so two people are rarely one. What the user decided stays: a named
person keeps its name and faces across regroupings, a face the user moved stays where it was
put (to a person or to nobody), and only people nobody named are made anew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from image_recommender.catalog.faces import FaceRow
from image_recommender.catalog.store import Catalog
from image_recommender.faces.detecting import chinese_whispers

JOIN_DISTANCE = 0.5
GROUP_DISTANCE = 0.5
# Faces smaller than this (px in the picture) or blurred below this sharpness are kept and
# shown, but never grouped: their descriptors are too unsure to say who it is. The smallest face
# the detector finds is about 36 px (in a picture of 180-200 px, looked at upsampled), and hers
# at that size lies 0.30-0.32 from her portrait's descriptor, at 43-52 px 0.16-0.27: as close as
# the large ones (median 0.21) and far under the 0.5 that joins a person (docs/benchmarks.md §19).
MIN_GROUP_SIDE = 32
MIN_SHARPNESS = 10.0


@dataclass
class GroupReport:
    """What a grouping did: faces that joined people, people made, faces left to nobody."""

    joined: int = 0
    new_people: int = 0
    left: int = 0


def groupable(face: FaceRow) -> bool:
    return face.side >= MIN_GROUP_SIDE and face.sharpness >= MIN_SHARPNESS and not face.by_user


def _centres(catalog: Catalog, people: list[int]) -> tuple[list[int], np.ndarray]:
    ids, centres = [], []
    for person_id in people:
        vectors = [face.vector for face in catalog.faces(person_id)]
        if vectors:
            ids.append(person_id)
            centres.append(np.mean(vectors, axis=0))
    return ids, np.array(centres, dtype=np.float32).reshape(len(ids), 128 if not centres else len(centres[0]))


def _nearest(vector: np.ndarray, ids: list[int], centres: np.ndarray) -> int | None:
    if not ids:
        return None
    distances = np.linalg.norm(centres - vector, axis=1)
    best = int(np.argmin(distances))
    return ids[best] if distances[best] < JOIN_DISTANCE else None


def group_new(catalog: Catalog) -> GroupReport:
    """Group the faces nobody has yet: each joins the nearest person within JOIN_DISTANCE of
    its centre; those left are clustered, and each cluster of two or more is a new person."""
    report = GroupReport()
    waiting = [face for face in catalog.faces(unassigned=True) if groupable(face)]
    if not waiting:
        return report
    ids, centres = _centres(catalog, [person.id for person in catalog.people(include_hidden=True)])
    joined = [(face.id, _nearest(face.vector, ids, centres)) for face in waiting]
    catalog.assign_faces([(face_id, person) for face_id, person in joined if person is not None])
    report.joined = sum(person is not None for _, person in joined)
    rest = [face for face, (_, person) in zip(waiting, joined, strict=True) if person is None]
    groups = _clusters(rest)
    report.new_people = len(catalog.group_faces(groups))
    report.left = len(rest) - sum(len(group) for group in groups)
    return report


def regroup(catalog: Catalog) -> GroupReport:
    """Group every face anew, keeping what the user decided: named people keep their faces
    (and gain the clusters whose centre lies near theirs), moved faces stay, the people nobody
    named are made anew from the clusters."""
    automatic = catalog.automatic_people()
    catalog.group_faces([], dissolve=automatic)
    named = [person.id for person in catalog.people(include_hidden=True) if person.name is not None]
    ids, centres = _centres(catalog, named)
    waiting = [face for face in catalog.faces(unassigned=True) if groupable(face)]
    report = GroupReport()
    new_groups = []
    for group in _clusters(waiting, keep_singles=True):
        members = [face for face in waiting if face.id in set(group)]
        person = _nearest(np.mean([face.vector for face in members], axis=0), ids, centres)
        if person is not None:
            catalog.assign_faces([(face.id, person) for face in members])
            report.joined += len(members)
        elif len(members) >= 2:
            new_groups.append(group)
        else:
            report.left += 1
    report.new_people = len(catalog.group_faces(new_groups))
    return report


def _clusters(faces: list[FaceRow], keep_singles: bool = False) -> list[list[int]]:
    """Chinese-whispers clusters of the faces (their ids), of two or more unless ``keep_singles``."""
    if not faces:
        return []
    labels = chinese_whispers(np.array([face.vector for face in faces]), GROUP_DISTANCE)
    clusters: dict[int, list[int]] = {}
    for face, label in zip(faces, labels, strict=True):
        clusters.setdefault(label, []).append(face.id)
    return [group for group in clusters.values() if keep_singles or len(group) >= 2]

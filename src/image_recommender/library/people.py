"""People: the faces grouped into people, named, merged, hidden and moved by the user (faces/)."""

from __future__ import annotations

from image_recommender.catalog.faces import FaceRow
from image_recommender.catalog.rows import ImageRow
from image_recommender.errors import QueryError, UnknownPersonError
from image_recommender.faces import people as faces_people
from image_recommender.faces.grouping import GroupReport, regroup
from image_recommender.faces.people import Person
from image_recommender.library.shared import Part


class People(Part):
    """The people of a library and what a user does with them; every change under the write lock."""

    def listed(self, include_hidden: bool = False) -> list[Person]:
        """The people, most faces first (hidden ones too with ``include_hidden``)."""
        return faces_people.listed(self.catalog, include_hidden)

    def person(self, person_id: int) -> Person:
        return faces_people.person(self.catalog, person_id)

    def name_person(self, person_id: int, name: str | None) -> Person:
        """Give a person a name (None or "": unnamed again); a named person keeps it across regroupings."""
        found = self.person(person_id)
        with self.shared.write_lock():
            self.catalog.name_person(found.id, faces_people.check_name(name) if name else None)
        return self.person(found.id)

    def merge_people(self, kept: int, merged: int) -> Person:
        """``merged``'s faces join ``kept``, which keeps its name (or takes ``merged``'s)."""
        into, other = self.person(kept), self.person(merged)
        if into.id == other.id:
            raise QueryError(f"person {kept}: merging a person with itself changes nothing")
        with self.shared.write_lock():
            self.catalog.merge_people(into.id, other.id)
            if into.name is None and other.name is not None:
                self.catalog.name_person(into.id, other.name)
        return self.person(into.id)

    def hide_person(self, person_id: int, hidden: bool = True) -> Person:
        found = self.person(person_id)
        with self.shared.write_lock():
            self.catalog.hide_person(found.id, hidden)
        return self.person(found.id)

    def move_face(self, face_id: int, to: int | str | None) -> int | None:
        """Put a face with person ``to`` (an id), with a new person ("new") or with nobody (None);
        kept so by every regrouping. Returns the person's id."""
        face = self.catalog.face(face_id)
        if face is None:
            raise UnknownPersonError(f"face {face_id}: there is no such face ('imrec people show ID' lists a person's)")
        with self.shared.write_lock():
            target = self.catalog.new_person() if to == "new" else None if to is None else self.person(int(to)).id
            self.catalog.assign_faces([(face.id, target)], by_user=True)
        return target

    def regroup_people(self) -> GroupReport:
        """Group every face anew; named people, and faces the user moved, stay as they are."""
        with self.shared.write_lock():
            return regroup(self.catalog)

    def person_images(self, person_id: int, k: int = 50, offset: int = 0) -> list[ImageRow]:
        """The pictures showing a person, newest first."""
        return self.catalog.person_images(self.person(person_id).id, k, offset)

    def person_faces(self, person_id: int) -> list[tuple[FaceRow, str]]:
        """A person's faces with a path of the picture each is in."""
        found = self.person(person_id)
        return [(face, self.catalog.path_of_content(face.fingerprint) or "") for face in self.catalog.faces(found.id)]

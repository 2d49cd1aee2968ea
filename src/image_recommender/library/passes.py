"""The passes over pictures after embedding: text (text/) and faces (faces/), gated and resumable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from image_recommender.errors import ModelError
from image_recommender.library.shared import Part, Shared

if TYPE_CHECKING:  # the passes' modules load when a pass runs: a search never imports them
    from image_recommender.faces.detecting import FaceFinder
    from image_recommender.faces.reading import FaceReport
    from image_recommender.text.reading import TextGate, TextProgress, TextReport
    from image_recommender.text.recognise import TextReader


class Passes(Part):
    """The enrichment passes after embedding: the text in pictures, then faces; each set up
    once per open library and only when there is work for it."""

    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self._reader: TextReader | None = None
        self._face_finder: FaceFinder | None = None

    def read_texts(self, progress: TextProgress | None = None) -> TextReport:
        """Read the text in every picture whose content has none recorded yet (the text pass)."""
        with self.shared.write_lock():
            return self.text_pass(progress, required=True)[0]

    def text_pass(
        self, progress: TextProgress | None, required: bool = False, gate: TextGate | None = None
    ) -> tuple[TextReport, str]:
        """The text pass when the ``ocr`` setting asks for it; (its report, why it was skipped).
        ``gate``: the one the embedding pass just asked (what it found is not asked again)."""
        from image_recommender.text.reading import TextReport, read_texts
        from image_recommender.text.recognise import OCR_EXTRA_HINT, ocr_available

        if not self.settings.ocr and not required:
            return TextReport(), ""
        done, total, _, _ = self.catalog.text_progress()
        if done == total and gate is None:
            return TextReport(), ""
        if not ocr_available() and not required:
            return TextReport(), f"rapidocr is not installed ({OCR_EXTRA_HINT})"
        reader = self.text_reader()
        return read_texts(self.catalog, self.root, reader, progress, counts=(done, total), gate=gate), ""

    def text_reader(self) -> TextReader:
        from image_recommender.text.recognise import TextReader

        if self._reader is None:
            self._reader = TextReader(self.settings.device)
        return self._reader

    def text_gate(self) -> TextGate | None:
        """The text detector for the embedding pass to ask, when a text pass follows it (``ocr``
        on, rapidocr installed, its models set up: a failure there is the text pass's to report)
        and there are pictures to embed (the models load only then)."""
        from image_recommender.text.reading import TextGate
        from image_recommender.text.recognise import ocr_available

        if not self.settings.ocr or not ocr_available() or not self.catalog.state_counts()["pending"]:
            return None
        try:
            return TextGate(self.catalog, self.text_reader())
        except ModelError:
            return None

    def face_pass(self, required: bool = False) -> tuple[FaceReport, str]:
        """The face pass when the ``faces`` setting asks for it; (its report, why it was skipped)."""
        from image_recommender.faces.detecting import FACES_EXTRA_HINT, FaceFinder, faces_available
        from image_recommender.faces.reading import FaceReport, find_faces

        if not self.settings.faces and not required:
            return FaceReport(), ""
        looked, total, _, _ = self.catalog.face_progress()
        if looked == total:
            return FaceReport(), ""
        if not faces_available():
            if required:
                raise ModelError(f"finding faces needs dlib and its models: {FACES_EXTRA_HINT}")
            return FaceReport(), f"dlib is not installed ({FACES_EXTRA_HINT})"
        if self._face_finder is None:
            self._face_finder = FaceFinder()
        from image_recommender.video.sampling import frames_at

        return find_faces(self.catalog, self.root, self._face_finder, frames=frames_at), ""

    def find_faces(self) -> FaceReport:
        """Look for faces in every picture not looked at yet, and group them (the face pass)."""
        with self.shared.write_lock():
            return self.face_pass(required=True)[0]

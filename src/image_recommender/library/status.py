"""What a library holds and how current it is: counts, models, the index, the passes, checks."""

from __future__ import annotations

from typing import Any

from image_recommender.answers import StatusReport
from image_recommender.library.shared import INDEX_CHECK_SAMPLE, Part


class Status(Part):
    """``imrec status``: counts, models, index freshness, pass progress, failures, checks."""

    def report(self, check: bool = False) -> StatusReport:
        """Counts, models, index freshness and failures.

        ``check`` first runs SQLite's integrity check (a damaged catalog is reported, not read
        further), then compares every index's stored vectors and row files with the catalog's.
        """
        if check:
            catalog_integrity = self.catalog.integrity_check()
            if catalog_integrity != "ok":
                report = StatusReport(str(self.root), str(self.catalog.path), {}, [], None, None, [])
                report.integrity = (
                    f"catalog damaged: {catalog_integrity}; restore a backup or move .imrec away and re-index"
                )
                return report
        counts = self.catalog.state_counts()
        vector_counts = self.catalog.vector_counts()
        models = [
            {"name": m.name, "pretrained": m.pretrained, "dim": m.dim, "vectors": vector_counts.get(m.id, 0)}
            for m in self.catalog.models()
        ]
        index_status = None
        model_name = None
        if models:
            row = self.shared.query_model()
            model_name = row.name
            index_status = self.shared.index_for(row).status()
        failures = [(image.path, image.error or "") for image in self.catalog.failures()]
        integrity = self._check_indexes() if check else None
        read, total, with_text, text_failed = self.catalog.text_progress()
        text = {
            "read": read,
            "total": total,
            "with_text": with_text,
            "failed": text_failed,
            "on": self.settings.ocr,
            "failures": [{"path": path, "error": error} for path, error in self.catalog.text_failures()],
        }
        return StatusReport(
            str(self.root),
            str(self.catalog.path),
            counts,
            models,
            model_name,
            index_status,
            failures,
            integrity,
            self.shared.text_tower_name(),
            text,
            self.catalog.video_count(),
            [(image.path, image.error or "") for image in self.catalog.read_in_part()],
            self._face_status(),
        )

    def _face_status(self) -> dict[str, Any]:
        looked, total, faces, failed = self.catalog.face_progress()
        return {
            "looked": looked, "total": total, "faces": faces, "failed": failed,
            "people": len(self.catalog.people(include_hidden=True)), "on": self.settings.faces,
        }  # fmt: skip

    def _check_indexes(self) -> str:
        """ "ok", or which index holds vectors that differ from the catalog's."""
        for row in self.catalog.models():
            if self.shared.index_for(row).damage_everywhere(INDEX_CHECK_SAMPLE):
                return f"index of {row.name} differs from the catalog (damaged file); 'imrec index' rebuilds it"
        return "ok"

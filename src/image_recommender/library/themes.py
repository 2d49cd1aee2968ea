"""Themes from the stored vectors: computed, joined by new images, found by name, renamed (themes/)."""

from __future__ import annotations

from image_recommender.catalog.rows import ImageRow, ThemeRow
from image_recommender.catalog.words import fold
from image_recommender.errors import QueryError
from image_recommender.library.shared import Part
from image_recommender.themes.computing import compute_themes, join_themes, needs_computing


class Themes(Part):
    """The library's themes for its query model."""

    def listed(self, count: int | None = None, recompute: bool = False) -> list[ThemeRow]:
        """The library's themes, computed from the stored vectors when there are none yet, when
        asked (``recompute``, another ``count``), or when the library grew or shrank by a tenth
        (naming them loads the text tower); images added since join the nearest theme."""
        row = self.shared.query_model()
        themes = self.catalog.themes(row.id)
        images = len(self.catalog.live_labels(row.id))
        if recompute or needs_computing(themes, images, count):
            tower = self.shared.text_tower(row)
            encoder = tower if tower is not None else self.shared.text_encoder(row)
            compute_themes(self.catalog, row.id, encoder.encode_texts, count)
        elif join_themes(self.catalog, row.id, themes) == 0:
            return themes
        return self.catalog.themes(row.id)

    def join(self) -> None:
        """After an update: new images join the nearest existing theme (a full computation waits
        until the themes are asked for and the library grew by a tenth)."""
        for model in self.catalog.models():
            themes = self.catalog.themes(model.id)
            if themes:
                join_themes(self.catalog, model.id, themes)

    def theme(self, name: str) -> ThemeRow:
        """A theme by id, by the user's name or by its German or English name (any case)."""
        themes = self.catalog.themes(self.shared.query_model().id)
        if not themes:
            raise QueryError("this library has no themes yet: run 'imrec themes' first")
        wanted = fold(name.strip().lstrip("#"))
        found = [
            theme
            for theme in themes
            if wanted in (str(theme.id), *(fold(n) for n in (theme.user_name, theme.name_de, theme.name_en) if n))
        ]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"#{theme.id} {theme.name}" for theme in found[:6])
            raise QueryError(f"theme {name!r} names several themes: {listed}; give its number")
        known = ", ".join(theme.name for theme in themes[:8])
        raise QueryError(
            f"theme {name!r}: no theme of that name or number (themes: {known}{', …' if len(themes) > 8 else ''})"
        )

    def theme_images(self, theme: str | ThemeRow, k: int = 48, offset: int = 0) -> list[tuple[ImageRow, float]]:
        """A theme's images (by name or number, or one already found), closest to its centre first."""
        found = theme if isinstance(theme, ThemeRow) else self.theme(theme)
        return self.catalog.theme_images(found.id, k, offset)

    def rename_theme(self, name: str, new_name: str | None) -> ThemeRow:
        """Give a theme the user's own name (None or "": back to its computed one); it is kept
        when the themes are computed again and the theme still matches."""
        theme = self.theme(name)
        cleaned = (new_name or "").strip() or None
        if cleaned is not None and (len(cleaned) > 100 or not cleaned.isprintable()):
            raise QueryError(f"theme name {new_name!r}: use 1-100 characters without control characters")
        self.catalog.rename_theme(theme.id, cleaned)
        return self.theme(str(theme.id))

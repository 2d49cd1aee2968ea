"""Themes: the library grouped by what its pictures show, from the stored vectors alone."""

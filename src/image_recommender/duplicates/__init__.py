"""Duplicates: finding exact copies, near duplicates and bursts (``finding``), and resolving them
by moving files out of the library and back, checked at the moment of each move (``moves``)."""

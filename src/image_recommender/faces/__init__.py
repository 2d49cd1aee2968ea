"""People: faces found in pictures (``detecting``), grouped into people (``grouping``), read in a pass of their own (``reading``)."""

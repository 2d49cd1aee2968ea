"""Image files: reading, decoding, orienting and bounding the work one file may cause (``decode``),
and what a photo says about itself: date, camera, place (``metadata``)."""

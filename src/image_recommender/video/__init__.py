"""Videos in the library: frames worth embedding (``sampling``), and the pass that embeds them (``embedding``)."""

"""Embedding: the local pipeline's stages (``pipeline``), whole JPEGs decoded on a GPU
(``device_decode``) and the same work spread over a Ray cluster (``ray``). Only ``pipeline``
is torch-free at import; the others import torch."""

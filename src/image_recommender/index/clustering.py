"""k-means over stored vectors (FAISS), for themes: spherical, seeded, trained on a bounded sample."""

from __future__ import annotations

import faiss
import numpy as np

# Points per centre k-means trains on at most (FAISS samples beyond): 1,000 is FAISS's own
# guidance for stable centres and keeps training at 200 themes to 200k vectors.
POINTS_PER_CENTRE = 1000


def kmeans_centres(vectors: np.ndarray, count: int, seed: int = 1234) -> np.ndarray:
    """(count, d) unit centres of ``vectors`` (unit rows): spherical k-means, 20 rounds."""
    trainer = faiss.Kmeans(
        vectors.shape[1],
        count,
        niter=20,
        seed=seed,
        spherical=True,
        max_points_per_centroid=POINTS_PER_CENTRE,
        min_points_per_centroid=1,  # a small library is clustered as it is, without FAISS's warning on stderr
    )
    trainer.train(np.ascontiguousarray(vectors, dtype=np.float32))
    centres = np.asarray(trainer.centroids, dtype=np.float32)
    return centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)

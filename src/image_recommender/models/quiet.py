"""Quiet third-party logging: open_clip and the ONNX exporter log on the root logger; the user
sees imrec's one line instead.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_logging(level: int = logging.CRITICAL) -> Iterator[None]:
    """open_clip and the ONNX exporter log on the root logger; ours is the one line the user sees."""
    previous = logging.root.manager.disable
    logging.disable(level)
    try:
        yield
    finally:
        logging.disable(previous)

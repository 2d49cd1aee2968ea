"""Which model: an architecture with weights (a hub tag or a checkpoint file) and its config,
checked and identified without importing torch.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from image_recommender.errors import ModelError, SettingsError

_CHECKPOINT_SUFFIXES = {".bin", ".pt", ".pth", ".safetensors", ".ckpt"}


@dataclass(frozen=True)
class ModelSpec:
    """What to load: an architecture name, weights (tag or file) and an optional config file."""

    name: str
    pretrained: str
    config: Path | None = None

    @property
    def architecture(self) -> str:
        """The name open_clip knows it by: a config file registers its own stem as the name."""
        return self.config.stem if self.config is not None else self.name

    @property
    def weights_file(self) -> Path | None:
        """The checkpoint file named by ``pretrained``, or None when it is a hub tag."""
        candidate = Path(os.path.expanduser(self.pretrained))
        looks_like_file = os.sep in self.pretrained or candidate.suffix in _CHECKPOINT_SUFFIXES
        return candidate if self.pretrained and (looks_like_file or candidate.is_file()) else None

    def describe(self) -> str:
        """How a user names this model: architecture and weights."""
        weights = self.weights_file
        return f"{self.architecture} ({weights.name if weights is not None else self.pretrained or 'random weights'})"

    def check_weights_file(self) -> None:
        """Refuse a checkpoint that is missing or not a model file, before any model is built.

        Reads only the first bytes: PyTorch's zip format, a legacy pickle, or safetensors.
        """
        weights = self.weights_file
        if weights is None:
            return
        try:
            with weights.open("rb") as handle:
                head = handle.read(16)
        except FileNotFoundError:
            raise ModelError(f"{weights}: checkpoint file not found") from None
        except IsADirectoryError:
            raise ModelError(f"{weights}: is a folder; give the checkpoint file") from None
        except OSError as exc:
            raise ModelError(f"{weights}: cannot read checkpoint: {exc.strerror or exc}") from None
        if not head:
            raise ModelError(f"{weights}: checkpoint file is empty")
        is_zip = head.startswith(b"PK\x03\x04")  # torch.save's format, TorchScript, .npz
        is_pickle = head[0] == 0x80 and 2 <= head[1] <= 5  # torch.save(..., _use_new_zipfile_serialization=False)
        is_safetensors = len(head) > 8 and head[8:9] == b"{"  # u64 header length, then the JSON header
        if not (is_zip or is_pickle or is_safetensors):
            raise ModelError(
                f"{weights}: not a model checkpoint (expected a PyTorch .pt/.bin file or .safetensors,"
                f" found bytes {head[:8]!r}); was the download cut short or is this another kind of file?"
            )

    def catalog_key(self) -> tuple[str, str]:
        """(name, pretrained) as stored in the catalog; a checkpoint file is named by its content."""
        weights = self.weights_file
        if weights is None:
            return self.architecture, self.pretrained
        return self.architecture, f"file:{weights.name}:{_file_identity(weights)}"


def _file_identity(path: Path) -> str:
    """A cheap content identity for a large checkpoint: size plus first and last MiB, read again
    only when the file's size or time changed (every query names its model: 2.3 ms each)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read checkpoint: {exc.strerror or exc}") from None
    return _identity(path, stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=16)
def _identity(path: Path, size: int, mtime_ns: int, inode: int) -> str:
    try:
        digest = hashlib.blake2b(str(size).encode(), digest_size=8)
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, size - (1 << 20)))
            digest.update(handle.read(1 << 20))
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read checkpoint: {exc.strerror or exc}") from None
    return digest.hexdigest()

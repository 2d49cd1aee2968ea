"""OpenCLIP's BPE tokenizer without torch: saved once as a ``tokenizers`` file, read back for queries.

``open_clip.tokenizer`` imports torch, so a text query that tokenized with it paid torch's
import (3.5 s on 2 cores) even when the text tower runs in OpenVINO. When a model is
converted, its ``SimpleTokenizer`` (vocabulary, merges, special tokens, context length, the
cleaning it applies) is written here as a Hugging Face ``tokenizers`` file beside the towers;
``ClipTokens`` reads it back and gives the same token ids: OpenCLIP's cleaning (ftfy, HTML
entities, whitespace) in Python, then the pattern split, byte-level mapping and BPE with
``</w>`` word ends in ``tokenizers``, start and end tokens, truncation to the context length
(the last id kept as the end token) and zero padding. tests/test_cached_engine.py compares
the two on generated text. A tokenizer this does not reproduce (another cleaning, a reduction
mask, a Hugging Face tokenizer) is simply not saved, and such a model tokenizes through torch.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# OpenCLIP's pre-tokenizer pattern without its special tokens (those are added tokens here).
_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def save_tokenizer(tokenizer: Any, path: Path) -> bool:
    """Write OpenCLIP's ``SimpleTokenizer`` to ``path`` (whole, by a rename); False where it cannot be reproduced."""
    from open_clip.tokenizer import SimpleTokenizer, _clean_lower, _clean_whitespace
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if not isinstance(tokenizer, SimpleTokenizer) or tokenizer.reduction_fn is not None:
        return False
    if tokenizer.clean_fn not in (_clean_lower, _clean_whitespace) or not tokenizer.context_length:
        return False
    ranks = sorted(tokenizer.bpe_ranks.items(), key=lambda item: item[1])
    bpe = models.BPE(
        vocab=dict(tokenizer.encoder),
        merges=[pair for pair, _ in ranks],
        end_of_word_suffix="</w>",
        continuing_subword_prefix="",
        fuse_unk=False,
    )
    saved = Tokenizer(bpe)
    if tokenizer.clean_fn is _clean_lower:
        saved.normalizer = normalizers.Lowercase()
    # OpenCLIP matches the pattern ignoring case; after Lowercase only "'S" and friends could differ.
    pattern = Regex(f"(?i:{_PATTERN})")
    saved.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern, behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    saved.decoder = decoders.ByteLevel()
    specials = [tokenizer.decoder[token] for token in tokenizer.all_special_ids]
    saved.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    start, end = specials[0], specials[1]
    saved.post_processor = processors.TemplateProcessing(
        single=f"{start} $A {end}", special_tokens=[(start, tokenizer.sot_token_id), (end, tokenizer.eot_token_id)]
    )
    saved.enable_truncation(max_length=int(tokenizer.context_length))
    saved.enable_padding(length=int(tokenizer.context_length), pad_id=0, pad_token="!")
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    saved.save(str(staged))
    staged.replace(path)
    return True


class ClipTokens:
    """A saved OpenCLIP tokenizer: texts -> (N, context length) int64 token ids, as OpenCLIP makes them."""

    def __init__(self, path: Path) -> None:
        self._tokenizer = _loaded(path)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch([_clean(text) for text in texts])
        return np.asarray([item.ids for item in encoded], dtype=np.int64)


def _clean(text: str) -> str:
    """OpenCLIP's ``basic_clean`` and ``whitespace_clean``; lower case, where the model wants it, is the file's."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split())


# Tokenizers read in this process, by file identity: reading a 49,408-token BPE file costs
# 87 ms, once per process instead of once per opened library (a tokenizer is immutable once
# read, and encodes from several threads at once).
_LOADED: dict[tuple[str, int, int], Any] = {}


def _loaded(path: Path) -> Any:
    from tokenizers import Tokenizer

    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    if key not in _LOADED:
        if len(_LOADED) >= 8:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = Tokenizer.from_file(str(path))
    return _LOADED[key]

"""What a multilingual text tower costs per query, side by side in one run: M-CLIP's XLM-R Large
tower (loaded through imrec's loader) against the image model's own CLIP text tower.

Weights do not change speed: both get seeded random weights. The XLM-R tower has XLM-R Large's
shape (24 layers, width 1024, a 250,002-token embedding) with a tokenizer trained here on a few
hundred phrases; short queries tokenize to a similar length with either vocabulary.

    python benchmarks/bench_text_tower.py --queries 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from image_recommender.models.recommended import cpu_flags

QUERIES = ["Hund im Schnee", "Strand auf Sylt im Juli", "eine rote Straßenbahn vor der Bäckerei", "a dog in the snow"]


def build_tower(folder: Path) -> Path:
    """XLM-R Large's shape with random weights, saved in M-CLIP's layout."""
    import torch
    import transformers
    from safetensors.torch import save_file

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_text_tower import tiny_tower  # the tokenizer recipe the tests use

    tiny_tower(folder / "tokenizer-source", "ViT-L-14/openai", dim=768)
    folder.mkdir(exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / "tokenizer-source" / name).exists():
            shutil.copy(folder / "tokenizer-source" / name, folder / name)
    config = transformers.XLMRobertaConfig(
        vocab_size=250_002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    torch.manual_seed(0)
    transformer = transformers.XLMRobertaModel(config)
    state = {f"transformer.{k}": v.contiguous() for k, v in transformer.state_dict().items()}
    state |= {f"LinearTransformation.{k}": v.contiguous() for k, v in torch.nn.Linear(1024, 768).state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "M-CLIP",
                "modelBase": "xlm-roberta-large",
                "transformerDimSize": 1024,
                "imageDimSize": 768,
                "transformer_config": config.to_dict(),
                "image_model": "ViT-L-14/openai",
            }
        )
    )
    return folder


def timed_queries(encode, count: int) -> tuple[float, float]:
    started = time.perf_counter()
    encode([QUERIES[0]])
    first = time.perf_counter() - started
    runs = []
    for number in range(count):
        started = time.perf_counter()
        encode([QUERIES[number % len(QUERIES)]])
        runs.append(time.perf_counter() - started)
    return first, statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    import open_clip
    import torch

    from image_recommender.models.text_tower import TextTower, tower_facts

    work = Path(tempfile.mkdtemp(prefix="bench-tower-"))
    try:
        tower_dir = build_tower(work / "tower")
        started = time.perf_counter()
        tower = TextTower(tower_facts(str(tower_dir)))
        loaded = time.perf_counter() - started
        tower_first, tower_warm = timed_queries(tower.encode_texts, args.queries)
        del tower
        started = time.perf_counter()
        clip = open_clip.create_model("ViT-L-14").eval()
        tokenizer = open_clip.get_tokenizer("ViT-L-14")
        clip_loaded = time.perf_counter() - started

        def clip_encode(texts: list[str]) -> object:
            with torch.inference_mode():
                return torch.nn.functional.normalize(clip.encode_text(tokenizer(texts)), dim=-1)

        clip_first, clip_warm = timed_queries(clip_encode, args.queries)
        print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}; torch fp32")
        print(
            f"M-CLIP XLM-R Large tower: built {loaded:.1f} s, first query {tower_first * 1000:.0f} ms, warm median {tower_warm * 1000:.0f} ms"
        )
        print(
            f"ViT-L-14's own text tower: built {clip_loaded:.1f} s, first query {clip_first * 1000:.0f} ms, warm median {clip_warm * 1000:.0f} ms"
        )
        print(f"tower / CLIP, warm: {tower_warm / clip_warm:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

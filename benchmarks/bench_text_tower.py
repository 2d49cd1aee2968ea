"""What a multilingual text tower costs per query, side by side in one run: M-CLIP's XLM-R Large
tower (loaded through imrec's loader) on torch and on OpenVINO (fp32, bf16), against the image
model's own CLIP text tower; and a warm web query against the tower's forward pass alone.

Weights do not change speed: every model gets seeded random weights. The XLM-R tower has XLM-R
Large's shape (24 layers, width 1024, a 250,002-token embedding) with a tokenizer trained here
on a few hundred phrases; short queries tokenize to a similar length with either vocabulary.
The web query goes to a running server (uvicorn) over one kept-alive connection, against a
library of ``--images`` small distinct pictures indexed with the tests' tiny image model (the
tower maps into its space; its 32-d index search is cheaper than a 768-d one: see section 5).

    python benchmarks/bench_text_tower.py --queries 30 --images 2000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from image_recommender.models.recommended import cpu_flags

QUERIES = ["Hund im Schnee", "Strand auf Sylt im Juli", "eine rote Straßenbahn vor der Bäckerei", "a dog in the snow"]
ROOT = Path(__file__).resolve().parent.parent


def build_tower(folder: Path, image_model: str = "ViT-L-14/openai", dim: int = 768) -> Path:
    """XLM-R Large's shape with random weights, saved in M-CLIP's layout."""
    import transformers

    sys.path.insert(0, str(ROOT / "tests"))
    from test_text_tower import save_mclip, tiny_tower  # the tokenizer recipe and M-CLIP layout the tests use

    tiny_tower(folder / "tokenizer-source", image_model, dim=dim)
    folder.mkdir(exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / "tokenizer-source" / name).exists():
            shutil.copy(folder / "tokenizer-source" / name, folder / name)
    config = transformers.XLMRobertaConfig(
        vocab_size=250_002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    return save_mclip(folder, config, "xlm-roberta-large", image_model, dim)


def timed_queries(encode: Callable[[list[str]], Any], count: int) -> tuple[float, float]:
    started = time.perf_counter()
    encode([QUERIES[0]])
    first = time.perf_counter() - started
    runs = []
    for number in range(count):
        started = time.perf_counter()
        encode([QUERIES[number % len(QUERIES)]])
        runs.append(time.perf_counter() - started)
    return first, statistics.median(runs)


def towers(work: Path, count: int) -> None:
    import open_clip
    import torch

    from image_recommender.models.text_tower import load_text_tower, tower_facts

    facts = tower_facts(str(build_tower(work / "tower")))
    rows = []
    for engine, precision in (("torch", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")):
        started = time.perf_counter()
        tower = load_text_tower(facts, "cpu", precision, engine, "CPU", work / "engines")
        loaded = time.perf_counter() - started
        rows.append((f"M-CLIP XLM-R Large, {engine} {precision}", loaded, *timed_queries(tower.encode_texts, count)))
        del tower
    started = time.perf_counter()
    clip = open_clip.create_model("ViT-L-14").eval()
    tokenizer = open_clip.get_tokenizer("ViT-L-14")
    clip_loaded = time.perf_counter() - started

    def clip_encode(texts: list[str]) -> object:
        with torch.inference_mode():
            return torch.nn.functional.normalize(clip.encode_text(tokenizer(texts)), dim=-1)

    rows.append(("ViT-L-14's own text tower, torch fp32", clip_loaded, *timed_queries(clip_encode, count)))
    print("| text tower | loaded (first time: converted) | first query | warm query (median) |")
    print("|---|---|---|---|")
    for name, loaded, first, warm in rows:
        print(f"| {name} | {loaded:.1f} s | {first * 1000:.0f} ms | {warm * 1000:.0f} ms |")
    print(
        f"torch / OpenVINO bf16, warm: {rows[0][3] / rows[2][3]:.2f}x; OpenVINO bf16 / CLIP: {rows[2][3] / rows[3][3]:.2f}x"
    )


def web_overhead(work: Path, count: int, images: int) -> None:
    """A warm ``GET /api/search?text=`` to a running server (uvicorn, one kept-alive connection)
    against the tower's own forward pass: same tower, same run."""
    import http.client
    import threading
    import urllib.parse

    import numpy as np
    import open_clip
    import torch
    import uvicorn
    from PIL import Image

    from image_recommender import Library
    from image_recommender.models.spec import ModelSpec
    from image_recommender.web.app import create_app

    config = ROOT / "tests" / "data" / "tiny-clip.json"
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    checkpoint = work / "tiny-clip.pt"
    torch.save(open_clip.create_model("tiny-clip").state_dict(), checkpoint)
    root = work / "library"
    root.mkdir()
    noise = np.random.default_rng(0)
    for number in range(images):  # distinct small pictures: the tiny model embeds them in seconds
        folder = root / f"set{number // 500:03d}"
        folder.mkdir(exist_ok=True)
        pixels = noise.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{number:06d}.jpg", quality=80)
    name, pretrained = ModelSpec("tiny-clip", str(checkpoint)).catalog_key()
    tower_dir = build_tower(work / "web-tower", f"{name}/{pretrained}", dim=32)
    settings: dict[str, Any] = {
        "model_config": config, "pretrained": str(checkpoint), "workers": 0, "engine_cache": work / "engines",
    }  # fmt: skip
    with Library.open(root, create=True, **settings) as library:
        library.update()
    with Library.open(root, **settings, text_model=str(tower_dir)) as library:
        library.warm_up()
        tower = library._text_tower(library.query_model())
        assert tower is not None
        port = 8765
        config = uvicorn.Config(create_app(library), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def web(texts: list[str]) -> None:
            connection.request("GET", "/api/search?" + urllib.parse.urlencode({"text": texts[0], "k": 24}))
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 200, body

        try:
            _, forward = timed_queries(tower.encode_texts, count)
            _, whole = timed_queries(web, count)
        finally:
            server.should_exit = True
            thread.join()
    print(f"web query over {images} images, 24 results ({tower.engine} {tower.precision}), warm medians:")
    print(
        f"  tower forward pass {forward * 1000:.1f} ms, GET /api/search {whole * 1000:.1f} ms,"
        f" beyond the forward pass {(whole - forward) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--images", type=int, default=2000, help="pictures in the web query's library")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, CPU flags {' '.join(cpu_flags()) or 'none of note'}")
    work = Path(tempfile.mkdtemp(prefix="bench-tower-"))
    try:
        towers(work, args.queries)
        web_overhead(work, args.queries, args.images)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

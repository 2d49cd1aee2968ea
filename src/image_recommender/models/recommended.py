"""The models we recommend, with their published quality, and whether their weights are cached here.

Torch-free, so ``imrec models`` answers in well under a second. Quality figures are OpenCLIP's
own zero-shot results (``docs/openclip_classification_results.csv`` and
``docs/openclip_retrieval_results.csv`` in the open_clip repository): ImageNet-1k top-1 and
MSCOCO image retrieval recall@1 (a text finds its image first), with the image tower's GFLOPs.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

# What to install for models whose text side is a Hugging Face tower (M-CLIP, --text-model).
MULTILINGUAL_EXTRA_HINT = "pip install 'image-recommender[multilingual]'"

RESULTS_SOURCE = "OpenCLIP's published zero-shot results (open_clip docs/openclip_*_results.csv)"


@dataclass(frozen=True)
class Recommended:
    """One architecture + weights pair and what it is known to do."""

    name: str
    pretrained: str
    dim: int
    imagenet_top1: float
    coco_image_r1: float
    gflops: float
    hf_hub: str
    note: str = ""
    weights_mb: int = 0  # the fp32 checkpoint's download size (parameters x 4 bytes)

    def cached(self, hub_cache: Path | None = None) -> bool:
        """True when the weights are in the local Hugging Face cache (no download needed)."""
        org, _, repo = self.hf_hub.strip("/").partition("/")
        snapshots = (hub_cache or hub_cache_dir()) / f"models--{org}--{repo}" / "snapshots"
        return snapshots.is_dir() and any(path.suffix in (".bin", ".safetensors") for path in snapshots.rglob("*"))


RECOMMENDED = (
    Recommended(
        "ViT-L-14", "openai", 768, 0.7554, 0.3651, 175.3, "timm/vit_large_patch14_clip_224.openai/", "default", 1710
    ),
    Recommended(
        "ViT-L-14",
        "datacomp_xl_s13b_b90k",
        768,
        0.7921,
        0.4573,
        175.3,
        "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K/",
        weights_mb=1710,
    ),
    Recommended(
        "ViT-B-16",
        "datacomp_xl_s13b_b90k",
        512,
        0.7349,
        0.4016,
        41.1,
        "laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K/",
        weights_mb=599,
    ),
    Recommended(
        "ViT-B-32-256",
        "datacomp_s34b_b86k",
        512,
        0.7281,
        0.3993,
        17.5,
        "laion/CLIP-ViT-B-32-256x256-DataComp-s34B-b86K/",
        "fastest on a CPU",
        605,
    ),
    Recommended("ViT-B-16-SigLIP", "webli", 768, 0.7604, 0.4778, 46.4, "timm/ViT-B-16-SigLIP/", weights_mb=813),
    Recommended(
        "ViT-SO400M-14-SigLIP",
        "webli",
        1152,
        0.8203,
        0.5176,
        233.5,
        "timm/ViT-SO400M-14-SigLIP/",
        "best quality",
        3510,
    ),
)
MULTILINGUAL_SOURCES = (
    "Crossmodal-3600 and multilingual MS-COCO: OpenCLIP's docs/openclip_multilingual_retrieval_results.csv;"
    " M-CLIP: Carlsson et al., LREC 2022 (human-translated MS-COCO)"
)


@dataclass(frozen=True)
class Multilingual:
    """A way to search in another language and its published image retrieval recall@10 from a
    caption (None where not published), per language."""

    name: str
    choose: str  # the flags that pick it
    c3600: dict[str, float | None]
    coco: dict[str, float | None]
    keeps_vit_l14: bool  # an existing ViT-L-14/openai library keeps its image vectors


MULTILINGUAL = (
    Multilingual("ViT-L-14/openai", "(the default)", {"de": 0.39, "en": 0.75}, {"de": 0.55, "en": 0.92}, True),
    Multilingual(
        "M-CLIP XLM-R Large for ViT-L-14",
        "--text-model M-CLIP/XLM-Roberta-Large-Vit-L-14",
        {"de": None, "en": None},
        {"de": 0.906, "en": 0.924},
        True,
    ),
    Multilingual(
        "ViT-L-14/datacomp_xl_s13b_b90k",
        "--model ViT-L-14 --pretrained datacomp_xl_s13b_b90k",
        {"de": 0.56, "en": 0.83},
        {"de": 0.66, "en": 0.95},
        False,
    ),
    Multilingual(
        "xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k",
        "--model xlm-roberta-base-ViT-B-32 --pretrained laion5b_s13b_b90k",
        {"de": 0.93, "en": 0.83},
        {"de": 0.90, "en": 0.94},
        False,
    ),
    Multilingual(
        "nllb-clip-base-siglip/mrl",
        "--model nllb-clip-base-siglip --pretrained mrl",
        {"de": 0.94, "en": 0.84},
        {"de": 0.95, "en": 0.97},
        False,
    ),
    Multilingual(
        "nllb-clip-large-siglip/mrl",
        "--model nllb-clip-large-siglip --pretrained mrl",
        {"de": 0.97, "en": 0.86},
        {"de": 0.95, "en": 0.97},
        False,
    ),
    Multilingual(
        "ViT-B-16-SigLIP-i18n-256/webli",
        "--model ViT-B-16-SigLIP-i18n-256 --pretrained webli",
        {"de": 0.93, "en": 0.83},
        {"de": 0.92, "en": 0.96},
        False,
    ),
)


def by_language(language: str) -> list[Multilingual]:
    """The multilingual choices, best first for ``language``: by MS-COCO recall (published for
    all of them), then by Crossmodal-3600."""
    return sorted(MULTILINGUAL, key=lambda c: (c.coco[language] or 0.0, c.c3600[language] or 0.0), reverse=True)


# Seconds a hub connection may take before the hub counts as unreachable.
HUB_PROBE_SECONDS = 1.5


def _size(megabytes: int) -> str:
    return f"{megabytes / 1000:.1f} GB" if megabytes >= 1000 else f"{megabytes} MB"


def converted_here(name: str, pretrained: str, engine_cache: Path) -> bool:
    """True when the engine cache holds a conversion of these weights (OpenVINO then needs no weights)."""
    for manifest in engine_cache.glob("*/manifest.json"):
        try:
            key = json.loads(manifest.read_text(encoding="utf-8"))["key"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(key, dict) and key.get("architecture") == name and key.get("weights") == pretrained:
            return True
    return False


def hub_reachable() -> bool:
    """Whether the model hub answers (never when HF_HUB_OFFLINE is set), within HUB_PROBE_SECONDS."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return False
    return reachable(url.hostname or "", port, HUB_PROBE_SECONDS)


def reachable(host: str, port: int, seconds: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``seconds``."""
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return True
    except OSError:
        return False


def missing_weights(name: str, pretrained: str, engine_cache: Path | None) -> str | None:
    """Why a recommended model cannot run here, in one line, found without torch in well under 2 s:
    its weights are neither in the hub cache nor converted for OpenVINO, and the hub cannot be
    reached. None when it can run (or is not in the table: the loader then says what is wrong)."""
    chosen = next((r for r in RECOMMENDED if (r.name, r.pretrained) == (name, pretrained)), None)
    if chosen is None or chosen.cached():
        return None
    if engine_cache is not None and converted_here(name, pretrained, engine_cache):
        return None
    if hub_reachable():
        return None
    smaller = ", ".join(
        f"{r.name}/{r.pretrained} ({_size(r.weights_mb)})"
        for r in sorted(RECOMMENDED, key=lambda r: r.weights_mb)
        if r.weights_mb < chosen.weights_mb
    )[:200]
    where = hub_cache_dir() / f"models--{chosen.hf_hub.strip('/').replace('/', '--')}"
    return (
        f"the weights of {name}/{pretrained} (about {_size(chosen.weights_mb)}) are not in {where} and the model hub"
        f" cannot be reached; download them where it can, pass a local checkpoint with --pretrained FILE"
        + (f", or choose a smaller model with --model/--pretrained: {smaller}" if smaller else "")
    )


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, honouring HF_HUB_CACHE and HF_HOME like it does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def faster_choice(architecture: str) -> tuple[Recommended, float] | None:
    """The recommended model with the fewest GFLOPs and its speed-up over ``architecture``, by GFLOPs.

    None when the architecture is not in the table (its cost is unknown) or is already the cheapest.
    """
    costs = {choice.name: choice.gflops for choice in RECOMMENDED}
    if architecture not in costs:
        return None
    cheapest = min(RECOMMENDED, key=lambda choice: choice.gflops)
    if cheapest.gflops >= costs[architecture]:
        return None
    return cheapest, costs[architecture] / cheapest.gflops


def cpu_flags() -> list[str]:
    """The CPU features that decide model speed here (printed beside every measured figure)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return []
    words = set(text.split())
    return [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_fp16") if flag in words]

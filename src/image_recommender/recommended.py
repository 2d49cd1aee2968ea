"""The models we recommend, with their published quality, and whether their weights are cached here.

Torch-free, so ``imrec models`` answers in well under a second. Quality figures are OpenCLIP's
own zero-shot results (``docs/openclip_classification_results.csv`` and
``docs/openclip_retrieval_results.csv`` in the open_clip repository): ImageNet-1k top-1 and
MSCOCO image retrieval recall@1 (a text finds its image first), with the image tower's GFLOPs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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

    def cached(self, hub_cache: Path | None = None) -> bool:
        """True when the weights are in the local Hugging Face cache (no download needed)."""
        org, _, repo = self.hf_hub.strip("/").partition("/")
        snapshots = (hub_cache or hub_cache_dir()) / f"models--{org}--{repo}" / "snapshots"
        return snapshots.is_dir() and any(path.suffix in (".bin", ".safetensors") for path in snapshots.rglob("*"))


RECOMMENDED = (
    Recommended("ViT-L-14", "openai", 768, 0.7554, 0.3651, 175.3, "timm/vit_large_patch14_clip_224.openai/", "default"),
    Recommended(
        "ViT-L-14", "datacomp_xl_s13b_b90k", 768, 0.7921, 0.4573, 175.3, "laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K/"
    ),
    Recommended(
        "ViT-B-16", "datacomp_xl_s13b_b90k", 512, 0.7349, 0.4016, 41.1, "laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K/"
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
    ),
    Recommended("ViT-B-16-SigLIP", "webli", 768, 0.7604, 0.4778, 46.4, "timm/ViT-B-16-SigLIP/"),
    Recommended(
        "ViT-SO400M-14-SigLIP", "webli", 1152, 0.8203, 0.5176, 233.5, "timm/ViT-SO400M-14-SigLIP/", "best quality"
    ),
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

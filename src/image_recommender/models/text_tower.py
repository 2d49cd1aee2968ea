"""A multilingual text tower apart from the image tower: M-CLIP (Carlsson et al., LREC 2022).

M-CLIP trained multilingual text encoders into the text space of OpenAI's CLIP, so a German
query reaches an existing ViT-L-14 library without re-embedding a single image: published
text-to-image recall@10 on human-translated MS-COCO, XLM-R Large for ViT-L/14, German 90.6,
English 92.4 (OpenAI's own English text tower: 91.8), where OpenAI's ViT-L-14 alone finds the
right picture for a German caption about half as often (OpenCLIP's multilingual results).

The format is M-CLIP's: a ``config.json`` of ``model_type`` "M-CLIP" (``modelBase``, the
transformer's width and the image space's), weights whose keys are ``transformer.*`` and
``LinearTransformation.*``, and the transformer's tokenizer. A query is the transformer's
output averaged over the attention mask, mapped linearly into the image space and made unit
length. A local folder may carry the transformer's own configuration (``transformer_config``)
and the image model it was trained for (``image_model``, "ARCHITECTURE/WEIGHTS"); the hub's
towers are known by name. Loading is offline-safe: a tower that is neither a folder nor in
the hub cache while the hub is unreachable is one line, before anything is built.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from image_recommender.errors import ModelError
from image_recommender.models.recommended import MULTILINGUAL_EXTRA_HINT, hub_reachable

if TYPE_CHECKING:
    from image_recommender.models.openvino_text import OpenVinoTextTower

# The image model each published tower was trained for: (architecture, weights, dimension).
KNOWN_TOWERS = {
    "M-CLIP/XLM-Roberta-Large-Vit-L-14": ("ViT-L-14", "openai", 768),
    "M-CLIP/XLM-Roberta-Large-Vit-B-32": ("ViT-B-32", "openai", 512),
    "M-CLIP/LABSE-Vit-L-14": ("ViT-L-14", "openai", 768),
}
# A published tower's folder, as downloaded, says only this of itself (M-CLIP's MCLIPConfig):
# the transformer it was made from, its width and the image space's. Those fields tell the three
# published towers apart: (base, transformer width, image dimension) -> the tower's name.
PUBLISHED_FIELDS = {
    ("xlm-roberta-large", 1024, 768): "M-CLIP/XLM-Roberta-Large-Vit-L-14",
    ("xlm-roberta-large", 1024, 512): "M-CLIP/XLM-Roberta-Large-Vit-B-32",
    ("labse", 768, 768): "M-CLIP/LABSE-Vit-L-14",
}
# The base transformers' own configurations (their hub config.json), for a published folder used
# where the hub cannot be reached: the folder carries the weights and tokenizer, not these.
BASE_CONFIGS: dict[str, dict[str, Any]] = {
    "xlm-roberta-large": {
        "model_type": "xlm-roberta", "vocab_size": 250002, "hidden_size": 1024, "num_hidden_layers": 24,
        "num_attention_heads": 16, "intermediate_size": 4096, "max_position_embeddings": 514,
        "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
    },
    "labse": {
        "model_type": "bert", "vocab_size": 501153, "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
    },
}  # fmt: skip
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Longest query the tower reads, in tokens (XLM-R's limit is 512; queries are short).
MAX_QUERY_TOKENS = 128


@dataclass(frozen=True)
class TowerFacts:
    """What a tower declares about itself, read without building it."""

    folder: Path
    image_architecture: str
    image_weights: str
    dim: int

    def fits(self, architecture: str, weights: str, dim: int) -> bool:
        return (self.image_architecture, self.image_weights, self.dim) == (architecture, weights, dim)

    def describe(self) -> str:
        return f"{self.image_architecture}/{self.image_weights} ({self.dim}-d)"


def tower_facts(source: str) -> TowerFacts:
    """The tower's folder and the image model it belongs to; one line when it cannot be found."""
    folder = _folder(source)
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"text model {source}: no readable config.json in {folder} ({exc})") from None
    if not isinstance(config, dict) or config.get("model_type") != "M-CLIP":
        raise ModelError(f"text model {source}: {folder / 'config.json'} is not an M-CLIP text tower")
    dim = int(config.get("numDims") or config.get("imageDimSize") or 0)
    declared = config.get("image_model")
    published = published_name(config) or (source if source in KNOWN_TOWERS else None)
    if isinstance(declared, str) and "/" in declared:
        architecture, weights = declared.split("/", 1)
    elif published is not None:
        architecture, weights, _ = KNOWN_TOWERS[published]
    else:
        raise ModelError(
            f"text model {source}: {folder / 'config.json'} does not say which image model it was trained for"
            f" and is none of the published towers ({', '.join(KNOWN_TOWERS)}):"
            ' add "image_model": "ARCHITECTURE/WEIGHTS" (e.g. "ViT-L-14/openai") to it'
        )
    return TowerFacts(folder, architecture, weights, dim)


def published_name(config: dict[str, Any]) -> str | None:
    """Which published tower a downloaded folder's config.json is: by the name it was saved
    under, else by its base transformer and its two widths; None for any other tower."""
    saved_as = config.get("_name_or_path")
    if isinstance(saved_as, str) and saved_as in KNOWN_TOWERS:
        return saved_as
    base = str(config.get("modelBase") or "").lower().rsplit("/", 1)[-1]
    width = config.get("transformerDimensions") or config.get("transformerDimSize")
    dim = config.get("numDims") or config.get("imageDimSize")
    try:
        return PUBLISHED_FIELDS.get((base, int(width or 0), int(dim or 0)))
    except (TypeError, ValueError):
        return None


def _folder(source: str) -> Path:
    """A local folder as given, else the hub's cached snapshot (downloaded when the hub answers)."""
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        return path
    if not _HUB_NAME.fullmatch(source):  # a path that is not there, not "owner/name"
        raise ModelError(f"text model {source}: no such folder")
    from huggingface_hub import snapshot_download

    offline = not hub_reachable()
    try:
        return Path(snapshot_download(source, local_files_only=offline))
    except Exception as exc:
        if offline:
            raise ModelError(
                f"text model {source} is not cached here and the model hub cannot be reached; download it where"
                " it can and pass its folder with --text-model DIR"
            ) from None
        raise ModelError(f"text model {source}: cannot download it ({exc.__class__.__name__}: {exc})") from None


class TextTower:
    """A loaded M-CLIP tower: texts in any of its languages -> unit vectors in the image space."""

    engine = "torch"

    def __init__(self, facts: TowerFacts, device: str = "cpu") -> None:
        try:
            import torch
            import transformers
        except ImportError:
            raise ModelError(f"--text-model needs transformers: {MULTILINGUAL_EXTRA_HINT}") from None
        from image_recommender.models.quiet import quiet_logging

        self.facts = facts
        self.device = device
        config = json.loads((facts.folder / "config.json").read_text(encoding="utf-8"))
        base = config.get("transformer_config")
        try:
            with quiet_logging():  # transformers logs its guesses about the config on the root logger
                known_base = BASE_CONFIGS.get(str(config.get("modelBase") or "").lower().rsplit("/", 1)[-1])
                if isinstance(base, dict):
                    transformer_config = transformers.AutoConfig.for_model(**base)
                elif known_base is not None and not hub_reachable():
                    transformer_config = transformers.AutoConfig.for_model(**known_base)
                else:
                    transformer_config = transformers.AutoConfig.from_pretrained(
                        config.get("modelBase", "xlm-roberta-large"), local_files_only=not hub_reachable()
                    )
                self.transformer = transformers.AutoModel.from_config(transformer_config)
                width = int(config.get("transformerDimensions") or config.get("transformerDimSize") or 0)
                self.projection = torch.nn.Linear(width, facts.dim)
                self._load_weights(torch)
            self.tokenizer = _tokenizer(facts.folder)
        except ModelError:
            raise
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise ModelError(f"text model {facts.folder}: cannot load it ({text[:200]})") from None
        self.transformer.to(device).eval()
        self.projection.to(device).eval()
        self._query = self.query_module()

    def _load_weights(self, torch: Any) -> None:
        folder = self.facts.folder
        if (folder / "model.safetensors").is_file():
            from safetensors.torch import load_file

            state = load_file(str(folder / "model.safetensors"))
        elif (folder / "pytorch_model.bin").is_file():
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise ModelError(f"text model {folder}: no model.safetensors or pytorch_model.bin")
        transformer = {
            key[len("transformer.") :]: value for key, value in state.items() if key.startswith("transformer.")
        }
        projection = {
            key[len("LinearTransformation.") :]: value
            for key, value in state.items()
            if key.startswith("LinearTransformation.")
        }
        missing, _ = self.transformer.load_state_dict(transformer, strict=False)
        if [name for name in missing if "position_ids" not in name] or set(projection) != {"weight", "bias"}:
            raise ModelError(f"text model {folder}: its weights do not fit its config")
        self.projection.load_state_dict(projection)

    def query_module(self) -> Any:
        """The whole query as one module (inputs ``input_ids``, ``attention_mask``): the mean of
        the transformer's outputs over the attention mask, mapped into the image space, unit length."""
        import torch

        transformer, projection = self.transformer, self.projection

        class Query(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.transformer, self.projection = transformer, projection

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask)[0]
                mask = attention_mask.unsqueeze(2).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
                return torch.nn.functional.normalize(self.projection(pooled), dim=-1)

        return Query().eval()

    def tokens(self, texts: list[str], kind: str = "pt") -> Any:
        return self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_QUERY_TOKENS, return_tensors=kind)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """(N, dim) float32 unit vectors in the image space."""
        import torch

        with torch.inference_mode():
            tokens = self.tokens(texts).to(self.device)
            vectors = self._query(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
            return vectors.float().cpu().numpy()


def load_text_tower(
    facts: TowerFacts, device: str, precision: str, engine: str, openvino_device: str, cache_dir: Path
) -> TextTower | OpenVinoTextTower:
    """The tower on the engine the settings choose, by the image models' rule: OpenVINO on a CPU
    where it is installed (converted once, then loaded without building the torch tower), else
    torch (GPUs, ``engine = torch``)."""
    from image_recommender.models import openvino_engine
    from image_recommender.models.cached_engine import cpu_has_bf16, nvidia_gpu_present

    on_cpu = device == "cpu" or (device == "auto" and not nvidia_gpu_present())
    if engine == "torch" or not on_cpu or (engine == "auto" and not openvino_engine.openvino_installed()):
        from image_recommender.models.torch_model import resolve_device

        return TextTower(facts, resolve_device(device))
    openvino_engine.require_openvino()
    from image_recommender.models import openvino_text

    chosen = precision if precision != "auto" else ("bf16" if cpu_has_bf16() else "fp32")
    key = openvino_text.tower_key(facts.folder)
    converted = openvino_text.find_converted(cache_dir, key)
    if converted is None:
        tower = TextTower(facts, "cpu")
        example = tower.tokens(["eine Straße im Schnee", "a dog"])
        module = tower.query_module()
        converted = openvino_text.convert(
            cache_dir, key, module, {"input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}
        )
        tokenizer = tower.tokenizer
        del tower, module
    else:
        tokenizer = _tokenizer(facts.folder)
    return openvino_text.OpenVinoTextTower(converted, tokenizer, MAX_QUERY_TOKENS, openvino_device, chosen)


def _tokenizer(folder: Path) -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(f"--text-model needs transformers: {MULTILINGUAL_EXTRA_HINT}") from None
    from image_recommender.models.quiet import quiet_logging

    try:
        with quiet_logging():  # transformers warns that "M-CLIP" is no model type it knows
            return transformers.AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:
        raise ModelError(f"text model {folder}: cannot load its tokenizer ({str(exc)[:200]})") from None

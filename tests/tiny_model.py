"""A tiny second sentence-transformers model (random weights, 32 dimensions), built offline
from the packaged MiniLM tokenizer: enough to test a model switch with another vector size."""

from __future__ import annotations

from pathlib import Path

from rag_pipeline.models import resolve_model


def build_tiny_model(folder: Path, dimension: int = 32, seed: int = 0) -> Path:
    """Seeded: with weights drawn anew each session, the test that expects this model to miss
    its golden questions once found both by chance and failed."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = resolve_model("all-MiniLM-L6-v2").path
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=dimension,
                        num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=dimension * 2, max_position_embeddings=512)
    bert_dir = folder / "bert"
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(bert_dir))
    tokenizer.save_pretrained(str(bert_dir))
    transformer = models.Transformer(str(bert_dir), max_seq_length=256)
    pooling = models.Pooling(dimension, pooling_mode="mean")
    model_dir = folder / "tiny-model"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()]).save(str(model_dir))
    return model_dir

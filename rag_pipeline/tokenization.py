"""The embedding model's own tokenizer, used to size chunks (no torch needed)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

TokenSpans = tuple[list[tuple[int, int]], list[int | None]]
"""Character span and word number of every token of a text."""


class ModelTokenizer:
    """Counts tokens exactly as the embedding model will, so no chunk is silently truncated."""

    def __init__(self, model_path: Path, max_seq_length: int) -> None:
        tokenizer_file = model_path / "tokenizer.json"
        if tokenizer_file.exists():
            self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        else:  # slow-tokenizer-only models: let transformers build the fast tokenizer
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(str(model_path))._tokenizer
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.num_special_tokens = len(self._tokenizer.encode("", add_special_tokens=True).ids)
        self.max_seq_length = max_seq_length
        self.max_content_tokens = max_seq_length - self.num_special_tokens
        normalizer = self._tokenizer.normalizer
        self.words_tokenize_alone = (
            isinstance(self._tokenizer.pre_tokenizer, pre_tokenizers.BertPreTokenizer)
            and isinstance(self._tokenizer.model, models.WordPiece)
            and (normalizer is None or isinstance(normalizer, normalizers.BertNormalizer)))
        """True for BERT's tokenizer (both packaged models): text is split into words at
        whitespace and punctuation, character by character, and each word is tokenized on its
        own. A span made of whole words then has exactly the tokens it has inside its text."""

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of every token of `text` (special tokens excluded)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)

    def spans_many(self, texts: list[str]) -> list[TokenSpans]:
        """`offsets` and word numbers of several texts in one call (the tokenizer spreads it
        over the cores)."""
        if not texts:
            return []
        return [(e.offsets, e.word_ids)  # each a new list
                for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def count(self, texts: list[str]) -> list[int]:
        """Content tokens per text (what the model sees, minus its special tokens)."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]


@lru_cache(maxsize=4)
def tokenizer_for(model_path: Path, max_seq_length: int) -> ModelTokenizer:
    return ModelTokenizer(model_path, max_seq_length)

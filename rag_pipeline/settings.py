"""Pipeline settings: defaults, overridable by environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

NUM_SHARDS = 16
"""Documents are spread over this many hash shards (the Dagster partitions). Fixed: changing it
moves documents between shards, so it is a constant, not a setting."""

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_COLLECTION_ALIAS = "chunks"


def resolve_source(uri: str | None, folder: str) -> tuple[Path, str | None]:
    """(source folder, store URI) from RAG_SOURCE_URI and RAG_SOURCE_DIR. The URI wins: a
    store's URL (a scheme other than file://), or a folder (a path or file:// URL)."""
    uri = (uri or "").strip()
    if "://" in uri and not uri.startswith("file://"):
        return Path(folder).expanduser(), uri
    if uri:
        return Path(uri.removeprefix("file://")).expanduser(), None
    return Path(folder).expanduser(), None


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def sensor_interval_seconds() -> int:
    """Seconds between two ticks of the source sensor (RAG_SENSOR_INTERVAL_SECONDS): read when
    the Dagster definitions load, since Dagster fixes a sensor's interval there."""
    seconds = _env_int("RAG_SENSOR_INTERVAL_SECONDS", 30)
    if seconds < 1:
        raise ValueError(f"RAG_SENSOR_INTERVAL_SECONDS must be at least 1, got {seconds}")
    return seconds


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "").strip()
    return tuple(p.strip() for p in raw.split(",") if p.strip()) if raw else default


@dataclass(frozen=True)
class QualityThresholds:
    """Asset-check thresholds (documented in the README; env vars RAG_CHECK_*)."""

    tiny_chunk_tokens: int = 8
    min_chunks_for_shares: int = 20
    """Share checks need a sample: smaller batches (one new note, say) pass them."""
    max_document_garbled_share: float = 0.5
    """A document with more garbled chunks than this is quarantined (failed, with the reason)."""
    max_tiny_share: float = 0.25
    max_duplicate_share: float = 0.25
    max_garbled_share: float = 0.05
    retrieval_k: int = 5
    min_retrieval_recall: float = 0.75
    payload_sample_size: int = 20
    token_recount_margin: int = 32
    """Chunks counted within this many tokens of the model's limit are all recounted..."""
    token_recount_sample: int = 1000
    """...and this many of the others, chosen at random (see quality.token_recount_sample)."""
    min_probe_cosine: float = 0.999
    """The drift canary: a probe text's vector may move this little (`rag_pipeline.drift`)."""

    @classmethod
    def from_env(cls) -> QualityThresholds:
        d = cls()
        return cls(
            tiny_chunk_tokens=_env_int("RAG_CHECK_TINY_CHUNK_TOKENS", d.tiny_chunk_tokens),
            min_chunks_for_shares=_env_int("RAG_CHECK_MIN_CHUNKS_FOR_SHARES",
                                           d.min_chunks_for_shares),
            max_tiny_share=float(_env("RAG_CHECK_MAX_TINY_SHARE", str(d.max_tiny_share))),
            max_duplicate_share=float(
                _env("RAG_CHECK_MAX_DUPLICATE_SHARE", str(d.max_duplicate_share))),
            max_garbled_share=float(
                _env("RAG_CHECK_MAX_GARBLED_SHARE", str(d.max_garbled_share))),
            retrieval_k=_env_int("RAG_CHECK_RETRIEVAL_K", d.retrieval_k),
            min_retrieval_recall=float(
                _env("RAG_CHECK_MIN_RETRIEVAL_RECALL", str(d.min_retrieval_recall))),
            token_recount_sample=_env_int("RAG_CHECK_TOKEN_RECOUNT_SAMPLE",
                                          d.token_recount_sample),
            min_probe_cosine=float(
                _env("RAG_CHECK_MIN_PROBE_COSINE", str(d.min_probe_cosine))),
        )


@dataclass(frozen=True)
class EmbeddingEndpoint:
    """Where an `openai:` embedding model is served: an OpenAI-compatible `/v1/embeddings` API
    (OpenAI, Text Embeddings Inference, vLLM, Ollama, Infinity). Env vars RAG_EMBEDDING_*; how
    the vectors are made (model, dimensions) is the model reference, not these."""

    url: str | None = None
    """The API's base URL, e.g. https://api.openai.com/v1 (requests go to {url}/embeddings)."""
    api_key: str | None = field(default=None, repr=False)
    concurrency: int = 4
    """Requests in flight at once."""
    requests_per_minute: int = 0
    """The provider's request limit (0: none): requests wait for their turn instead of 429s."""
    tokens_per_minute: int = 0
    """The provider's token limit (0: none), counted with the chunking tokenizer."""
    timeout_seconds: float = 60.0
    max_attempts: int = 6
    """Tries per request on a 429, a 5xx, a timeout or a dropped connection, then it fails."""
    backoff_seconds: float = 1.0
    """The first retry waits up to this long (random, doubling per attempt, at most 60 s)
    unless the answer says how long (Retry-After)."""

    @classmethod
    def from_env(cls) -> EmbeddingEndpoint:
        d = cls()
        return cls(
            url=os.environ.get("RAG_EMBEDDING_URL", "").strip() or None,
            api_key=os.environ.get("RAG_EMBEDDING_API_KEY", "").strip() or None,
            concurrency=_env_int("RAG_EMBEDDING_CONCURRENCY", d.concurrency),
            requests_per_minute=_env_int("RAG_EMBEDDING_REQUESTS_PER_MINUTE",
                                         d.requests_per_minute),
            tokens_per_minute=_env_int("RAG_EMBEDDING_TOKENS_PER_MINUTE", d.tokens_per_minute),
            timeout_seconds=float(_env("RAG_EMBEDDING_TIMEOUT_SECONDS", str(d.timeout_seconds))),
            max_attempts=_env_int("RAG_EMBEDDING_MAX_ATTEMPTS", d.max_attempts),
            backoff_seconds=float(_env("RAG_EMBEDDING_BACKOFF_SECONDS", str(d.backoff_seconds))),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the core needs to know about where things are and how to process them."""

    source_dir: Path
    data_dir: Path
    source_uri: str | None = None
    """An object store's bucket and prefix (s3://bucket/prefix) or any other fsspec URL: the
    documents come from there instead of `source_dir`."""
    qdrant_url: str | None = None
    qdrant_api_key: str | None = field(default=None, repr=False)
    qdrant_timeout_seconds: int = 30
    collection_alias: str = DEFAULT_COLLECTION_ALIAS
    qdrant_embedded: str = "edge"
    """Without a server URL: edge (Qdrant Edge, Qdrant's engine in-process) or local-mode
    (qdrant-client's test mode, the stand-in for a server in tests)."""
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    embedding_batch_size: int = 32
    embedding_workers: int = 2
    """Embedding worker processes, each with cores / workers threads; 1: in the run's process."""
    embedding_device: str = "auto"
    """auto (CUDA, then Apple's MPS, then the CPU), cpu, cuda, cuda:N or mps."""
    embedding_endpoint: EmbeddingEndpoint = field(default_factory=EmbeddingEndpoint)
    """Where an `openai:` model is served."""
    chunk_tokens: int = 200
    chunk_overlap_tokens: int = 32
    include_globs: tuple[str, ...] = ("**/*",)
    exclude_globs: tuple[str, ...] = ()
    max_delete_share: float = 0.5
    """Refuse to delete when a listing loses more than this share of the known documents."""
    mass_delete_min_documents: int = 10
    """...provided at least this many documents are known (tiny folders are exempt)."""
    keep_previous_collections: int = 2
    """Collections kept for rollback besides the live one and the target."""
    extract_timeout_seconds: float = 120.0
    extract_memory_mb: int = 4096
    extract_workers: int = 2
    max_file_mb: int = 200
    max_pages: int = 2000
    ocr_language: str = "eng"
    """Tesseract language(s) for pages without a text layer; empty turns OCR off."""
    ocr_max_pages: int = 20
    bm25_k1: float = 0.9
    """BM25 term-frequency saturation (Anserini's default; see the README's tuning table)."""
    bm25_b: float = 0.4
    """BM25 length normalisation (Anserini's default)."""
    rrf_k: int = 60
    """Hybrid search: fused score = sum over retrievers of 1 / (rrf_k + rank)."""
    keyword_index: str = "auto"
    """Which BM25 answers searches: rank-bm25 (the file beside the index), qdrant (the
    collection's sparse vectors, always written), or auto: rank-bm25 on qdrant-client's local
    mode, qdrant on Qdrant Edge and on a server (see the README's scale figures)."""
    quality: QualityThresholds = field(default_factory=QualityThresholds)
    golden_set: Path | None = PROJECT_ROOT / "golden_questions.json"
    """Questions with the document expected in the top k (the retrieval smoke check)."""

    @classmethod
    def from_env(cls) -> Settings:
        source_dir, source_uri = resolve_source(
            os.environ.get("RAG_SOURCE_URI"), _env("RAG_SOURCE_DIR", str(PROJECT_ROOT / "inbox")))
        return cls(
            source_dir=source_dir,
            source_uri=source_uri,
            data_dir=Path(_env("RAG_DATA_DIR", str(PROJECT_ROOT / "data"))).expanduser(),
            qdrant_url=os.environ.get("QDRANT_URL", "").strip() or None,
            qdrant_api_key=os.environ.get("QDRANT_API_KEY", "").strip() or None,
            qdrant_embedded=_env("RAG_QDRANT_EMBEDDED", "edge"),
            embedding_model=_env("RAG_EMBEDDING_MODEL", DEFAULT_EMBEDDING_MODEL),
            embedding_batch_size=_env_int("RAG_EMBEDDING_BATCH_SIZE", 32),
            embedding_workers=_env_int("RAG_EMBEDDING_WORKERS", 2),
            embedding_device=_env("RAG_EMBEDDING_DEVICE", "auto"),
            embedding_endpoint=EmbeddingEndpoint.from_env(),
            chunk_tokens=_env_int("RAG_CHUNK_TOKENS", 200),
            chunk_overlap_tokens=_env_int("RAG_CHUNK_OVERLAP_TOKENS", 32),
            include_globs=_env_list("RAG_INCLUDE_GLOBS", ("**/*",)),
            exclude_globs=_env_list("RAG_EXCLUDE_GLOBS", ()),
            max_delete_share=float(_env("RAG_MAX_DELETE_SHARE", "0.5")),
            mass_delete_min_documents=_env_int("RAG_MASS_DELETE_MIN_DOCUMENTS", 10),
            keep_previous_collections=_env_int("RAG_KEEP_PREVIOUS_COLLECTIONS", 2),
            extract_timeout_seconds=float(_env("RAG_EXTRACT_TIMEOUT_SECONDS", "120")),
            extract_memory_mb=_env_int("RAG_EXTRACT_MEMORY_MB", 4096),
            extract_workers=_env_int("RAG_EXTRACT_WORKERS", 2),
            max_file_mb=_env_int("RAG_MAX_FILE_MB", 200),
            max_pages=_env_int("RAG_MAX_PAGES", 2000),
            ocr_language=os.environ.get("RAG_OCR_LANGUAGE", "eng").strip(),
            ocr_max_pages=_env_int("RAG_OCR_MAX_PAGES", 20),
            bm25_k1=float(_env("RAG_BM25_K1", "0.9")),
            bm25_b=float(_env("RAG_BM25_B", "0.4")),
            rrf_k=_env_int("RAG_RRF_K", 60),
            keyword_index=_env("RAG_KEYWORD_INDEX", "auto"),
            quality=QualityThresholds.from_env(),
            golden_set=Path(_env("RAG_GOLDEN_SET", str(PROJECT_ROOT / "golden_questions.json"))),
        )

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "ledger.sqlite"

    @property
    def embedding_cache_path(self) -> Path:
        return self.data_dir / "embedding_cache.sqlite"

    @property
    def bm25_path(self) -> Path:
        return self.data_dir / "bm25" / "index.npz"

    @property
    def qdrant_path(self) -> Path:
        """The embedded store's folder (one per engine: their files differ)."""
        return self.data_dir / ("qdrant-edge" if self.qdrant_embedded == "edge" else "qdrant")

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"

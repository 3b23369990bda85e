"""Pipeline settings: each declared once with its default, environment variable and help."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag_pipeline.setting_fields import (
    SettingError,
    build,
    fields_of,
    flatten,
    section,
    setting,
    values_from_env,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

NUM_SHARDS = 16
"""Documents are spread over this many hash shards (the Dagster partitions). Fixed: changing it
moves documents between shards, so it is a constant, not a setting."""

EMBEDDED_ENGINES = ("edge", "local-mode")
"""Qdrant without a server: Qdrant Edge, or qdrant-client's local mode."""
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_COLLECTION_ALIAS = "chunks"


def _definitions_int(variable: str, default: int, minimum: int) -> int:
    """A setting Dagster fixes when the definitions load (a sensor's interval, a backfill
    policy), so it is read from the environment then, not per run."""
    raw = os.environ.get(variable, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingError(f"{variable} must be int, got {raw!r}") from exc
    if value < minimum:
        raise SettingError(f"{variable} must be at least {minimum}, got {value}")
    return value


def sensor_interval_seconds() -> int:
    """Seconds between two ticks of the source sensor (RAG_SENSOR_INTERVAL_SECONDS)."""
    return _definitions_int("RAG_SENSOR_INTERVAL_SECONDS", 30, 1)


def index_freshness_hours() -> int:
    """RAG_INDEX_FRESHNESS_HOURS: the UI marks a knowledge base's published index stale
    (and freshness alerting fires) when it was not refreshed for this long. Off (0) by
    default: the index is refreshed only when documents change, so a quiet source would
    look stale; set it where documents arrive on a known rhythm (a nightly export)."""
    return _definitions_int("RAG_INDEX_FRESHNESS_HOURS", 0, 0)


def max_shards_per_run() -> int:
    """RAG_MAX_SHARDS_PER_RUN: 0 (the default) makes every backfill and every sensor request
    one run over all its shards, right for one machine; N splits them into runs of at most N
    shards, which several workers (run launchers, executors) can process at once."""
    return _definitions_int("RAG_MAX_SHARDS_PER_RUN", 0, 0)


@dataclass(frozen=True)
class QualityThresholds:
    """Asset-check thresholds (see the README's "Asset checks")."""

    tiny_chunk_tokens: int = setting(8, "RAG_CHECK_TINY_CHUNK_TOKENS",
                                     "A chunk with fewer tokens is tiny")
    min_chunks_for_shares: int = setting(
        20, "RAG_CHECK_MIN_CHUNKS_FOR_SHARES", "Share checks judge batches of at least this "
        "many chunks: smaller batches (one new note, say) pass them")
    max_document_garbled_share: float = setting(
        0.5, "RAG_CHECK_MAX_DOCUMENT_GARBLED_SHARE", "A document with more garbled chunks "
        "than this share is quarantined (failed, with the reason)")
    max_tiny_share: float = setting(0.25, "RAG_CHECK_MAX_TINY_SHARE",
                                    "Most tiny chunks a batch may have")
    max_duplicate_share: float = setting(0.25, "RAG_CHECK_MAX_DUPLICATE_SHARE",
                                         "Most repeated chunk texts a batch may have")
    max_garbled_share: float = setting(0.05, "RAG_CHECK_MAX_GARBLED_SHARE",
                                       "Most garbled chunks a batch may have")
    retrieval_k: int = setting(5, "RAG_CHECK_RETRIEVAL_K",
                               "Retrieval smoke check: the golden document in the top k")
    min_retrieval_recall: float = setting(0.75, "RAG_CHECK_MIN_RETRIEVAL_RECALL",
                                          "Retrieval smoke check: lowest recall@k")
    payload_sample_size: int = setting(20, "RAG_CHECK_PAYLOAD_SAMPLE_SIZE",
                                       "Points read back to check their payload")
    token_recount_margin: int = setting(
        32, "RAG_CHECK_TOKEN_RECOUNT_MARGIN", "Chunks counted within this many tokens of the "
        "model's limit are all recounted with the model's tokenizer...")
    token_recount_sample: int = setting(
        1000, "RAG_CHECK_TOKEN_RECOUNT_SAMPLE", "...and this many of the others, at random")
    min_probe_cosine: float = setting(
        0.999, "RAG_CHECK_MIN_PROBE_COSINE", "Drift canary: lowest cosine of a probe text's "
        "vector to the one the model first gave (`rag_pipeline.drift`)")


@dataclass(frozen=True)
class EmbeddingEndpoint:
    """Where an `openai:` embedding model is served: an OpenAI-compatible `/v1/embeddings` API
    (OpenAI, Text Embeddings Inference, vLLM, Ollama, Infinity). How the vectors are made
    (model, dimensions) is the model reference, not these."""

    url: str | None = setting(None, "RAG_EMBEDDING_URL", "The API's base URL, e.g. "
                              "https://api.openai.com/v1 (requests go to {url}/embeddings)")
    api_key: str | None = setting(None, "RAG_EMBEDDING_API_KEY", "Its API key (a Bearer "
                                  "token)", secret=True)
    concurrency: int = setting(4, "RAG_EMBEDDING_CONCURRENCY", "Requests in flight at once")
    requests_per_minute: int = setting(
        0, "RAG_EMBEDDING_REQUESTS_PER_MINUTE", "The provider's request limit (0: none): "
        "requests wait for their turn instead of 429s")
    tokens_per_minute: int = setting(
        0, "RAG_EMBEDDING_TOKENS_PER_MINUTE", "The provider's token limit (0: none), counted "
        "with the chunking tokenizer")
    timeout_seconds: float = setting(60.0, "RAG_EMBEDDING_TIMEOUT_SECONDS",
                                     "Time limit of one request")
    max_attempts: int = setting(6, "RAG_EMBEDDING_MAX_ATTEMPTS", "Tries per request on a 429, "
                                "a 5xx, a timeout or a dropped connection, then it fails")
    backoff_seconds: float = setting(
        1.0, "RAG_EMBEDDING_BACKOFF_SECONDS", "The first retry waits up to this long (random, "
        "doubling per attempt, at most 60 s) unless the answer says how long (Retry-After)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbeddingEndpoint:
        fields = fields_of(cls)
        return build(cls, fields, values_from_env(fields, os.environ if environ is None
                                                  else environ))


@dataclass(frozen=True)
class QdrantSettings:
    """Which Qdrant holds the index: a server when `url` is set, else an embedded engine."""

    url: str | None = setting(None, "QDRANT_URL", "Qdrant server URL, e.g. "
                              "http://localhost:6333, instead of the embedded engine")
    api_key: str | None = setting(None, "QDRANT_API_KEY", "API key for that server",
                                  secret=True)
    timeout_seconds: int = setting(30, "RAG_QDRANT_TIMEOUT_SECONDS",
                                   "Time limit of one request to the server")
    collection_alias: str = setting(DEFAULT_COLLECTION_ALIAS, "RAG_COLLECTION_ALIAS",
                                    "The alias searches read; collections are named after it")
    embedded: str = setting("edge", "RAG_QDRANT_EMBEDDED", "Without a URL: edge (Qdrant's "
                            "engine in-process) or local-mode (qdrant-client's test mode, the "
                            "stand-in for a server in tests)", choices=EMBEDDED_ENGINES)


@dataclass(frozen=True)
class Settings:
    """Everything the core needs to know about where things are and how to process them.

    Each setting is declared once, here (`rag_pipeline.setting_fields`): the environment,
    the Dagster resources and the CLI all read these declarations."""

    source_dir: Path = setting(PROJECT_ROOT / "inbox", "RAG_SOURCE_DIR",
                               "Folder of documents (recursive)", required=True)
    data_dir: Path = setting(PROJECT_ROOT / "data", "RAG_DATA_DIR", "Ledger, caches, BM25 "
                             "index, embedded Qdrant, stage hand-over files", required=True)
    source_uri: str | None = setting(
        None, "RAG_SOURCE_URI", "Documents in an object store instead: s3://bucket/prefix or "
        "another fsspec URL (credentials from the store's standard variables, e.g. "
        "AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL); a path or file:// URL is a folder")
    database_url: str | None = setting(
        None, "RAG_DATABASE_URL", "Pipeline state (ledger, collection registry, embedding "
        "cache) on a database server, e.g. postgresql+psycopg://user:password@host/db; "
        "default: SQLite files in the data folder", secret=True)
    database_schema: str | None = setting(
        None, "RAG_DATABASE_SCHEMA", "The PostgreSQL schema of this knowledge base's state "
        "(default: the URL's own; further knowledge bases default to their name)")
    staging_uri: str | None = setting(
        None, "RAG_STAGING_URI", "Where stages hand their batches over: a folder (default: "
        "the data folder's staging/) or an object store, e.g. s3://bucket/staging, that "
        "workers on other machines can read")
    qdrant: QdrantSettings = section(QdrantSettings, "qdrant_")
    embedding_model: str = setting(
        DEFAULT_EMBEDDING_MODEL, "RAG_EMBEDDING_MODEL", "A packaged model name, a local "
        "sentence-transformers folder (either with ?backend=onnx-int8), or openai:<model>")
    embedding_batch_size: int = setting(32, "RAG_EMBEDDING_BATCH_SIZE",
                                        "Texts per batch (per request for an openai: model)")
    embedding_workers: int = setting(2, "RAG_EMBEDDING_WORKERS", "Embedding worker processes, "
                                     "each with cores / workers threads; 1: in the run's process")
    embedding_device: str = setting("auto", "RAG_EMBEDDING_DEVICE", "auto (CUDA, then Apple's "
                                    "MPS, then the CPU), cpu, cuda, cuda:N or mps")
    embedding_cache_dir: Path | None = setting(
        None, "RAG_EMBEDDING_CACHE_DIR", "Folder of the embedding cache (default: the data "
        "folder); knowledge bases share the first one's, so a text is embedded once per model")
    embedding_endpoint: EmbeddingEndpoint = section(EmbeddingEndpoint, "embedding_")
    chunk_tokens: int = setting(200, "RAG_CHUNK_TOKENS",
                                "Max tokens per chunk, counted by the model's tokenizer")
    chunk_overlap_tokens: int = setting(32, "RAG_CHUNK_OVERLAP_TOKENS", "Trailing sentences "
                                        "repeated at the start of the next chunk, up to this")
    include_globs: tuple[str, ...] = setting(("**/*",), "RAG_INCLUDE_GLOBS", "Comma-separated "
                                             "globs on paths relative to the source")
    exclude_globs: tuple[str, ...] = setting((), "RAG_EXCLUDE_GLOBS", "Comma-separated globs "
                                             "of paths to leave out")
    max_delete_share: float = setting(
        0.5, "RAG_MAX_DELETE_SHARE", "Refuse a tick or run whose listing loses more than "
        "this share of the known documents...")
    mass_delete_min_documents: int = setting(
        10, "RAG_MASS_DELETE_MIN_DOCUMENTS", "...once at least this many are known (tiny "
        "folders are exempt)")
    keep_previous_collections: int = setting(
        2, "RAG_KEEP_PREVIOUS_COLLECTIONS", "Collections kept for rollback besides the live "
        "one and the target")
    extract_timeout_seconds: float = setting(120.0, "RAG_EXTRACT_TIMEOUT_SECONDS",
                                             "Extraction time limit per document, or per "
                                             "group of short text files")
    extract_memory_mb: int = setting(4096, "RAG_EXTRACT_MEMORY_MB", "Memory an extraction "
                                     "worker may use beyond its warmed-up size")
    extract_workers: int = setting(2, "RAG_EXTRACT_WORKERS", "Extraction worker processes")
    max_file_mb: int = setting(200, "RAG_MAX_FILE_MB", "Larger documents fail with the reason")
    max_pages: int = setting(2000, "RAG_MAX_PAGES", "Longer documents fail with the reason")
    ocr_language: str = setting(
        "eng", "RAG_OCR_LANGUAGE", "Tesseract language(s) for pages without a text layer; "
        "empty turns OCR off", blank_is_value=True)
    ocr_max_pages: int = setting(20, "RAG_OCR_MAX_PAGES", "Pages OCRed per document at most")
    bm25_k1: float = setting(0.9, "RAG_BM25_K1", "BM25 term-frequency saturation (Anserini's "
                             "default; see the README's tuning table)")
    bm25_b: float = setting(0.4, "RAG_BM25_B", "BM25 length normalisation (Anserini's "
                            "default)")
    rrf_k: int = setting(60, "RAG_RRF_K",
                         "Hybrid search: fused score = sum over retrievers of 1 / (rrf_k + rank)")
    keyword_index: str = setting(
        "auto", "RAG_KEYWORD_INDEX", "Which BM25 answers searches: rank-bm25 (the file beside "
        "the index), qdrant (the collection's sparse vectors), or auto: rank-bm25 on local "
        "mode, qdrant on Qdrant Edge and on a server", choices=("auto", "rank-bm25", "qdrant"))
    quality: QualityThresholds = section(QualityThresholds, "")
    golden_set: Path | None = setting(PROJECT_ROOT / "golden_questions.json", "RAG_GOLDEN_SET",
                                      "Questions with the document expected in the top k "
                                      "(the retrieval smoke check)")

    def __post_init__(self) -> None:
        """A folder given as the source URI (a path or file:// URL) is the source folder."""
        uri = (self.source_uri or "").strip()
        if "://" in uri and not uri.startswith("file://"):
            return
        if uri:
            object.__setattr__(self, "source_dir", Path(uri.removeprefix("file://")).expanduser())
        object.__setattr__(self, "source_uri", None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls.from_flat(values_from_env(SETTING_FIELDS, os.environ if environ is None
                                             else environ))

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> Settings:
        """From flat names (`SETTING_FIELDS`) and plain values, the rest at their defaults."""
        return build(cls, SETTING_FIELDS, values)

    def to_flat(self) -> dict[str, Any]:
        return flatten(self, SETTING_FIELDS)

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "ledger.sqlite"

    @property
    def embedding_cache_path(self) -> Path:
        """Vectors by (model fingerprint, text hash): safe to share between knowledge bases,
        and between concurrent runs (SQLite serialises the writers)."""
        return (self.embedding_cache_dir or self.data_dir) / "embedding_cache.sqlite"

    @property
    def bm25_path(self) -> Path:
        return self.data_dir / "bm25" / "index.npz"

    @property
    def qdrant_path(self) -> Path:
        """The embedded store's folder (one per engine: their files differ)."""
        return self.data_dir / ("qdrant-edge" if self.qdrant.embedded == "edge" else "qdrant")

    @property
    def staging_dir(self) -> Path:
        return self.data_dir / "staging"


SETTING_FIELDS = fields_of(Settings)
"""Every setting in flat form: what the environment, the Dagster resources and a knowledge
base's configuration set."""

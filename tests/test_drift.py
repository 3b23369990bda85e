"""The drift canary: the same model name giving other vectors stops the batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline.drift import PROBE_TEXTS, _namespace, check_drift
from rag_pipeline.embedding_cache import EmbeddingCache
from rag_pipeline.ids import text_hash
from rag_pipeline.pipeline.services import PipelineServices
from rag_pipeline.settings import Settings
from tests.fixtures import write_knowledge_base, write_text
from tests.test_kill_and_rerun import cached_vectors
from tests.test_pipeline import index_sizes


def _vectors(seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(len(PROBE_TEXTS), 16))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_the_first_probe_stores_then_later_ones_compare(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    same = _vectors(1)
    first = check_drift(lambda texts: same, cache, "fp1", "model-a", 0.999)
    assert first.passed and first.metadata["probe_baseline"] == "created"
    again = check_drift(lambda texts: same, cache, "fp1", "model-a", 0.999)
    assert again.passed and again.metadata["probe_baseline"] == "compared"
    assert again.metadata["num_moved"] == 0

    nudged = same.copy()
    nudged[2] += 0.1  # one probe moves (cosine about 0.995), the others stay
    moved = check_drift(lambda texts: nudged, cache, "fp1", "model-a", 0.999)
    assert not moved.passed and moved.metadata["num_moved"] == 1
    assert "model-a (fp1)" in moved.description and "changed under the same name" in (
        moved.description)
    assert moved.metadata["moved"][0]["probe"] == PROBE_TEXTS[2][:60]
    # Another fingerprint has its own probes; the stored ones were not overwritten.
    assert check_drift(lambda texts: nudged, cache, "fp2", "model-b", 0.999).passed
    assert not check_drift(lambda texts: nudged, cache, "fp1", "model-a", 0.999).passed


def test_a_model_whose_vectors_moved_writes_nothing(settings: Settings) -> None:
    settings = Settings(source_dir=settings.source_dir, data_dir=settings.data_dir,
                        golden_set=None)
    write_knowledge_base(settings.source_dir)
    reports = run_ingest(settings)  # it embeds: the probes are stored
    assert reports["chunk_embeddings"]["drift_probe_baseline"] == "created"
    assert reports["checks"]["chunk_embeddings_no_drift"][0] is True

    reports = run_ingest(settings)  # nothing to embed: the model is not loaded for probes
    assert reports["chunk_embeddings"]["drift_probe_baseline"] == "skipped"

    services = PipelineServices(settings)
    fingerprint = services.model.fingerprint
    hashes = [text_hash(text) for text in PROBE_TEXTS]
    stored = services.embedding_cache.get(_namespace(fingerprint), hashes)
    # As if the model had given other vectors when the collection was made: every probe
    # moved to a cosine of about 0.98.
    noise = np.random.default_rng(3).normal(size=(len(hashes), len(stored[hashes[0]])))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    earlier = {h: stored[h] + 0.2 * n for h, n in zip(hashes, noise, strict=True)}
    services.embedding_cache.put(_namespace(fingerprint), earlier)
    before, vectors_before = index_sizes(settings), cached_vectors(settings)
    write_text(settings.source_dir / "tides.md", "# Tides\n\nThe moon raises the tides twice a "
               "day, and the sun adds spring and neap tides.\n")

    with pytest.raises(IngestError, match="chunk_embeddings_no_drift"):
        run_ingest(settings)
    assert index_sizes(settings) == before
    ledger = PipelineServices(settings).ledger
    assert "tides.md" not in {d.source_path for d in ledger.documents().values()}
    assert cached_vectors(settings) == vectors_before  # not one vector of the moved model

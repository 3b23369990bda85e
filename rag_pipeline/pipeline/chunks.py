"""Stage 3: cleaned documents become chunks sized by the embedding model's tokenizer."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from rag_pipeline.pipeline.batch import ShardBatch
from rag_pipeline.pipeline.lineage import CHUNKED, read_input
from rag_pipeline.pipeline.services import Log, PipelineServices
from rag_pipeline.quality import document_garbled_reason
from rag_pipeline.records import ChunkedDocument, DocumentFailure


def chunk_shards(services: PipelineServices, shards: list[str], log: Log) -> dict[str, object]:
    started = time.perf_counter()
    chunker = services.chunker
    thresholds = services.settings.quality
    token_counts: list[int] = []
    num_documents = 0
    previews: list[str] = []
    for shard in shards:
        batch: ShardBatch = read_input(services.stages, CHUNKED, shard)
        chunked, failures = [], list(batch.failures)
        for document, chunks in zip(batch.cleaned, chunker.chunk_many(list(batch.cleaned)),
                                    strict=True):
            if isinstance(chunks, Exception):  # one document's bad text must not stop the batch
                failures.append(DocumentFailure(
                    document.source, document.file_hash,
                    f"chunking failed: {type(chunks).__name__}: {chunks}"))
                log.warning(f"chunking failed for {document.source.relative_path}: {chunks}")
                continue
            garbled = document_garbled_reason(chunks, thresholds.max_document_garbled_share)
            if garbled:
                failures.append(DocumentFailure(document.source, document.file_hash, garbled))
                log.warning(f"quarantined {document.source.relative_path}: {garbled}")
                continue
            chunked.append(ChunkedDocument(document, chunks))
            token_counts.extend(c.num_tokens for c in chunks)
            if len(previews) < 3 and chunks:
                first = chunks[0]
                pages = ",".join(map(str, first.page_numbers)) or "-"
                previews.append(f"**{first.source_path}** (page {pages}, "
                                f"{first.section_title or 'no section'}): {first.text[:200]}")
            num_documents += 1
        services.stages.write(CHUNKED, shard, replace(
            batch, cleaned=(), chunked=tuple(chunked), failures=tuple(failures)))
    seconds = time.perf_counter() - started
    tokens = np.asarray(token_counts or [0])
    return {
        "num_documents": num_documents,
        "num_chunks": len(token_counts),
        "tokens_mean": round(float(tokens.mean()), 1),
        "tokens_p50": int(np.percentile(tokens, 50)),
        "tokens_p95": int(np.percentile(tokens, 95)),
        "tokens_max": int(tokens.max()),
        "max_chunk_tokens": chunker.size,
        "chunk_seconds": round(seconds, 3),
        "preview": "\n\n".join(previews) or "(no new chunks)",
    }

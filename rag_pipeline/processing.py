"""What a document's chunks were made with: a fingerprint recorded per document in the ledger.

A document whose bytes did not change is still processed again when this fingerprint changes:
other chunking settings, or a new version of the project's extraction, cleaning or chunking
(bump the version below when a change alters what they produce). Chunk texts that come out the
same keep their cached vectors, so only what really changed is embedded again.

Not in it: the embedding model (a model change is a backfill into a new collection, and chunks
keep their boundaries across it) and the installed parsers' versions (a patch release of a
parser would re-process every document).
"""

from __future__ import annotations

import hashlib
import json

from rag_pipeline.settings import Settings

EXTRACTION_VERSION = 2
"""Extraction (`rag_pipeline.extract`): bump when the elements it produces change."""
CLEANING_VERSION = 1
"""Cleaning (`rag_pipeline.cleaning`): bump when cleaned text changes."""
CHUNKING_VERSION = 3
"""Chunking (`rag_pipeline.chunking`): bump when chunk boundaries or texts change."""


def processing_fingerprint(settings: Settings) -> str:
    """Changes whenever a document's chunks would: the settings and versions above."""
    facts = {
        "extraction": EXTRACTION_VERSION, "cleaning": CLEANING_VERSION,
        "chunking": CHUNKING_VERSION, "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "ocr_language": settings.ocr_language, "ocr_max_pages": settings.ocr_max_pages,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]

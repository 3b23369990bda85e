"""rag_pipeline: the core of the RAG ingestion pipeline, importable without Dagster.

Extraction, cleaning, chunking, ids and hashing, the document ledger, embedding,
index writers and search live here; `rag_pipeline.definitions` only wires them into Dagster.
"""

import os

# Nothing may phone home or download at run time (offline machines, reproducible runs).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

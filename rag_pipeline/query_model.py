"""The model a search embeds its query with, and starting to load it before anything else.

A cold `rag-pipeline search` spends about as long building the query model's ONNX session as
importing the index and state modules it needs next. onnxruntime builds a session without
holding the GIL, so a search that starts the load on a thread first does both at once. This
module imports nothing heavy itself: the thread does the imports.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from rag_pipeline.models import EmbeddingModelSpec, resolve_model
from rag_pipeline.settings import Settings

if TYPE_CHECKING:
    from rag_pipeline.embedding import Embedder

logger = logging.getLogger(__name__)

WARM_UP_TEXT = "warm-up"


def query_embedder_for(settings: Settings, model: EmbeddingModelSpec) -> Embedder:
    """For a few texts (search queries): the model in this process, never worker processes;
    its torch-free graph where one was exported (`query_graph`)."""
    from rag_pipeline.embedding import embedder_for
    from rag_pipeline.query_graph import query_spec

    exported = query_spec(model)
    if exported is not None:
        return embedder_for(exported, settings.embedding_batch_size)
    return embedder_for(model, settings.embedding_batch_size, device=settings.embedding_device,
                        endpoint=settings.embedding_endpoint)


def start_loading_query_model(settings: Settings) -> threading.Thread:
    """Load the configured model's query embedder on a daemon thread. Embedders are kept one
    per process (`embedder_for`), so the search that follows finds this one, loaded or
    loading. Speculative: an error here is only logged; the search meets it again."""

    def load() -> None:
        try:
            query_embedder_for(settings, resolve_model(settings.embedding_model)).embed(
                [WARM_UP_TEXT])
        except Exception as exc:  # whatever it is, the search reports it
            logger.debug("query model not loaded early: %s", exc)

    thread = threading.Thread(target=load, name="query-model-load", daemon=True)
    thread.start()
    return thread

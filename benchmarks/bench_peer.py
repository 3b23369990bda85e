"""A peer on the same files and the same model: LangChain's `index()` with a SQL record manager.

Usage: python benchmarks/bench_peer.py FOLDER [--work-dir DIR] [--out FILE]

The peer pipeline is the one LangChain documents for keeping a vector store in sync:
PyMuPDFLoader for PDFs and UnstructuredFileLoader for everything else (the same extraction
libraries as this project), RecursiveCharacterTextSplitter sized with the model's tokenizer
(200 tokens, 32 overlap: this project's defaults), the same all-MiniLM-L6-v2 through
sentence-transformers, local-mode Qdrant through langchain-qdrant, and `index(...,
cleanup="incremental")` with a SQLRecordManager. It runs in one process, file by file; a file
its loader cannot read is counted as failed and skipped (LangChain would otherwise stop).
Needs the bench extra: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

from tqdm import tqdm

from rag_pipeline.extract.spacy_model import use_packaged_spacy_model
from rag_pipeline.models import resolve_model

logger = logging.getLogger(__name__)


def _embeddings(model_path: Path):  # noqa: ANN202 - a langchain_core Embeddings
    from langchain_core.embeddings import Embeddings
    from sentence_transformers import SentenceTransformer

    class SentenceTransformerEmbeddings(Embeddings):
        """What langchain-huggingface's HuggingFaceEmbeddings does (that package pins an older
        huggingface_hub than this environment's, so it is not installed)."""

        def __init__(self) -> None:
            self.model = SentenceTransformer(str(model_path), device="cpu",
                                             local_files_only=True)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.model.encode(texts, batch_size=32, show_progress_bar=False).tolist()

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    return SentenceTransformerEmbeddings()


def _load(path: Path) -> list:
    from langchain_community.document_loaders import PyMuPDFLoader, UnstructuredFileLoader

    if path.suffix.lower() == ".pdf":
        return PyMuPDFLoader(str(path)).load()
    return UnstructuredFileLoader(str(path), mode="single").load()


def run_peer(folder: Path, work_dir: Path) -> dict[str, object]:
    warnings.filterwarnings("ignore")
    use_packaged_spacy_model()  # the same no-download fix as ours, or unstructured downloads
    from langchain_classic.indexes import SQLRecordManager
    from langchain_core.indexing import index
    from langchain_qdrant import QdrantVectorStore
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from qdrant_client import QdrantClient, models
    from transformers import AutoTokenizer

    spec = resolve_model("all-MiniLM-L6-v2")
    embeddings = _embeddings(spec.path)
    embeddings.embed_query("warm-up")
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(str(spec.path)), chunk_size=200, chunk_overlap=32)
    work_dir.mkdir(parents=True, exist_ok=True)
    record_manager = SQLRecordManager("peer", db_url=f"sqlite:///{work_dir / 'records.sqlite'}")
    record_manager.create_schema()
    client = QdrantClient(path=str(work_dir / "qdrant"))
    if not client.collection_exists("peer"):
        client.create_collection("peer", vectors_config=models.VectorParams(
            size=384, distance=models.Distance.COSINE))
    store = QdrantVectorStore(client=client, collection_name="peer", embedding=embeddings)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))

    def one_pass(label: str) -> dict[str, object]:
        started = time.perf_counter()
        documents, failed = [], 0
        for path in tqdm(files, desc=f"peer {label}: load", unit="file", leave=False):
            try:
                documents.extend(_load(path))
            except Exception as exc:  # the peer has no per-document isolation of its own
                failed += 1
                logger.debug("peer cannot load %s: %s", path, exc)
        loaded = time.perf_counter()
        chunks = [c for c in splitter.split_documents(documents) if c.page_content.strip()]
        split = time.perf_counter()
        result = index(chunks, record_manager, store, cleanup="incremental",
                       source_id_key="source", batch_size=256)
        done = time.perf_counter()
        return {"files": len(files), "failed": failed, "chunks": len(chunks),
                "load_seconds": round(loaded - started, 1),
                "split_seconds": round(split - loaded, 1),
                "index_seconds": round(done - split, 1),
                "seconds": round(done - started, 1), "index_result": dict(result)}

    full = one_pass("full")
    noop = one_pass("no-op")
    client.close()
    return {"pipeline": "LangChain index() + SQLRecordManager + QdrantVectorStore (local)",
            "full": full, "noop": noop,
            "chunks_per_second": round(full["chunks"] / full["seconds"], 2)}  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="rag-peer-"))
    figures = run_peer(args.folder.resolve(), work_dir)
    sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

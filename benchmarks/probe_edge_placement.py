"""Open time, first query and resident memory of an Edge shard, by memory placement.

Usage: python -m benchmarks.probe_edge_placement --points 500000 --placement cold|pinned
       [--folder DIR]

Builds a shard of random 384-d vectors (clustered around 4,000 centres), sparse vectors with
the IDF modifier and a small payload with keyword indexes, optimizes it once, then opens it in
three fresh processes. `pinned` is Edge's default (vectors, graph and sparse index read into the
process); `cold` is what `rag_pipeline/edge_store.py` creates (everything memory-mapped). The
page cache is warm (the shard was just written), as on a machine that serves it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    HnswIndexConfig,
    Memory,
    Modifier,
    PayloadSchemaType,
    Point,
    SparseVector,
    UpdateOperation,
)

_OPEN_AND_QUERY = """
import time
started = time.perf_counter()
import numpy as np
from qdrant_edge import CountRequest, EdgeShard, Query, QueryRequest
shard = EdgeShard.load({folder!r})
opened = time.perf_counter()
shard.count(CountRequest(exact=True))
vector = np.random.default_rng(1).normal(size=384).tolist()
latencies = []
for _ in range(50):
    start = time.perf_counter()
    shard.query(QueryRequest(query=Query.Nearest(vector, using="dense"), limit=10,
                             with_payload=True))
    latencies.append(time.perf_counter() - start)
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
print(f"open {{opened - started:.3f}} s, first query {{latencies[0] * 1000:.1f}} ms, "
      f"median {{sorted(latencies)[25] * 1000:.2f}} ms, resident {{rss:.0f}} MB")
"""


def config(placement: str) -> EdgeConfig:
    if placement == "pinned":
        return EdgeConfig(
            vectors={"dense": EdgeVectorParams(size=384, distance=Distance.Cosine)},
            sparse_vectors={"bm25": EdgeSparseVectorParams(modifier=Modifier.Idf)})
    cold = Memory.Cold
    return EdgeConfig(
        vectors={"dense": EdgeVectorParams(size=384, distance=Distance.Cosine, memory=cold)},
        sparse_vectors={"bm25": EdgeSparseVectorParams(modifier=Modifier.Idf, memory=cold)},
        hnsw_config=HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000,
                                    memory=cold),
        payload_memory=cold, id_tracker_memory=cold)


def build(folder: Path, points: int, placement: str) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4000, 384)).astype(np.float32)
    shard = EdgeShard.create(str(folder), config(placement))
    for field in ("document_id", "shard", "type"):
        shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
    started = time.perf_counter()
    for low in range(0, points, 512):
        count = min(512, points - low)
        vectors = (centres[rng.integers(0, 4000, count)]
                   + rng.normal(0, 0.5, (count, 384)).astype(np.float32))
        batch = []
        for i in range(count):
            terms = sorted(set(rng.integers(0, 50_000, 12).tolist()))
            batch.append(Point(str(uuid.UUID(int=low + i + 1)),
                               {"dense": vectors[i].tolist(),
                                "bm25": SparseVector(terms, [1.0] * len(terms))},
                               {"document_id": f"doc-{(low + i) // 8}", "shard": "01",
                                "type": "pdf", "text": "lorem ipsum " * 40}))
        shard.update(UpdateOperation.upsert_points(batch))
    sys.stdout.write(f"write {time.perf_counter() - started:.1f} s\n")
    started = time.perf_counter()
    shard.optimize()
    shard.flush()
    shard.close()
    sys.stdout.write(f"optimize {time.perf_counter() - started:.1f} s\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--placement", choices=["cold", "pinned"], default="cold")
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(f"/tmp/edge-placement-{args.placement}-{args.points}")
    if not folder.exists():
        build(folder, args.points, args.placement)
    for _ in range(3):
        result = subprocess.run([sys.executable, "-c", _OPEN_AND_QUERY.format(folder=str(folder))],
                                capture_output=True, text=True, check=True)
        sys.stdout.write(f"{args.placement}: {result.stdout.strip()}\n")


if __name__ == "__main__":
    main()

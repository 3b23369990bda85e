"""Documents in an S3 bucket (moto's S3 server on 127.0.0.1): indexed, changed, deleted and
renamed as files in a folder are; a listing that fails or comes back empty deletes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from dagster import SensorResult, SkipReason

from assets.ingest_run import IngestError, run_ingest
from rag_pipeline import object_store_source
from rag_pipeline.changes import same_listing_facts
from rag_pipeline.filters import SearchFilter
from rag_pipeline.ledger import Ledger, LedgerDocument
from rag_pipeline.object_store_source import ObjectStoreSource
from rag_pipeline.search import search
from rag_pipeline.settings import Settings
from rag_pipeline.watch import pending_changes
from tests.fixtures import write_knowledge_base
from tests.knowledge_base_defs import sensor_tick
from tests.s3_server import S3Server
from tests.test_pipeline import index_sizes, qdrant_ids

pytestmark = pytest.mark.slow
BUCKET = "handbook"


@pytest.fixture
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        server.client.create_bucket(Bucket=BUCKET)
        yield server


@pytest.fixture
def keys(s3: S3Server, tmp_path: Path) -> list[str]:
    """The knowledge base under kb/, plus an object outside the prefix and a hidden one."""
    write_knowledge_base(tmp_path / "upload")
    uploaded = s3.upload_folder(tmp_path / "upload", BUCKET, "kb")
    s3.client.put_object(Bucket=BUCKET, Key="elsewhere/other.md", Body=b"# Other\n\nNot ours.\n")
    s3.client.put_object(Bucket=BUCKET, Key="kb/.hidden.md", Body=b"# Hidden\n\nNot ours.\n")
    return uploaded


@pytest.fixture
def from_bucket(settings: Settings) -> Settings:
    return replace(settings, source_uri=f"s3://{BUCKET}/kb", golden_set=None,
                   mass_delete_min_documents=3)


def tick(settings: Settings) -> SensorResult | SkipReason:
    return sensor_tick(settings)


def indexed_paths(settings: Settings) -> set[str]:
    return {d.source_path for d in Ledger(settings.ledger_path).documents().values()}


def test_a_bucket_is_indexed_changed_and_deleted_like_a_folder(
        s3: S3Server, keys: list[str], from_bucket: Settings) -> None:
    reports = run_ingest(from_bucket)
    assert reports["extracted_documents"]["num_documents_new"] == len(keys)
    assert indexed_paths(from_bucket) == {key.removeprefix("kb/") for key in keys}
    points, chunks, bm25 = index_sizes(from_bucket)
    assert points == chunks == bm25 > 0
    assert not (from_bucket.data_dir / "downloads").exists()  # the local copies are gone
    [hit] = search("geostationary orbit above the equator", k=1, settings=from_bucket)
    assert hit.chunk.source_path == "space/satellites.pdf"

    again = run_ingest(from_bucket)["extracted_documents"]
    assert again["num_files_hashed"] == 0  # unchanged objects are not downloaded
    assert again["num_documents_unchanged"] == len(keys)

    # The same key rewritten with as many bytes (a new ETag).
    chess = s3.client.get_object(Bucket=BUCKET, Key="kb/chess.txt")["Body"].read()
    assert b"Sicilian" in chess
    s3.client.put_object(Bucket=BUCKET, Key="kb/chess.txt", Body=chess.replace(b"Sicilian",
                                                                             b"Najdorfs"))
    s3.client.delete_object(Bucket=BUCKET, Key="kb/bread.html")
    s3.client.copy_object(Bucket=BUCKET, Key="kb/geology/volcanoes.md",
                          CopySource={"Bucket": BUCKET, "Key": "kb/volcanoes.md"})
    s3.client.delete_object(Bucket=BUCKET, Key="kb/volcanoes.md")
    seen = pending_changes(from_bucket, Ledger(from_bucket.ledger_path), settle_seconds=0)
    assert ([f.relative_path for f in seen.new], [f.relative_path for f in seen.changed],
            sorted(d.source_path for d in seen.deleted)) == (
        ["geology/volcanoes.md"], ["chess.txt"], ["bread.html", "volcanoes.md"])
    time.sleep(2.1)  # the sensor leaves objects alone for 2 s after they were written
    [request] = tick(from_bucket).run_requests
    assert (request.tags["rag/new"], request.tags["rag/changed"], request.tags["rag/deleted"]) == (
        "1", "1", "2")

    extract = run_ingest(from_bucket)["extracted_documents"]
    assert (extract["num_documents_new"], extract["num_documents_changed"],
            extract["num_documents_deleted"]) == (1, 1, 2)
    assert "geology/volcanoes.md" in indexed_paths(from_bucket)
    assert not {"bread.html", "volcanoes.md"} & indexed_paths(from_bucket)
    points, chunks, bm25 = index_sizes(from_bucket)
    assert points == chunks == bm25
    ledger_ids = {c.chunk_id for c in Ledger(from_bucket.ledger_path).iter_chunks()}
    assert qdrant_ids(from_bucket) == ledger_ids  # no orphans, no duplicates
    [hit] = search("Najdorfs defence", k=1, mode="bm25", settings=from_bucket)
    assert hit.chunk.source_path == "chess.txt"


def test_a_listing_that_fails_or_comes_back_empty_deletes_nothing(
        s3: S3Server, keys: list[str], from_bucket: Settings,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_ingest(from_bucket)
    before, paths = index_sizes(from_bucket), indexed_paths(from_bucket)

    for key in keys:  # an emptied prefix (a wrong prefix, a lifecycle rule gone wrong)
        s3.client.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(IngestError, match="refusing to delete"):
        run_ingest(from_bucket)
    assert index_sizes(from_bucket) == before and indexed_paths(from_bucket) == paths

    monkeypatch.setattr(object_store_source, "ATTEMPTS", 2)
    monkeypatch.setattr(object_store_source, "BACKOFF_SECONDS", 0.1)
    # botocore's own retries of a refused connection (up to 15 s of backoff per attempt of
    # ours, which is what a real outage gets) would only make this test wait.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    s3.stop()  # the store is down: retried, then the run fails and says why
    with pytest.raises(IngestError, match=rf"cannot list s3://{BUCKET}/kb after 2 attempts"):
        run_ingest(from_bucket)
    assert index_sizes(from_bucket) == before and indexed_paths(from_bucket) == paths
    skipped = tick(from_bucket)
    assert isinstance(skipped, SkipReason) and "cannot list" in str(skipped.skip_message)


def test_a_rewrite_within_the_same_second_is_seen_by_its_etag(
        s3: S3Server, from_bucket: Settings) -> None:
    """S3 reports modification times in whole seconds: size and time alone would miss this."""
    source = ObjectStoreSource(f"s3://{BUCKET}/kb", from_bucket.data_dir / "downloads")
    s3.client.put_object(Bucket=BUCKET, Key="kb/note.md", Body=b"# Note\n\nversion one\n")
    [first] = source.list_files()
    s3.client.put_object(Bucket=BUCKET, Key="kb/note.md", Body=b"# Note\n\nversion two\n")
    [second] = source.list_files()
    assert second.size == first.size and second.version != first.version
    recorded = LedgerDocument(first.document_id, first.relative_path, first.shard, first.size,
                              first.mtime_ns, "hash", None, "indexed", None, 1, None, None,
                              version=first.version)
    assert same_listing_facts(recorded, first) and not same_listing_facts(recorded, second)
    assert source.fetch(second).read_bytes() == b"# Note\n\nversion two\n"
    source.discard_copies()
    assert not (from_bucket.data_dir / "downloads").exists()


def test_object_user_metadata_and_sidecar_objects_become_tags(
        s3: S3Server, from_bucket: Settings) -> None:
    """`x-amz-meta-*` and a `<key>.meta.json` object are the document's title and tags; a
    rewrite of either (S3 rewrites an object to change its metadata) re-processes it."""
    policy = b"# Leave\n\nEmployees receive twenty-five days of paid annual leave a year.\n"
    s3.client.put_object(Bucket=BUCKET, Key="kb/policy.md", Body=policy,
                         Metadata={"team": "hr", "title": "Leave policy"})
    s3.client.put_object(Bucket=BUCKET, Key="kb/ops/guide.txt", Body=(
        b"The billing service is deployed every Tuesday after the staging tests pass.\n"))
    s3.client.put_object(Bucket=BUCKET, Key="kb/ops/guide.txt.meta.json",
                         Body=b'{"tags": ["runbook"]}')
    run_ingest(from_bucket)
    assert indexed_paths(from_bucket) == {"policy.md", "ops/guide.txt"}

    def facts() -> dict[str, tuple[str | None, tuple[str, ...]]]:
        return {c.source_path: (c.facts.title, c.facts.tags)
                for c in Ledger(from_bucket.ledger_path).iter_chunks() if c.facts}

    assert facts() == {"policy.md": ("Leave policy", ("team=hr",)),
                       "ops/guide.txt": ("guide", ("runbook",))}
    [hit] = search("paid annual leave", k=1, settings=from_bucket,
                   where=SearchFilter(tags=("team=hr",)))
    assert hit.chunk.source_path == "policy.md"

    time.sleep(1.1)  # S3 lists modification times to the second
    s3.client.copy_object(Bucket=BUCKET, Key="kb/policy.md", MetadataDirective="REPLACE",
                          CopySource={"Bucket": BUCKET, "Key": "kb/policy.md"},
                          Metadata={"team": "people"})
    s3.client.put_object(Bucket=BUCKET, Key="kb/ops/guide.txt.meta.json",
                         Body=b'{"tags": ["runbook", "billing"]}')
    report = run_ingest(from_bucket)["extracted_documents"]
    assert report["num_documents_changed"] == 2
    assert facts() == {"policy.md": ("Leave", ("team=people",)),
                       "ops/guide.txt": ("guide", ("runbook", "billing"))}
    points, chunks, bm25 = index_sizes(from_bucket)
    assert points == chunks == bm25 > 0


def test_stages_hand_over_through_the_bucket(s3: S3Server, keys: list[str],
                                             from_bucket: Settings) -> None:
    """RAG_STAGING_URI: the batches between stages are objects, so steps on other machines
    can read them; nothing is staged in the data folder."""
    staged = replace(from_bucket, staging_uri=f"s3://{BUCKET}/staging/inbox")
    run_ingest(staged)
    objects = {o["Key"] for o in s3.client.list_objects_v2(
        Bucket=BUCKET, Prefix="staging/inbox/")["Contents"]}
    stages = {key.split("/")[2] for key in objects}
    assert stages == {"extracted_documents", "cleaned_documents", "document_chunks",
                      "chunk_embeddings"}
    assert not staged.staging_dir.exists()
    assert indexed_paths(staged) == {key.removeprefix("kb/") for key in keys}
    points, chunks, bm25 = index_sizes(staged)
    assert points == chunks == bm25 > 0


def test_a_versioned_bucket_is_read_at_its_current_versions(
        s3: S3Server, from_bucket: Settings) -> None:
    """With versioning on, S3 keeps every older version and a delete leaves a delete marker:
    neither is a document. A rewrite is a change, a delete is a deletion, as without it."""
    s3.client.put_bucket_versioning(Bucket=BUCKET,
                                    VersioningConfiguration={"Status": "Enabled"})
    s3.client.put_object(Bucket=BUCKET, Key="kb/note.md",
                         Body=b"# Note\n\nThe lighthouse keeper logs the weather at dawn.\n")
    s3.client.put_object(Bucket=BUCKET, Key="kb/gone.md",
                         Body=b"# Gone\n\nThe ferry timetable changes in October.\n")
    run_ingest(from_bucket)
    assert indexed_paths(from_bucket) == {"note.md", "gone.md"}

    s3.client.put_object(Bucket=BUCKET, Key="kb/note.md",
                         Body=b"# Note\n\nThe lighthouse keeper logs the tides at dusk.\n")
    s3.client.delete_object(Bucket=BUCKET, Key="kb/gone.md")
    history = s3.client.list_object_versions(Bucket=BUCKET, Prefix="kb/")
    assert len(history["Versions"]) == 3 and len(history["DeleteMarkers"]) == 1
    [current] = ObjectStoreSource(f"s3://{BUCKET}/kb",
                                  from_bucket.data_dir / "downloads").list_files()
    assert current.relative_path == "note.md"

    report = run_ingest(from_bucket)["extracted_documents"]
    assert (report["num_documents_new"], report["num_documents_changed"],
            report["num_documents_deleted"]) == (0, 1, 1)
    assert indexed_paths(from_bucket) == {"note.md"}
    [hit] = search("tides at dusk", k=1, mode="bm25", settings=from_bucket)
    assert hit.chunk.source_path == "note.md" and "tides" in hit.chunk.text
    ledger_ids = {c.chunk_id for c in Ledger(from_bucket.ledger_path).iter_chunks()}
    assert qdrant_ids(from_bucket) == ledger_ids

"""The pipeline stages, one per Dagster asset, each working on a list of shards.

Every stage reads its shard's batch from the stage store, does its work on the changed documents
only, writes the next batch and returns metadata (numbers, so the UI can plot them).
"""

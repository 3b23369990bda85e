"""Publishing: move the `chunks` alias to the configured model's collection, atomically,
once the collection is complete and passes its checks; roll back to a previous one.

Readers always go through the alias, so a backfill that fills a new collection never changes
what they see until the swap, and the swap is one `update_collection_aliases` call.
"""

from __future__ import annotations

import time

from rag_pipeline.ids import all_shard_keys
from rag_pipeline.pipeline.services import Log, PipelineServices
from rag_pipeline.quality import CheckOutcome, counts_match


def publish_gates(services: PipelineServices, collection: str) -> dict[str, CheckOutcome]:
    """What must hold on a collection before readers may see it."""
    from rag_pipeline.pipeline.checks import retrieval_smoke, verified

    stale = services.registry.stale_shards(collection, all_shard_keys(),
                                           services.ledger.shard_generations())
    synced = CheckOutcome(
        not stale,
        "every shard synced with the ledger" if not stale
        else f"{len(stale)} of {len(all_shard_keys())} shards not yet filled: run the backfill "
             "over all partitions",
        {"num_stale_shards": len(stale), "stale_shards": stale},
    )
    def run() -> dict[str, CheckOutcome]:
        with services.qdrant.holding():
            return {
                "counts_match": counts_match(services.qdrant.count(collection),
                                             services.ledger.num_chunks(),
                                             services.ledger.num_chunks()),
                # Dense only: BM25 does not depend on the model and would hide a broken one.
                "retrieval_smoke": retrieval_smoke(services, collection=collection,
                                                   mode="dense"),
            }

    return {
        "synced": synced,
        **verified(services, f"publish_gates:{collection}", run),
    }


def publish(services: PipelineServices, log: Log, force: bool = False
            ) -> tuple[dict[str, object], dict[str, CheckOutcome]]:
    started = time.perf_counter()
    target = services.target_collection
    state = services.index_state()
    if state is not None and services.verified_states.recall(f"live:{target}", state):
        # The alias pointed at the target when the indexes were last in exactly this state
        # (the alias is part of it): nothing to do, and no need to open the local store.
        gates = publish_gates(services, target)
        return ({"target_collection": target, "previous_collection": target, "published": False,
                 "reason": "already live", "live_collection": target,
                 "publish_seconds": round(time.perf_counter() - started, 3)}, gates)
    with services.qdrant.holding():  # one open for the gates and the swap
        report, gates = _publish(services, log, force)
    if (state is not None and report["live_collection"] == target
            and services.index_state() == state):
        services.verified_states.record(f"live:{target}", state, {
            "live": CheckOutcome(True, f"alias {services.qdrant.alias} on {target}")})
    return report, gates


def _publish(services: PipelineServices, log: Log, force: bool
             ) -> tuple[dict[str, object], dict[str, CheckOutcome]]:
    started = time.perf_counter()
    qdrant, registry = services.qdrant, services.registry
    target, live = services.target_collection, qdrant.live()
    record = registry.get(target)
    report: dict[str, object] = {"target_collection": target, "previous_collection": live or "",
                                 "published": False}
    if record is None:
        report["reason"] = "the target collection has not been built yet (nothing indexed)"
        skipped = CheckOutcome(True, "skipped: nothing to publish yet")
        return ({**report, "live_collection": live or ""},
                {name: skipped for name in ("synced", "counts_match", "retrieval_smoke")})
    gates = publish_gates(services, target)
    if target == live:
        report["reason"] = "already live"
    elif record.rolled_back_at and not force:
        report["reason"] = ("rolled back by hand: `rag-pipeline publish --force` publishes it "
                            "again")
    elif not all(g.passed for g in gates.values()):
        report["reason"] = "; ".join(g.description for g in gates.values() if not g.passed)
    else:
        swap_started = time.perf_counter()
        qdrant.point_alias(target)
        report["alias_swap_seconds"] = round(time.perf_counter() - swap_started, 4)
        registry.mark_published(target)
        report["published"] = True
        report["reason"] = f"alias {qdrant.alias} moved from {live} to {target}"
        report["dropped_collections"] = prune(services)
        log.info(str(report["reason"]))
    report["live_collection"] = qdrant.live() or ""
    report["publish_seconds"] = round(time.perf_counter() - started, 3)
    return report, gates


def prune(services: PipelineServices) -> list[str]:
    """Keep the live and target collections and the N most recent others (for rollback)."""
    qdrant, registry = services.qdrant, services.registry
    protected = {qdrant.live(), services.target_collection}
    others = sorted((r for r in registry.all() if r.name not in protected),
                    key=lambda r: r.published_at or r.created_at, reverse=True)
    dropped = []
    for record in others[services.settings.keep_previous_collections:]:
        qdrant.drop_collection(record.name)
        registry.forget(record.name)
        dropped.append(record.name)
    return dropped


def rollback(services: PipelineServices, to: str | None = None) -> tuple[str, str]:
    """Point the alias back at `to` (default: the most recently published other collection).
    Returns (from, to). The collection left is marked rolled back: it is not re-published
    automatically."""
    qdrant, registry = services.qdrant, services.registry
    live = qdrant.live()
    existing = set(qdrant.collections())
    if to is None:
        candidates = sorted((r for r in registry.all() if r.name != live and r.published_at
                             and r.name in existing), key=lambda r: r.published_at or 0.0,
                            reverse=True)
        if not candidates:
            raise LookupError("no previous collection to roll back to")
        to = candidates[0].name
    if to not in existing:
        raise LookupError(f"collection {to} does not exist")
    qdrant.point_alias(to)
    if live:
        registry.mark_rolled_back(live)
    registry.mark_published(to)
    return live or "", to

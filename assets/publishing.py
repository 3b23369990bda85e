"""The live collection: the alias moves to a new model's collection only when it is ready."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import PUBLISH_CHECKS, results
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import index_freshness
from rag_pipeline.pipeline.publish import publish


def build_publishing_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    @asset(**kb.asset_args("published_collection", {"qdrant"},
                           checks=PUBLISH_CHECKS, pool=kb.index_pool),
           **index_freshness())
    def published_collection(context: AssetExecutionContext) -> MaterializeResult:
        """The collection behind the knowledge base's alias that search reads. Moves to the
        configured model's collection in one atomic alias update, once every shard is synced,
        its point count equals the ledger's and the retrieval smoke check passes on it."""
        services = kb.services(context)
        report, gates = publish(services, context.log)
        context.log.info(f"published_collection: {report.get('reason')}")
        report["query_graph"] = services.export_query_graph()
        return MaterializeResult(metadata=to_metadata(report), check_results=results(
            kb.key("published_collection"), gates))

    return [published_collection]

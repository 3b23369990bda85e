"""The live collection: the alias moves to a new model's collection only when it is ready."""

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, asset

from assets.checks import PUBLISH_CHECKS, results, specs
from assets.knowledge_base import KnowledgeBaseAssets
from assets.metadata import to_metadata
from assets.partitions import OWNERS
from rag_pipeline.pipeline.publish import publish


def build_publishing_assets(kb: KnowledgeBaseAssets) -> list[AssetsDefinition]:
    key = kb.key("published_collection")

    @asset(key=key, group_name=kb.name, required_resource_keys=kb.resource_keys,
           deps=[kb.key("qdrant_index")], kinds={"qdrant"}, owners=OWNERS,
           check_specs=specs(key, PUBLISH_CHECKS, blocking=False))
    def published_collection(context: AssetExecutionContext) -> MaterializeResult:
        """The collection behind the knowledge base's alias that search reads. Moves to the
        configured model's collection in one atomic alias update, once every shard is synced,
        its point count equals the ledger's and the retrieval smoke check passes on it."""
        services = kb.services(context)
        report, gates = publish(services, context.log)
        context.log.info(f"published_collection: {report.get('reason')}")
        report["query_graph"] = services.export_query_graph()
        return MaterializeResult(metadata=to_metadata(report),
                                 check_results=results(key, gates))

    return [published_collection]

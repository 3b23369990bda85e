"""The live collection: the alias moves to a new model's collection only when it is ready."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.checks import PUBLISH_CHECKS, results, specs
from assets.indexes import qdrant_index
from assets.metadata import to_metadata
from assets.partitions import OWNERS
from rag_pipeline.pipeline.publish import publish
from resources import PipelineSettingsResource, QdrantResource, pipeline_services


@asset(group_name="indexes", deps=[qdrant_index], kinds={"qdrant"}, owners=OWNERS,
       check_specs=specs("published_collection", PUBLISH_CHECKS, blocking=False))
def published_collection(
    context: AssetExecutionContext, pipeline: PipelineSettingsResource, qdrant: QdrantResource
) -> MaterializeResult:
    """The collection behind the `chunks` alias that search reads. Moves to the configured
    model's collection in one atomic alias update, once every shard is synced, its point count
    equals the ledger's and the retrieval smoke check passes on it."""
    services = pipeline_services(pipeline, qdrant)
    report, gates = publish(services, context.log)
    context.log.info(f"published_collection: {report.get('reason')}")
    report["query_graph"] = services.export_query_graph()
    return MaterializeResult(metadata=to_metadata(report),
                             check_results=results("published_collection", gates))

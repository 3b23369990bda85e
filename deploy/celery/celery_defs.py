"""The first knowledge base's job on the Celery executor: each step is a Celery task, run by
whichever worker takes it (deploy/README.md, "Celery"). A code location of its own, beside
`rag_pipeline.definitions`:  dagster job execute -f deploy/celery/celery_defs.py -j
inbox_celery_job -c deploy/celery/celery.yaml --tags '{"dagster/asset_partition_range_start":
"00", "dagster/asset_partition_range_end": "15"}'
"""

import os

from dagster import AssetSelection, Definitions, define_asset_job
from dagster_celery import celery_executor

from assets import KnowledgeBaseAssets, document_shards, knowledge_base_assets
from rag_pipeline.knowledge_bases import load_knowledge_bases
from resources import knowledge_base_resources

kb_def = load_knowledge_bases()[0]
kb = KnowledgeBaseAssets.of(kb_def)
job = define_asset_job("inbox_celery_job", selection=AssetSelection.groups(kb.name),
                       partitions_def=document_shards, executor_def=celery_executor)
defs = Definitions(assets=knowledge_base_assets(kb), jobs=[job],
                   resources=knowledge_base_resources(kb_def, os.environ))

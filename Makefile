.PHONY: dev test bench bench-sensor bench-sources bench-state eval robustness lint lock samples

dev:  ## set up and start dagster dev on 127.0.0.1:3000
	bash scripts/dev.sh

test:  ## set up and run ruff + pytest
	bash scripts/test.sh

lint:
	.venv/bin/ruff check .

lock:  ## pin every installed package (after a pyproject change passed the suite)
	(head -2 requirements.lock; .venv/bin/pip list --format=freeze --exclude-editable \
		| grep -viE '^(pip|setuptools|wheel)==') > requirements.lock.new
	mv requirements.lock.new requirements.lock

bench-state:  ## pipeline state on PostgreSQL vs SQLite; 16 shards as 1 run vs 4 runs
	mkdir -p bench-results
	bash scripts/setup.sh
	.venv/bin/python -m benchmarks.bench_state --dataset $(DATASET) \
		--json bench-results/state.json

# make bench DOCS=../shared/data/corpus   (about an hour on the 644-file corpus, 2 cores)
DOCS ?= inbox
SIZES ?= 5000,20000,50000,100000
bench:  ## performance report: ingest, incremental, latency vs size, LangChain peer
	bash scripts/setup.sh
	.venv/bin/python -m benchmarks.report $(DOCS) --sizes $(SIZES) --out-dir bench-results --docs

bench-sensor:  ## sensor tick over 1k/10k unchanged files, file-to-searchable under dagster dev
	bash scripts/setup.sh
	.venv/bin/python benchmarks/bench_sensor.py --freshness

bench-sources:  ## sensor tick and ingest from a bucket (moto) against a folder
	mkdir -p bench-results
	bash scripts/setup.sh
	.venv/bin/python -m benchmarks.bench_sources --dataset $(DATASET) \
		--json bench-results/sources.json

# make eval DATASET=../shared/data/scifact
DATASET ?= ../shared/data/scifact
eval:  ## retrieval quality (nDCG@10, recall, MRR, latency) on a BEIR dataset
	mkdir -p bench-results
	bash scripts/setup.sh
	.venv/bin/rag-pipeline eval --dataset $(DATASET) --out bench-results/eval.json

# make robustness FOLDERS="../shared/data/bad-inputs ../shared/data/corpus"
FOLDERS ?= ../shared/data/bad-inputs
robustness:  ## files, indexed, failed by reason, crashed, hung
	bash scripts/setup.sh
	.venv/bin/python benchmarks/robustness.py $(FOLDERS)

samples:  ## regenerate the binary sample documents in inbox/
	.venv/bin/python scripts/make_samples.py

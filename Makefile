.PHONY: dev test bench lint samples

dev:  ## set up and start dagster dev on 127.0.0.1:3000
	bash scripts/dev.sh

test:  ## set up and run ruff + pytest
	bash scripts/test.sh

lint:
	.venv/bin/ruff check .

# make bench DOCS=../shared/data/corpus
DOCS ?= inbox
bench:  ## ingest a folder and print stage timings, throughput and the no-op re-run
	bash scripts/setup.sh
	.venv/bin/python benchmarks/bench_ingest.py $(DOCS)

samples:  ## regenerate the binary sample documents in inbox/
	.venv/bin/python scripts/make_samples.py

"""Retrieval evaluation on BEIR-format datasets, through the real pipeline."""

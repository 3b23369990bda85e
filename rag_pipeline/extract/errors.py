"""Extraction errors carry a one-line reason a person understands."""


class ExtractionError(Exception):
    """A document cannot be extracted; `str(error)` is the reason stored in the ledger."""

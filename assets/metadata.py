"""Stage reports become Dagster metadata: numbers stay numbers so the UI can plot them."""

from __future__ import annotations

from dagster import MetadataValue


def to_metadata(report: dict[str, object]) -> dict[str, object]:
    metadata: dict[str, object] = {}
    for key, value in report.items():
        if key == "preview":
            metadata[key] = MetadataValue.md(str(value))
        elif key == "failed_documents":
            rows = list(value) if isinstance(value, list) else []
            table = "| document | reason |\n|---|---|\n" + "\n".join(
                f"| {r['path']} | {str(r['error']).replace('|', '/')} |" for r in rows
            )
            metadata[key] = MetadataValue.md(table if rows else "(none)")
        elif isinstance(value, dict | list):
            metadata[key] = MetadataValue.json(value)
        else:
            metadata[key] = value
    return metadata

"""Sensors: each knowledge base's source sensor."""

from sensors.source_folder import build_source_sensor

__all__ = ["build_source_sensor"]

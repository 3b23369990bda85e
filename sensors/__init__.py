"""Sensors that keep the index in sync with the source folder."""

from sensors.source_folder import source_folder_sensor

__all__ = ["source_folder_sensor"]

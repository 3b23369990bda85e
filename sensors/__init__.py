"""Sensors: each knowledge base's source sensor, and the alerts on failed runs."""

from sensors.run_failures import build_run_failure_sensor
from sensors.source_folder import build_source_sensor

__all__ = ["build_run_failure_sensor", "build_source_sensor"]

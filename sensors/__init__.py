"""Sensors that keep the index in sync with the source folder."""

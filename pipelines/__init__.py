"""Prefect flows of wijkprofiel: thin wiring around the library (``src/wijkprofiel``)."""

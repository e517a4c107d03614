"""wijkprofiel: reproducible neighbourhood health profiles (wijkgezondheidsprofielen).

The library does the work and imports without Prefect; ``pipelines/`` holds thin flows.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"

"""k-means segmentation of customer tables and smart-meter load profiles.

Domain logic lives here as small pure functions; Prefect wiring lives in
``tasks/`` and ``flows/``.
"""

__version__ = "0.1.0"

"""k-means segmentation of customer tables and smart-meter load profiles.

Domain logic lives here as small pure functions; Prefect wiring lives in
``tasks/`` and ``flows/``.
"""

import os

# OpenMP threads (scikit-learn's k-means) spin on their core while they wait for each
# other; with another process on that core, a spinning thread takes the time the working
# one needs. PASSIVE makes them sleep. OpenMP reads it once, when scikit-learn loads it:
# hence here, on the package's first import. See segmentation/threads.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

"""How many BLAS and OpenMP threads a run uses, set on purpose rather than left to the libraries.

k-means (scikit-learn, OpenMP) and the distance computations (OpenBLAS) start one
thread per core by default, and their threads wait for each other at every one of the
thousands of small parallel steps of k selection. When another process holds a
core, the thread on that core runs only part of the time and every step waits for
it: the customer segment step on CC_GENERAL.csv took 45 s instead of 5 s.
``SEGMENT_THREADS`` (``segmentation.settings.segment_threads``) says how many threads
a run uses; each flow calls ``limit_threads`` first.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from segmentation.settings import segment_threads


def limit_threads(threads: int | None = None) -> int:
    """Cap the BLAS and OpenMP thread pools at ``threads`` (default ``SEGMENT_THREADS``).

    The cap stays in force after the call. BLAS (OpenBLAS) pools are per process;
    OpenMP's limit holds for the calling thread, the one that runs the flow and the
    tasks it calls directly (k-means and the silhouette run there). It applies to
    the libraries loaded so far: the flows import scikit-learn before they run.

    Returns
    -------
    int
        The thread count applied.

    Raises
    ------
    InputError
        When ``SEGMENT_THREADS`` is set but not a whole number of at least 1.
    """
    count = segment_threads() if threads is None else threads
    threadpool_limits(limits=count)
    return count


def threads_in_use() -> dict[str, int]:
    """The thread limit in force in the calling thread, per kind of library
    (``{"blas": 2, "openmp": 2}``), as recorded in each run's manifest."""
    found: dict[str, int] = {}
    for pool in threadpool_info():
        found[pool["user_api"]] = max(found.get(pool["user_api"], 0), pool["num_threads"])
    return dict(sorted(found.items()))

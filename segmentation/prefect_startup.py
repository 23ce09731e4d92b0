"""Prefect's start-up, overlapped with the pipeline's own imports.

Without ``PREFECT_API_URL`` every run starts a temporary Prefect API server
(a uvicorn subprocess that imports the whole server: 5-6 s here). The CLI
calls ``start_in_background`` once the input has been checked, so the server
starts while this process imports pandas, scikit-learn, Great Expectations
and matplotlib (3-4 s), and ``wait`` before the flow starts. With
``PREFECT_API_URL`` set (a running server, ``make server``) nothing is started.
"""

from __future__ import annotations

import threading

_thread: threading.Thread | None = None


def api_url_set() -> bool:
    """Whether runs talk to a running server (environment or Prefect profile)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _start() -> None:
    try:
        # Prefect keeps one temporary server per process; the flow reuses this one.
        from prefect.server.api.server import SubprocessASGIServer

        SubprocessASGIServer().start()
    except Exception:  # noqa: BLE001 - the flow then starts the server itself
        pass


def start_in_background() -> None:
    """Start the temporary server in a thread, unless a server URL is configured."""
    global _thread
    if _thread is None and not api_url_set():
        _thread = threading.Thread(target=_start, name="prefect-server-start", daemon=True)
        _thread.start()


def preload(*modules: str) -> None:
    """Import the heavy libraries now, while the server starts."""
    import importlib

    for module in modules:
        importlib.import_module(module)


def wait(timeout: float = 60.0) -> None:
    """Block until the background start has finished (the flow needs the server)."""
    if _thread is not None:
        _thread.join(timeout)

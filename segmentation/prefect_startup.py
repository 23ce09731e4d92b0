"""Prefect's start-up, overlapped with the pipeline's own imports, and tied to this process.

Without ``PREFECT_API_URL`` every run starts a temporary Prefect API server
(a uvicorn subprocess that imports the whole server: 5-6 s here). The CLI
calls ``start_in_background`` once the input has been checked, so the server
starts while this process imports pandas, scikit-learn, Great Expectations
and matplotlib (3-4 s), and ``wait`` before the flow starts. With
``PREFECT_API_URL`` set (a running server, ``make server``) nothing is started.

The server is started with Linux's parent-death signal: if this process is
killed (even with SIGKILL) the server gets SIGTERM instead of living on at
~200 MB. The signal follows the *thread* that started it, so that thread
stays alive, idle, for the life of the process.
"""

from __future__ import annotations

import ctypes
import signal
import threading

_started = threading.Event()
_thread: threading.Thread | None = None
PR_SET_PDEATHSIG = 1


def api_url_set() -> bool:
    """Whether runs talk to a running server (environment or Prefect profile)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGTERM when the starting thread ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start() -> None:
    try:
        from prefect.server.api import server as prefect_server

        popen = prefect_server.subprocess.Popen

        def popen_dying_with_us(*args, **kwargs):
            return popen(*args, preexec_fn=_die_with_parent, **kwargs)

        # Prefect keeps one temporary server per process; the flow reuses this one.
        prefect_server.subprocess.Popen = popen_dying_with_us
        try:
            prefect_server.SubprocessASGIServer().start()
        finally:
            prefect_server.subprocess.Popen = popen
    except Exception:  # noqa: BLE001 - the flow then starts the server itself
        pass
    finally:
        _started.set()
    threading.Event().wait()  # the parent-death signal is bound to this thread: keep it


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


def wait(timeout: float = 150.0) -> None:
    """Block until the background start has finished (the flow needs the server)."""
    if _thread is not None:
        _started.wait(timeout)

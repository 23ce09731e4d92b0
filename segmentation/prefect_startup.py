"""Prefect's start-up, overlapped with the pipeline's own imports, and tied to this process.

Without ``PREFECT_API_URL`` every run needs a temporary Prefect API server (a
uvicorn subprocess that imports the whole server: 5-9 s). The CLI calls
``start_in_background`` once the input has been checked, so the server starts
while this process imports pandas, scikit-learn, Great Expectations and
matplotlib, ``wait`` before the flow starts, and runs the flow inside
``api_settings`` (the server's URL). With ``PREFECT_API_URL`` set (a running
server, ``make server``) nothing is started.

The subprocess is the one Prefect's own ``SubprocessASGIServer`` runs (same
command and environment), launched here without importing Prefect's server
package into this process: that import alone takes 5-6 s of this process's
interpreter, which the imports above then wait for.

The server is started with Linux's parent-death signal: if this process is
killed (even with SIGKILL) the server gets SIGTERM instead of living on at
~200 MB. The signal follows the *thread* that started it, so that thread
stays alive, idle, for the life of the process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

_started = threading.Event()
_thread: threading.Thread | None = None
_api_url: str | None = None
PR_SET_PDEATHSIG = 1
EXIT_PORT_TAKEN = 3                   # uvicorn's exit status when its port was taken meanwhile


def api_url_set() -> bool:
    """Whether runs talk to a running server (environment or Prefect profile)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGTERM when the starting thread ends."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(port: int) -> subprocess.Popen:
    prefect_dir = Path(importlib.util.find_spec("prefect").origin).parent
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, preexec_fn=_die_with_parent)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)


def _start(timeout: float) -> None:
    global _api_url
    try:
        deadline = time.monotonic() + timeout
        port = _free_port()
        server = _launch(port)
        while time.monotonic() < deadline:
            if server.poll() == EXIT_PORT_TAKEN:
                port = _free_port()
                server = _launch(port)
            elif server.poll() is not None:
                break                   # it failed: the flow then starts Prefect's own server
            elif _healthy(f"http://127.0.0.1:{port}/api"):
                _api_url = f"http://127.0.0.1:{port}/api"
                atexit.register(_stop, server)
                break
            time.sleep(0.1)
        else:
            _stop(server)
    except Exception:  # noqa: BLE001 - the flow then starts Prefect's own server
        pass
    finally:
        _started.set()
    threading.Event().wait()  # the parent-death signal is bound to this thread: keep it


def start_in_background() -> None:
    """Start the temporary server in a thread, unless a server URL is configured."""
    global _thread
    if _thread is None and not api_url_set():
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))
        _thread = threading.Thread(target=_start, args=(timeout,), name="prefect-server-start",
                                   daemon=True)
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


@contextlib.contextmanager
def api_settings():
    """Run what is inside against the server started here (nothing changes without one)."""
    if _api_url is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    # The temporary server serves no UI: no "View at" link to a page that is not there.
    with temporary_settings(updates={PREFECT_API_URL: _api_url, PREFECT_UI_URL: ""}):
        yield

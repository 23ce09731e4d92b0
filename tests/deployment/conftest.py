"""A real local Prefect stack for the deployment tests.

`prefect_stack` runs the operator's own script (deploy/server.sh start) with a
temporary PREFECT_HOME and a free loopback port: a Prefect server, the process
work pool, every deployment of prefect.yaml, the failure automation (pointing at
`webhook`, a receiver on 127.0.0.1 inside the test) and a worker. Teardown runs
`server.sh stop` and then kills whatever is left of the recorded process groups,
also when a test or the start itself failed.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_SH = REPO / "deploy" / "server.sh"
START_TIMEOUT_S = 300   # server up + 3 deployments + automation + worker, on a slow CI box
STOP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WebhookReceiver:
    """HTTP server on 127.0.0.1 that records every request body it gets."""

    url: str
    received: "queue.Queue[dict]" = field(default_factory=queue.Queue)
    seen: list[dict] = field(default_factory=list)

    def wait_for(self, predicate, timeout: float) -> dict:
        """The first payload (seen before or arriving within ``timeout``) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            for payload in self.seen:
                if predicate(payload):
                    return payload
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching webhook call within {timeout:.0f} s; "
                                     f"received: {self.seen}")
            try:
                self.seen.append(self.received.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                pass


@pytest.fixture(scope="module")
def webhook():
    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            try:
                payload = json.loads(body)
            except json.JSONDecodeError:  # keep it: a broken template must show in the test
                payload = {"unparsed_body": body}
            payload["_path"] = self.path
            received.put(payload)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):  # keep pytest output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebhookReceiver(url=f"http://127.0.0.1:{httpd.server_port}/segment-failed",
                              received=received)
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class PrefectStack:
    api_url: str
    home: Path
    env: dict
    start_output: str

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.run_dir / f"{name}.log"
        if not path.exists():
            return f"({path} missing)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def diagnostics(self) -> str:
        return (f"--- worker.log ---\n{self.log_tail('worker')}\n"
                f"--- server.log ---\n{self.log_tail('server', 20)}")


def _kill_leftovers(run_dir: Path) -> None:
    """Last resort after `server.sh stop`: SIGKILL the recorded process groups."""
    for pidfile in run_dir.glob("*.pid"):
        try:
            pgid = int(pidfile.read_text())
            os.killpg(pgid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


@pytest.fixture(scope="module")
def prefect_stack(tmp_path_factory, webhook, prefect_template):
    from tests.prefect_db import seed

    home = tmp_path_factory.mktemp("prefect-home")
    seed(prefect_template, home / "prefect.db")   # the server's default database: migrated
    port = free_port()
    catalog = home / "catalog.yaml"   # the nightly tests' workspace has customers only
    catalog.write_text("datasets:\n  customers:\n    kind: customers\n"
                       "    input: raw/customers/*.csv\n")
    env = dict(
        os.environ,
        PREFECT_HOME=str(home),
        SEGMENT_PREFECT_PORT=str(port),
        SEGMENT_VENV_BIN=str(Path(sys.executable).parent),  # same interpreter as pytest
        SEGMENT_FAILURE_WEBHOOK_URL=webhook.url,
        SEGMENT_CATALOG=str(catalog),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # Faster than an operator needs, so the tests do not sit idle:
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2",
        SEGMENT_START_TIMEOUT="180",
        SEGMENT_STOP_GRACE="1",  # the worker often ignores the graceful signal anyway: 1 s, not 3
    )
    env.pop("PREFECT_API_URL", None)  # server.sh derives it from the port
    stack = PrefectStack(api_url=f"http://127.0.0.1:{port}/api", home=home, env=env,
                         start_output="")
    try:
        started = subprocess.run(["bash", str(SERVER_SH), "start"], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=START_TIMEOUT_S)
        stack.start_output = started.stdout + started.stderr
        if started.returncode != 0:
            pytest.fail(f"deploy/server.sh start failed ({started.returncode}):\n"
                        f"{stack.start_output[-6000:]}\n{stack.diagnostics()}")

        from prefect.settings import PREFECT_API_URL, temporary_settings
        with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
            yield stack
    finally:
        try:
            subprocess.run(["bash", str(SERVER_SH), "stop"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=STOP_TIMEOUT_S)
        finally:
            _kill_leftovers(home / "run")

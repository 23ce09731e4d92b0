"""The pages a run publishes (report.html, the Data Docs validation page) render with no network.

They are opened in headless Chromium with every host name unresolvable and a dead loopback
proxy, driven over the DevTools protocol on a pipe (no extra Python packages). A page passes
when every <img> decodes, nothing is logged as an error (script errors, console.error, failed
loads) and it asks for nothing but file: and data: URLs. Chromium comes from Debian's
``chromium`` package: installed by the session fixture when missing and we are root, else the
tests skip saying why.
"""

from __future__ import annotations

import base64
import fcntl
import html
import io
import json
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from segmentation.cli import main

RUN_DATE = "2026-11-21"
INSTALL_TIMEOUT = 600        # s for apt-get update + install: 2 min 20 s on a busy 2-core machine
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND",     # no name resolves...
           "--proxy-server=127.0.0.1:9"]                # ...and anything else goes to a dead port
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
CHECK_PAGE = """(() => ({
  images: Array.from(document.images).map(i => [i.src.slice(0, 60), i.complete, i.naturalWidth]),
  text: document.body ? document.body.innerText : ''}))()"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of ``chromium``; installed with apt-get (as root, bounded by a timeout) if missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed, and installing it needs root and apt-get "
                    "(apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=120", "-qq"]
    deadline = time.monotonic() + INSTALL_TIMEOUT
    try:
        for command in (apt + ["update"],
                        apt + ["install", "-y", "--no-install-recommends", "chromium",
                               "fonts-liberation"]):   # without a font, text renders as boxes
            subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                           timeout=max(deadline - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing chromium with apt-get took over {INSTALL_TIMEOUT} s")
    except subprocess.CalledProcessError as error:
        pytest.skip(f"could not install chromium ({' '.join(error.cmd)}): "
                    f"{(error.stderr or '').strip()[-300:]}")
    return shutil.which("chromium") or pytest.skip("apt-get installed chromium but it is not on PATH")


class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out, JSON
    messages ended by NUL)."""

    def __init__(self, executable: str, profile: Path):
        # The pipe ends move above fd 9 so the 3<& 4>& redirections cannot overwrite each other
        # (dash takes only one-digit fds: bash).
        to_browser_r, self._to_browser = (self._high(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (self._high(fd) for fd in os.pipe())
        args = [executable, "--headless=new", "--disable-gpu", "--no-sandbox",
                "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--window-size=1280,1400", "--hide-scrollbars", *OFFLINE, "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}', *args],
            pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next_id, self.events = b"", 0, []

    @staticmethod
    def _high(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            self.events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [],
                                        max(deadline - time.monotonic(), 0))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@dataclass
class PageCheck:
    """What an offline browser saw on one page."""

    images: list[list] = field(default_factory=list)      # [src (start), complete, naturalWidth]
    errors: list[str] = field(default_factory=list)       # script errors, console errors, failed loads
    requests: list[str] = field(default_factory=list)     # every URL the page asked for
    text: str = ""
    screenshot: bytes = b""

    @property
    def broken_images(self) -> list[list]:
        return [image for image in self.images if not image[1] or image[2] <= 0]

    @property
    def network_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(LOCAL_SCHEMES)]


def open_offline(browser: DevTools, page: Path) -> PageCheck:
    """Load ``page`` in a fresh tab, wait for its load event and a moment more, and report."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Page.navigate", {"url": page.resolve().as_uri()}, session)
    browser.wait_for("Page.loadEventFired", session)
    browser.send("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 200))",
                                      "awaitPromise": True}, session)   # late timers, errors
    seen = browser.send("Runtime.evaluate", {"expression": CHECK_PAGE, "returnByValue": True},
                        session)["result"]["value"]
    shot = browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
    browser.send("Target.closeTarget", {"targetId": target})
    check = PageCheck(images=seen["images"], text=seen["text"], screenshot=base64.b64decode(shot))
    for event in (e for e in browser.events if e.get("sessionId") == session):
        params = event.get("params", {})
        match event.get("method"):
            case "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                check.errors.append((details.get("exception") or {}).get("description")
                                    or details.get("text", "exception"))
            case "Runtime.consoleAPICalled" if params.get("type") in ("error", "assert"):
                check.errors.append(" ".join(str(a.get("value", a.get("description")))
                                             for a in params.get("args", [])))
            case "Log.entryAdded" if params["entry"].get("level") == "error":
                check.errors.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
            case "Network.loadingFailed":
                check.errors.append(f"load failed: {params.get('errorText')}")
            case "Network.requestWillBeSent":
                check.requests.append(params["request"]["url"])
    browser.events = [e for e in browser.events if e.get("sessionId") != session]
    return check


class ExternalLinks(HTMLParser):
    """``src``/``href`` of script, link and img tags that point to http(s) URLs."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "img"):
            self.found += [f"<{tag} {name}={value}>" for name, value in attrs
                           if name in ("src", "href") and value
                           and value.strip().lower().startswith(("http://", "https://", "//"))]


def external_links(page: str) -> list[str]:
    parser = ExternalLinks()
    parser.feed(page)
    return parser.found


@pytest.fixture(scope="session")
def browser(chromium, tmp_path_factory):
    devtools = DevTools(chromium, tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


@pytest.fixture(scope="module")
def customer_run(prefect_harness, tmp_path_factory) -> Path:
    """The report folder of one real customer run (200 sample customers, one row quarantined)."""
    from segmentation.customers.sample import write_sample_customers

    base = tmp_path_factory.mktemp("offline-run")
    csv = write_sample_customers(base / "raw", n=200, seed=7)
    csv.write_text(csv.read_text() + "999,Male,30,-5,50\n")      # negative income: routed
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "customers", "--input", str(csv), "--run-date", RUN_DATE, "--k", "4",
                 "--data-root", str(base / "data"), "--outputs-root", str(base / "outputs")],
                stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    return base / "outputs" / "customers" / RUN_DATE


@pytest.mark.slow      # the customer run in the fixture: ~10 s; the browser part ~2 s
def test_report_and_data_docs_render_offline(browser, customer_run, tmp_path):
    """report.html (every plot decodes) and the Data Docs page render offline, without errors."""
    report = customer_run / "report.html"
    [docs] = sorted((customer_run / "data_docs").glob("*/validation.html"))
    for page in (report, docs):
        assert external_links(page.read_text(encoding="utf-8")) == [], page
    seen = open_offline(browser, report)
    (tmp_path / "report.png").write_bytes(seen.screenshot)     # to look at: pytest --basetemp
    assert len(seen.images) == len(list((customer_run / "plots").glob("*.png"))) >= 4
    assert seen.broken_images == [], seen.images
    assert seen.errors == [] and seen.network_requests == []
    segments = json.loads((customer_run / "manifest.json").read_text())["segments"]
    assert all(name in seen.text for name in segments) and seen.screenshot.startswith(b"\x89PNG")
    seen = open_offline(browser, docs)
    (tmp_path / "validation.png").write_bytes(seen.screenshot)
    assert seen.broken_images == [] and seen.errors == [] and seen.network_requests == []
    assert "Status: Succeeded" in seen.text and "annual_income_k" in seen.text
    assert "negative income: 1 rows routed to quarantine" in seen.text


PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
BROKEN_PAGES = {
    "undecodable image": ("<img src='data:image/png;base64,AAAA' alt='x'>", "image"),
    "missing image file": ("<img src='no-such.png' alt='x'>", "image"),
    "script from a CDN": ("<script src='https://code.jquery.com/jquery-3.7.1.min.js'></script>",
                          "error"),
    "stylesheet from a CDN": ("<link rel='stylesheet' href='https://cdn.example.org/b.css'>", "error"),
    "script error": ("<script>$(function () {});</script>", "error"),
}


@pytest.mark.parametrize("name", BROKEN_PAGES)
def test_the_offline_check_catches_a_broken_page(browser, tmp_path, name):
    """The check above fails on what breaks pages offline (else it would pass on anything)."""
    body, caught = BROKEN_PAGES[name]
    page = tmp_path / "page.html"
    page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><p>text</p>"
                    f"<img src='data:image/png;base64,{PIXEL}' alt='ok'>{body}</body></html>")
    seen = open_offline(browser, page)
    assert seen.images and seen.images[0][2] == 1            # the good pixel decodes
    if caught == "image":
        assert len(seen.broken_images) == 1
    else:
        assert seen.errors and seen.broken_images == []
    if "CDN" in name:
        assert len(seen.network_requests) == 1 and external_links(page.read_text())


def result_rows(page: str) -> dict[tuple[str, str], list[str]]:
    """The expectations table of a validation page: (expectation, column) -> cell texts."""
    rows = {}
    for row in re.findall(r"<tr class='\w+'>(.*?)</tr>", page):
        cells = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
                 for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        rows[(cells[1].split()[0], cells[2])] = cells
    return rows


def test_validation_page_is_self_contained_and_tells_gates_from_routed_rows():
    """No browser needed: the page names a failed gate and a routed row, escapes values."""
    import pandas as pd

    from segmentation.validation import load_suite, validate_frame, validation_page

    columns = {"id": "customer_id", "required": ["customer_id", "age"], "numeric": ["age"],
               "gender": "gender"}
    frame = pd.DataFrame({"customer_id": ["1", "2", "3"], "age": ["old", "x", "y"],
                          "gender": ["Male", "<script>alert(1)</script>", "Female"]})
    page = validate_frame(frame, load_suite("customers", columns), data_docs=True).data_docs_html
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Status: Failed" in text and external_links(page) == [] and "<script" not in page
    rows = result_rows(page)
    assert rows[("expect_column_values_to_be_in_type_list", "age")][0] == "✗ failed"
    assert rows[("expect_column_values_to_be_in_type_list", "age")][3] == "str"
    status, _, _, observed, count, sample = rows[("expect_column_values_to_be_in_set", "gender")]
    assert (status, count, sample) == ("↪ routed", "1", '["<script>alert(1)</script>"]')
    assert observed == "33.3% unexpected of 3 values"
    assert rows[("expect_column_to_exist", "age")][0] == "✓ passed"
    assert validation_page({"success": True, "results": []}).count("Status: Succeeded") == 1

"""A minimal headless-Chromium driver over the Chrome DevTools Protocol, for the
dashboard's browser test: load a page, wait for it to render, and report every
JavaScript error, console error and network request it made, plus a screenshot.

Uses websocket-client (PyPI) and a Chromium binary; no browser download, no playwright.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000", "--remote-debugging-port=0", "--remote-allow-origins=*",
]


@dataclass
class PageLoad:
    url: str
    requests: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # url -> HTTP status
    errors: list[str] = field(default_factory=list)  # JS exceptions, console errors, failed loads
    text: str = ""  # document.body.innerText once rendered
    rendered: bool = False  # the ready condition became true before the timeout


class Browser:
    """One Chromium process with a fresh profile; ``load`` drives its first tab."""

    def __init__(self, binary: str):
        self._profile = tempfile.mkdtemp(prefix="cebench-chromium-")
        self._proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._wait_port()
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                               suppress_origin=True)
        self._next_id = 0
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def _wait_port(self, timeout_s: float = 30) -> int:
        marker = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}")
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, events: list | None = None, **params) -> dict:
        """Sends one command; events arriving meanwhile go to ``events`` (if given)."""
        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if events is not None and "method" in msg:
                events.append(msg)

    def _drain(self, events: list, seconds: float) -> None:
        self._ws.settimeout(seconds)
        try:
            while True:
                msg = json.loads(self._ws.recv())
                if "method" in msg:
                    events.append(msg)
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self._ws.settimeout(30)

    def load(self, url: str, ready_js: str = "true", timeout_s: float = 20,
             screenshot: Path | None = None, full_page: bool = False) -> PageLoad:
        """Navigates to ``url``, waits until ``ready_js`` is true and the network has been
        quiet for a second, then collects what happened."""
        events: list = []
        # a fresh document each time: a hash-only change would not reload the page
        self.call("Page.navigate", url="about:blank")
        self._drain([], 0.2)
        self.call("Page.navigate", events, url=url)
        deadline = time.monotonic() + timeout_s
        rendered = False
        while time.monotonic() < deadline:
            self._drain(events, 0.25)
            value = self.call("Runtime.evaluate", events, expression=f"!!({ready_js})",
                              returnByValue=True).get("result", {}).get("value")
            if value and any(e["method"] == "Page.loadEventFired" for e in events):
                rendered = True
                break
        quiet_from = len(events)  # then wait for a quiet second (late fetches, late errors)
        while time.monotonic() < deadline + 5:
            self._drain(events, 1.0)
            if len(events) == quiet_from:
                break
            quiet_from = len(events)
        text = self.call("Runtime.evaluate", events, expression="document.body ? document.body.innerText : ''",
                         returnByValue=True).get("result", {}).get("value", "")
        if screenshot is not None:
            params = {"format": "png"}
            if full_page:  # the whole document, up to 8000 px tall
                size = self.call("Page.getLayoutMetrics", events)["cssContentSize"]
                params.update(captureBeyondViewport=True, clip={
                    "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000),
                    "scale": 1})
            data = self.call("Page.captureScreenshot", events, **params)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        return _summarise(url, events, text, rendered)

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression,
                         returnByValue=True).get("result", {}).get("value")

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)


def _summarise(url: str, events: list, text: str, rendered: bool) -> PageLoad:
    load = PageLoad(url=url, text=text or "", rendered=rendered)
    failed_ids = {}
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
            failed_ids[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived":
            load.statuses[params["response"]["url"]] = params["response"]["status"]
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            load.errors.append(f"load failed ({params.get('errorText')}): "
                               f"{failed_ids.get(params['requestId'], '?')}")
        elif method == "Log.entryAdded" and params["entry"].get("source") == "network":
            continue  # "Failed to load resource": judged from ``statuses`` instead
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            desc = (details.get("exception") or {}).get("description") or details.get("text")
            load.errors.append(f"JS exception: {desc}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            load.errors.append(f"console.{params['type']}: {args}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            load.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
    return load

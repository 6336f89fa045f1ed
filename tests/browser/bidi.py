"""A minimal headless-Firefox driver over WebDriver BiDi, for the dashboard's browser test:
load a page, wait until a condition holds, read its text and its console errors, take a
screenshot. Uses websocket-client and a Firefox binary (Debian's firefox-esr); no
geckodriver, no selenium.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import websocket


class Firefox:
    """One headless Firefox with a fresh profile; ``load`` drives its first tab."""

    def __init__(self, binary: str, timeout_s: float = 60):
        self._profile = tempfile.mkdtemp(prefix="cebench-firefox-")
        self._proc = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-port", "0", "--profile", self._profile,
             "--no-remote", "--window-size", "1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._lines: list[str] = []
        threading.Thread(target=self._read_stderr, daemon=True).start()
        url = self._wait_listening(timeout_s)
        self._ws = websocket.create_connection(url + "/session", timeout=60,
                                               suppress_origin=True)
        self._next_id = 0
        self.errors: list[str] = []
        self.call("session.new", capabilities={})
        self.call("session.subscribe", events=["log.entryAdded"])
        tree = self.call("browsingContext.getTree")
        self._context = tree["contexts"][0]["context"]

    def _read_stderr(self) -> None:
        for line in self._proc.stderr:
            self._lines.append(line)

    def _wait_listening(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self._lines):
                found = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
                if found:
                    return found.group(1)
            if self._proc.poll() is not None:
                raise RuntimeError(f"firefox exited with {self._proc.returncode}: "
                                   + "".join(self._lines)[-500:])
            time.sleep(0.1)
        raise RuntimeError("firefox did not open its WebDriver BiDi port")

    def call(self, method: str, **params) -> dict:
        self._next_id += 1
        msg_id = self._next_id
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == msg_id:
                if msg.get("type") == "error":
                    raise RuntimeError(f"{method}: {msg.get('error')}: {msg.get('message')}")
                return msg.get("result", {})
            if msg.get("method") == "log.entryAdded":
                entry = msg["params"]
                if entry.get("level") == "error":
                    self.errors.append(f"{entry.get('type')}: {entry.get('text')}")

    def evaluate(self, expression: str):
        result = self.call("script.evaluate", expression=expression, awaitPromise=False,
                           target={"context": self._context}, resultOwnership="none")
        return result.get("result", {}).get("value")

    def load(self, url: str, ready_js: str = "true", timeout_s: float = 30,
             screenshot: Path | None = None) -> tuple[bool, str]:
        """Navigates to ``url`` and waits until ``ready_js`` is true; returns (ready,
        document.body.innerText). Console errors collect in ``errors``."""
        self.errors.clear()
        self.call("browsingContext.navigate", context=self._context, url=url, wait="complete")
        deadline = time.monotonic() + timeout_s
        ready = False
        while time.monotonic() < deadline:
            if self.evaluate(f"!!({ready_js})"):
                ready = True
                break
            time.sleep(0.25)
        time.sleep(0.5)  # late errors
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        if screenshot is not None:
            data = self.call("browsingContext.captureScreenshot", context=self._context)["data"]
            screenshot.write_bytes(base64.b64decode(data))
        return ready, text

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

"""A real headless Chromium driven through the DevTools protocol, for the report page's
interaction tests: no library, the protocol over the pipe Chromium opens with
``--remote-debugging-pipe`` (it reads commands on fd 3 and writes replies on fd 4, each a
JSON message ended by a NUL byte).

    with Browser(tmp_path) as b:
        b.open(url, width=1400, height=900)
        b.hover("circle[data-key='0:00']")
        b.eval("document.getElementById('tip').textContent")
        b.requests  # every URL the page asked for, itself included
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page (a target attached with a flat session)."""

    def __init__(self, tmp_path: Path, timeout: float = 60.0):
        self.tmp_path, self.timeout = Path(tmp_path), timeout
        self._id = 0
        self._replies: dict[int, dict] = {}
        self._events: queue.Queue = queue.Queue()
        self.events: list[dict] = []  # every event seen, in order
        self.session: str | None = None

    # -- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> Browser:
        if BROWSER is None:
            raise BrowserError("no Chromium binary on PATH")
        cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--hide-scrollbars",
               f"--user-data-dir={self.tmp_path / 'cdp-profile'}", "--remote-debugging-pipe",
               "about:blank"]
        # fd 3 <- our stdin pipe (commands), fd 4 -> our stdout pipe (replies)
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh", *cmd],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close", session=False, wait=False)
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort; killed below
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                self._events.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self._events.put(json.loads(raw))

    # -- the protocol ----------------------------------------------------------------------

    def send(self, method: str, params: dict | None = None, *, session: bool = True,
             wait: bool = True) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.proc.stdin.write(json.dumps(msg).encode() + b"\0")
        self.proc.stdin.flush()
        if not wait:
            return {}
        return self._wait_reply(self._id)

    def _pump(self, deadline: float) -> None:
        try:
            msg = self._events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            return
        if msg is None:
            raise BrowserError("Chromium closed the pipe")
        if "id" in msg:
            self._replies[msg["id"]] = msg
        else:
            self.events.append(msg)

    def _wait_reply(self, id_: int) -> dict:
        deadline = time.monotonic() + self.timeout
        while id_ not in self._replies:
            if time.monotonic() > deadline:
                raise BrowserError(f"no reply to message {id_}")
            self._pump(deadline)
        msg = self._replies.pop(id_)
        if "error" in msg:
            raise BrowserError(str(msg["error"]))
        return msg.get("result", {})

    def wait_event(self, method: str, seconds: float | None = None) -> dict:
        seen = len(self.events)
        deadline = time.monotonic() + (seconds or self.timeout)
        while True:
            for ev in self.events[seen:]:
                if ev.get("method") == method:
                    return ev
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise BrowserError(f"no {method} event")
            self._pump(deadline)

    # -- what the tests use ----------------------------------------------------------------

    def open(self, url: str, width: int = 1400, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in r:
            raise BrowserError(str(r["exceptionDetails"]))
        return r["result"].get("value")

    def centre(self, selector: str) -> tuple[float, float]:
        """The centre of the first element ``selector`` finds, scrolled into view."""
        box = self.eval(
            f"(function(){{var el=document.querySelector({json.dumps(selector)});"
            "if(!el){return null;}el.scrollIntoView({block:'center'});"
            "var r=el.getBoundingClientRect();return [r.left+r.width/2,r.top+r.height/2];})()")
        if box is None:
            raise BrowserError(f"nothing matches {selector}")
        return box[0], box[1]

    def mouse(self, kind: str, x: float, y: float, **kw) -> None:
        self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **kw})

    def hover(self, selector: str) -> None:
        self.mouse("mouseMoved", *self.centre(selector))

    def click(self, selector: str) -> None:
        x, y = self.centre(selector)
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, button="left", clickCount=1)
        self.mouse("mouseReleased", x, y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    @property
    def requests(self) -> list[str]:
        """Every URL the page requested (``Network.requestWillBeSent``)."""
        return [ev["params"]["request"]["url"] for ev in self.events
                if ev.get("method") == "Network.requestWillBeSent"]

    @property
    def console(self) -> list[str]:
        """Console messages, log entries and uncaught exceptions of the page."""
        out = []
        for ev in self.events:
            m = ev.get("method")
            if m == "Runtime.consoleAPICalled":
                out.append(" ".join(str(a.get("value", a.get("description")))
                                    for a in ev["params"]["args"]))
            elif m == "Log.entryAdded":
                out.append(ev["params"]["entry"]["text"])
            elif m == "Runtime.exceptionThrown":
                out.append(str(ev["params"]["exceptionDetails"]))
        return out

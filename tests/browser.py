"""Headless Chromium driven through the DevTools protocol, for the tests of the built book.

A small client over ``websocket-client`` (pinned in requirements.txt): it starts Chromium with no
route to any host but the local one, serves the built site from a local HTTP server, opens a
page, and collects what a reader's browser would report: console errors, uncaught exceptions,
failed or refused requests, and every request that tried to leave the machine.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import websocket

LOCAL_HOST = "127.0.0.1"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".ipynb": "application/x-ipynb+json", ".md": "text/markdown"}

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class Site:
    """The built book served over HTTP on 127.0.0.1 (a free port), as a reader would get it."""

    def __init__(self, root: Path):
        handler = functools.partial(QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
        self.root = root
        self.base = f"http://{LOCAL_HOST}:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path.lstrip("/")

    def path(self, url: str) -> Path:
        """The file behind a URL of this site."""
        relative = urlsplit(url).path.lstrip("/")
        target = self.root / relative
        return target / "index.html" if target.is_dir() else target

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """One headless Chromium with one page, driven by DevTools commands."""

    def __init__(self, profile: Path, timeout: float = 60):
        self.timeout = timeout
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--disable-default-apps", "--mute-audio",
             # Offline: no host name resolves except the local address the site is served on.
             f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL_HOST}",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port, path = port_file.read_text().split()
        self.socket = websocket.create_connection(f"ws://{LOCAL_HOST}:{port}{path}",
                                                  timeout=timeout)
        self.next_id = 0
        self.events: list[dict] = []
        target = self.command("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.command("Target.attachToTarget", targetId=target,
                                    flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.command(f"{domain}.enable", session=True)
        self.main_frame = self.command("Page.getFrameTree", session=True)["frameTree"]["frame"]["id"]

    # --- protocol ---------------------------------------------------------------------------

    def command(self, method: str, session: bool = False, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(f"no answer to {method} within {self.timeout} s")

    def wait_for_event(self, method: str, seconds: float) -> bool:
        if any(event["method"] == method for event in self.events):
            return True
        deadline = time.monotonic() + seconds
        self.socket.settimeout(seconds)
        try:
            while time.monotonic() < deadline:
                reply = json.loads(self.socket.recv())
                if "method" in reply:
                    self.events.append(reply)
                    if reply["method"] == method:
                        return True
        except websocket.WebSocketTimeoutException:
            return False
        finally:
            self.socket.settimeout(self.timeout)
        return False

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.command("Runtime.evaluate", session=True, expression=expression,
                              returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    # --- pages ------------------------------------------------------------------------------

    def set_width(self, width: int, height: int = 900):
        self.command("Emulation.setDeviceMetricsOverride", session=True, width=width,
                     height=height, deviceScaleFactor=1, mobile=width < 600)

    def open(self, url: str, settle: float = 0.3):
        """Load a page, wait for its load event and for MathJax to finish typesetting."""
        self.events.clear()
        self.command("Page.navigate", session=True, url=url)
        for _ in range(5):  # a page that redirects (the site's index.html) loads twice
            if not self.wait_for_event("Page.loadEventFired", self.timeout):
                raise TimeoutError(f"{url} did not finish loading")
            try:
                self.evaluate("(window.MathJax && MathJax.startup && MathJax.startup.promise)"
                              " ? MathJax.startup.promise.then(() => true) : true", await_promise=True)
                time.sleep(settle)
                self.wait_for_event("(none)", 0.05)  # collect the events that arrived meanwhile
            except RuntimeError as error:
                if "navigated" not in str(error):
                    raise
            loads = [i for i, event in enumerate(self.events) if event["method"] == "Page.loadEventFired"]
            if not any(event["method"] == "Page.frameStartedLoading"
                       and event.get("params", {}).get("frameId") == self.main_frame
                       for event in self.events[loads[-1] + 1:]):
                return
            # The page moved on (a redirect): wait for the next page's load event.
            self.events = [event for event in self.events if event["method"] != "Page.loadEventFired"]
        raise RuntimeError(f"{url} kept navigating")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and failed requests since the last open().

        The browser's own request for ``/favicon.ico`` (which the site does not have) is not a
        problem of the page.
        """
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if "/favicon.ico" in json.dumps(params):
                continue
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(f"exception: {details.get('exception', {}).get('description')}"
                             f" {details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                texts = [str(arg.get("value", arg.get("description"))) for arg in params["args"]]
                found.append("console error: " + " ".join(texts))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                found.append(f"log error: {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return found

    def requests(self) -> list[str]:
        return [event["params"]["request"]["url"] for event in self.events
                if event["method"] == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.socket.close()
        except Exception:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

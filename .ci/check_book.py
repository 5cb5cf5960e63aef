#!/usr/bin/env python3
"""Check every page of the built book in headless Chromium (standard library only).

mdbook exits 0 on a missing include, a malformed formula or missing KaTeX CSS, so this script
loads each page in a real browser over the DevTools protocol (--remote-debugging-pipe) and fails
on: a failed request or one leaving 127.0.0.1; no typeset math (.katex) on a page whose source
has math; a .katex-error; markdown mangling inside math (<del> from a stray "~"); KaTeX CSS not
applied or no KaTeX font loaded; raw TeX ($, $$, \\frac, _{) in the visible text outside code;
an image that failed to load; an unexpanded {{#include}}; a display formula wider than the
page at 1200 px.

usage: check_book.py BUILD_DIR SRC_DIR [SCREENSHOT_DIR]
"""
import functools
import http.server
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlparse

PAGE_CHECK_JS = r"""
(() => {
  const r = {};
  r.katex = document.querySelectorAll('.katex').length;
  r.katexErrors = document.querySelectorAll('.katex-error').length;
  r.mangled = document.querySelectorAll('.katex del, .katex em, .katex strong').length;
  const k = document.querySelector('.katex');
  r.katexFont = k ? getComputedStyle(k).fontFamily : '';
  r.katexFontsLoaded = [...document.fonts]
      .filter(f => f.status === 'loaded' && f.family.includes('KaTeX')).length;
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, .katex, script, style').forEach(e => e.remove());
  const text = clone.textContent;
  r.rawTex = ['$', '\\frac', '_{', '\\begin', '\\mathcal', '\\bar'].filter(s => text.includes(s));
  r.unexpanded = document.body.innerHTML.includes('{{#');
  r.tooWide = [...document.querySelectorAll('.katex-display')]
      .filter(d => d.scrollWidth > d.clientWidth + 2)
      .map(d => (d.querySelector('annotation') || d).textContent.slice(0, 60));
  r.images = document.images.length;
  r.brokenImages = [...document.images]
      .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
  return r;
})()
"""


class Browser:
    """A headless Chromium driven over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, exe):
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()

        def wire():
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self.profile = tempfile.mkdtemp(prefix="book-check-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--hide-scrollbars",
             f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=wire, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._next = 0
        self._replies = {}
        self._cond = threading.Condition()
        self.events = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._replies[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self.events.put(msg)

    def call(self, method, params=None, session=None, timeout=30):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        with self._cond:
            while self._next not in self._replies:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError(f"no reply to {method}")
                self._cond.wait(left)
            reply = self._replies.pop(self._next)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def serve(directory):
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def check_page(browser, url, needs_math, shot):
    problems = []
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Page", "Runtime"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": 1200, "height": 1600, "deviceScaleFactor": 1, "mobile": False},
                 session=session)
    while not browser.events.empty():
        browser.events.get_nowait()
    browser.call("Page.navigate", {"url": url}, session=session)
    loaded = False
    deadline = time.time() + 30
    urls = {}
    while time.time() < deadline:
        try:
            ev = browser.events.get(timeout=0.5)
        except queue.Empty:
            if loaded:
                break  # loaded, and half a second without network events
            continue
        if ev.get("sessionId") != session:
            continue
        method, params = ev["method"], ev.get("params", {})
        if method == "Network.requestWillBeSent":
            req_url = params["request"]["url"]
            urls[params["requestId"]] = req_url
            parsed = urlparse(req_url)
            if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname != "127.0.0.1":
                problems.append(f"request leaves the machine: {req_url}")
        elif method == "Network.loadingFailed":
            problems.append(f"request failed ({params.get('errorText')}): "
                            f"{urls.get(params['requestId'], '?')}")
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400:
                problems.append(f"HTTP {status}: {params['response']['url']}")
        elif method == "Page.loadEventFired":
            loaded = True
    if not loaded:
        problems.append("page did not finish loading in 30 s")
    browser.call("Runtime.evaluate", {"expression": "document.fonts.ready.then(() => 1)",
                                      "awaitPromise": True}, session=session)
    r = browser.call("Runtime.evaluate", {"expression": PAGE_CHECK_JS, "returnByValue": True},
                     session=session)["result"]["value"]
    if needs_math:
        if r["katex"] == 0:
            problems.append("the source has math but the page has no typeset .katex")
        elif "KaTeX_Main" not in r["katexFont"]:
            problems.append(f"KaTeX CSS not applied (font-family: {r['katexFont']!r})")
        if r["katex"] and r["katexFontsLoaded"] == 0:
            problems.append("no KaTeX font loaded")
    if r["katexErrors"]:
        problems.append(f"{r['katexErrors']} KaTeX errors")
    if r["mangled"]:
        problems.append(f"{r['mangled']} markdown tags inside typeset math (a stray ~, * or _)")
    if r["rawTex"]:
        problems.append(f"raw TeX in the visible text: {r['rawTex']}")
    if r["unexpanded"]:
        problems.append("an unexpanded {{#...}} directive")
    if r["tooWide"]:
        problems.append(f"display formulas wider than the 1200-px page: {r['tooWide']}")
    if r["brokenImages"]:
        problems.append(f"images failed to load: {r['brokenImages']}")
    if shot:
        data = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        import base64
        with open(shot, "wb") as f:
            f.write(base64.b64decode(data))
    browser.call("Target.closeTarget", {"targetId": target})
    return r, problems


def chapters(src_dir):
    """(html name, needs math) for every page listed in SUMMARY.md, plus index and print."""
    summary = open(os.path.join(src_dir, "SUMMARY.md"), encoding="utf-8").read()
    pages = []
    any_math = False
    for md in re.findall(r"\]\(([^)]+\.md)\)", summary):
        text = open(os.path.join(src_dir, md), encoding="utf-8").read()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        has_math = "$" in text
        any_math |= has_math
        pages.append((md[:-3] + ".html", has_math))
        if md == re.findall(r"\]\(([^)]+\.md)\)", summary)[0]:
            pages.append(("index.html", has_math))
    pages.append(("print.html", any_math))
    return pages


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build, src = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else None
    if shots:
        os.makedirs(shots, exist_ok=True)
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not exe:
        sys.exit("check_book: chromium not found (apt-get install chromium)")
    server = serve(build)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    browser = Browser(exe)
    failed = 0
    try:
        for page, needs_math in chapters(src):
            if not os.path.exists(os.path.join(build, page)):
                print(f"FAIL {page}: not built")
                failed += 1
                continue
            shot = os.path.join(shots, page.replace(".html", ".png")) if shots else None
            r, problems = check_page(browser, base + page, needs_math, shot)
            status = "FAIL" if problems else "ok  "
            print(f"{status} {page}: {r['katex']} formulas, {r['images']} images, "
                  f"{r['katexFontsLoaded']} KaTeX fonts")
            for p in problems:
                print(f"     - {p}")
            failed += bool(problems)
    finally:
        browser.close()
        server.shutdown()
    if failed:
        sys.exit(f"check_book: {failed} page(s) failed")
    print("check_book: every page passed")


if __name__ == "__main__":
    main()

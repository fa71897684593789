#!/usr/bin/env python3
"""Drives `holdadvisor serve` in headless Chromium through chromedriver (W3C WebDriver, plain
HTTP: no package needed beyond Python's own library).

    python3 tests/browser/dashboard.py BASE_URL JOB_ID CHROMEDRIVER CHROMIUM [SCREENSHOT_DIR]

Checks, as a user would see them: the overview lists the held jobs by id (those the JSON API
lists) and their groups; a job's link opens its page, which shows the advice the API has for
it; the feedback page's reliability plot renders (a non-empty, non-blank screenshot); the
navigation links and an owner's link work. With SCREENSHOT_DIR it also saves full-page
screenshots (the README's). Exits non-zero with the first failure.
"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib

BASE, JOB_ID, DRIVER, CHROMIUM = sys.argv[1:5]
SHOTS = sys.argv[5] if len(sys.argv) > 5 else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"WebDriver {method} {url}: {e.code} {e.read()[:500]!r}")


def api(path):
    with urllib.request.urlopen(BASE + path, timeout=30) as r:
        return json.loads(r.read())


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def png_size_and_colours(png):
    """Width, height and whether more than one colour appears (RGB(A), 8-bit, no interlace)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 6
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos:pos + 8])
        chunk = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    channels = {2: 3, 6: 4}.get(ctype, 4)
    stride = w * channels + 1
    colours = set()
    prev = bytearray(stride - 1)
    for y in range(h):
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(len(line)):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        if y % 7 == 0:
            for x in range(0, w, 5):
                colours.add(bytes(line[x * channels:x * channels + 3]))
        if len(colours) > 2:
            break
    return w, h, len(colours) > 2


port = free_port()
driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
W = f"http://127.0.0.1:{port}"
profile = tempfile.mkdtemp(prefix="holdadvisor-chromium-")
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(W + "/status", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": subprocess.run(["sh", "-c", f"command -v {CHROMIUM}"], capture_output=True, text=True).stdout.strip() or CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", f"--user-data-dir={profile}"]}}}}
    session = call("POST", W + "/session", caps)["value"]["sessionId"]
    S = f"{W}/session/{session}"

    def go(url):
        call("POST", S + "/url", {"url": url})

    def find_all(css):
        # W3C names the id "element-6066-11e4-a52e-4a4d3e5c1e87"; older drivers "ELEMENT".
        found = call("POST", S + "/elements", {"using": "css selector", "value": css})["value"]
        return [next(iter(e.values())) for e in found]

    def find(css):
        found = find_all(css)
        check(found, f"the page has {css}")
        return found[0]

    def text(el):
        return call("GET", f"{S}/element/{el}/text")["value"]

    def attr(el, name):
        return call("GET", f"{S}/element/{el}/attribute/{name}")["value"]

    def click(el):
        call("POST", f"{S}/element/{el}/click", {})

    def url():
        return call("GET", S + "/url")["value"]

    def js(script):
        return call("POST", S + "/execute/sync", {"script": script, "args": []})["value"]

    def shot(name):
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            data = base64.b64decode(call("GET", S + "/screenshot")["value"])
            open(os.path.join(SHOTS, name), "wb").write(data)

    try:
        overview = api("/api/overview")
        go(BASE + "/")
        listed = [attr(e, "data-id") for e in find_all("tr.job")]
        want = [f"{j['cluster']}.{j['proc']}" for j in overview["jobs"]]
        check(listed == want, f"the overview lists the {len(want)} held jobs the API lists, by id")
        groups = find_all("tr.group")
        check(len(groups) == len(overview["groups"]) > 0, f"the overview shows the {len(overview['groups'])} groups")
        first_group = text(groups[0])
        g = overview["groups"][0]
        check(g["advice"] in first_group and g["commands"][0].split(" -constraint")[0] in first_group,
              "the first group shows its advice and its command")
        check(js("const i = document.querySelector('#holds-per-day img'); return i.complete && i.naturalWidth > 0"),
              "the holds-over-time plot loads")
        shot("overview.png")

        link = find(f'tr.job[data-id="{JOB_ID}"] a')
        click(link)
        check(url().endswith(f"/job/{JOB_ID}"), f"the job's link opens /job/{JOB_ID}")
        job = api(f"/api/jobs/{JOB_ID}")
        newest = job["holds"][-1]
        advice = find(f"#advice-{newest['episode']}")
        check(text(advice) == newest["advice"], f"job {JOB_ID}'s page shows its advice ({newest['advice']})")
        shot("job.png")

        owner_links = find_all("a[href^='/owner/']")
        if owner_links:
            name = text(owner_links[0])
            click(owner_links[0])
            check(f"Held jobs of {name}" in text(find("h1")), f"the owner link opens {name}'s page")

        click(find("#nav-feedback"))
        check(url().endswith("/feedback"), "the navigation opens the feedback page")
        plot = find("#reliability-plot")
        check(js("const i = document.querySelector('#reliability-plot'); return i.complete && i.naturalWidth > 0"),
              "the reliability plot loads")
        png = base64.b64decode(call("GET", f"{S}/element/{plot}/screenshot")["value"])
        w, h, varied = png_size_and_colours(png)
        check(w > 100 and h > 100 and varied, f"the reliability plot renders ({w}x{h} px, not blank)")
        shot("feedback.png")

        click(find("#nav-model"))
        check("SIMULATED" in text(find("#data-note")), "the model page flags simulated training data")
        click(find("#nav-overview"))
        check(url().rstrip("/") == BASE.rstrip("/"), "the navigation returns to the overview")
    finally:
        call("DELETE", S)
finally:
    driver.terminate()
    driver.wait()

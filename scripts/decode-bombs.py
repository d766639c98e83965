#!/usr/bin/env python3
"""Measure pixpool serve's peak memory under decompression bombs.

Generates small PNGs of huge dimensions (a 16-bit RGBA one, ~630 KB for
9000x9000, and 1-bit gray ones, ~12 KB for 10000x10000), starts
`pixpool serve --analyze=false` (or with analysis, --analyze) on 127.0.0.1
from a fresh data folder, uploads N of them at once, then asks for their
thumbnails at once (the on-demand path), while a loop GETs a small image and
counts answers. It samples the server's VmRSS every 20 ms and prints the peak
(and the kernel's VmHWM), the statuses of the uploads and thumbnails, and
how the normal GETs fared.

    go build -o /tmp/pixpool ./cmd/pixpool
    scripts/decode-bombs.py /tmp/pixpool                   # 4 x 9000x9000 16-bit
    scripts/decode-bombs.py /tmp/pixpool --kind 1bit -n 8  # 8 x 10000x10000 1-bit
    scripts/decode-bombs.py /tmp/pixpool --size 8000       # at a 64 MP limit

Needs only Python 3's standard library. Load is bounded: N uploads, N
thumbnails and one GET loop, all on loopback.
"""

import argparse
import json
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib


def png(width, height, bit_depth, color_type, row_bytes):
    """A PNG whose pixels are all zero, compressed as well as deflate can."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (1 + row_bytes)  # filter byte "none", then zero samples
    parts = []
    block = row * max(1, (4 << 20) // len(row))
    rows_per_block = len(block) // len(row)
    left = height
    while left > 0:
        n = min(left, rows_per_block)
        parts.append(z.compress(block[: n * len(row)]))
        left -= n
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
            chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def bomb(kind, size):
    if kind == "16bit":  # RGBA, 16 bits a sample: 8 bytes a pixel decoded
        return png(size, size, 16, 6, size * 8)
    if kind == "1bit":  # gray, 1 bit a pixel
        return png(size, size, 1, 0, (size + 7) // 8)
    raise SystemExit("unknown --kind " + kind)


def small_png():
    return png(64, 64, 8, 2, 64 * 3)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def request(method, url, key, data=None, timeout=120):
    """key is an API key, or a session cookie (name=value) for web pages."""
    req = urllib.request.Request(url, data=data, method=method)
    if "=" in key:
        req.add_header("Cookie", key)
    else:
        req.add_header("Authorization", "Bearer " + key)
    if data is not None and "Content-Type" not in req.headers:
        req.add_header("Content-Type", "application/octet-stream")
    t = time.monotonic()
    try:
        with opener.open(req, timeout=timeout) as r:
            r.read()
            return r.status, dict(r.headers), time.monotonic() - t
    except urllib.error.HTTPError as e:
        body = e.read()[:200].decode(errors="replace")
        return e.code, dict(e.headers) | {"body": body}, time.monotonic() - t
    except Exception as e:  # connection refused, timeout
        return repr(e), {}, time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--kind", default="16bit", choices=["16bit", "1bit"])
    ap.add_argument("--size", type=int, default=0, help="side in pixels (default 9000 for 16bit, 10000 for 1bit)")
    ap.add_argument("-n", type=int, default=4, help="bombs uploaded at once")
    ap.add_argument("--analyze", action="store_true", help="run with analysis on (needs recognition installed)")
    ap.add_argument("--settle", type=float, default=5, help="seconds to wait after the thumbnails before reading RSS again")
    ap.add_argument("--keep", action="store_true", help="keep the data folder")
    ap.add_argument("--serve", default="", help="more flags for serve, e.g. '--max-pixels 100000000'")
    a = ap.parse_args()
    size = a.size or (9000 if a.kind == "16bit" else 10000)

    data = bomb(a.kind, size)
    print(f"bomb: {a.kind} {size}x{size} PNG, {len(data)} bytes; {a.n} at once")

    tmp = tempfile.mkdtemp(prefix="pixpool-bombs-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PIXPOOL_ADMIN_PASSWORD="bomb-test-password-1")
    args = [a.binary, "serve", "--addr", f"127.0.0.1:{port}", "--data", tmp, "--cache-size", "0",
            "--analyze=" + ("true" if a.analyze else "false"), "--max-upload", "64MiB"] + shlex.split(a.serve)
    log = open(os.path.join(tmp, "serve.log"), "w")
    srv = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except Exception:
                time.sleep(0.1)
        else:
            raise SystemExit("serve did not start; see " + log.name)
        key = subprocess.run([a.binary, "apikey", "create", "--data", tmp, "admin"],
                             check=True, capture_output=True, text=True).stdout.strip()
        # /thumb is a web page: it takes a session, not an API key.
        form = urllib.parse.urlencode({"username": "admin", "password": env["PIXPOOL_ADMIN_PASSWORD"], "next": "/"}).encode()
        req = urllib.request.Request(base + "/login", data=form, method="POST")
        try:
            opener.open(req, timeout=30)
            raise SystemExit("login did not redirect")
        except urllib.error.HTTPError as e:
            cookie = e.headers["Set-Cookie"].split(";")[0]
        st, _, _ = request("PUT", base + "/api/v1/images/small.png", key, small_png())
        assert st == 200 or st == 201, st
        base_rss = rss_kb(srv.pid)

        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(srv.pid))
                time.sleep(0.02)

        gets = []

        def getter():
            while not stop.is_set():
                st, _, dt = request("GET", base + "/api/v1/images/small.png", key, timeout=30)
                gets.append((st, dt))
                time.sleep(0.05)

        threads = [threading.Thread(target=sample), threading.Thread(target=getter)]
        for t in threads:
            t.start()

        def burst(label, fn):
            res = [None] * a.n
            ts = [threading.Thread(target=lambda i=i: res.__setitem__(i, fn(i))) for i in range(a.n)]
            t0 = time.monotonic()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            took = time.monotonic() - t0
            statuses = {}
            for st, h, _ in res:
                statuses[st] = statuses.get(st, 0) + 1
            extra = ""
            for st, h, _ in res:
                if st != 200 and st != 201:
                    extra = f" e.g. {st} Retry-After={h.get('Retry-After')} {h.get('body', '')!r}"
                    break
            print(f"{label}: {statuses} in {took:.1f} s; peak RSS so far {peak[0] / 1024:.0f} MB{extra}")

        burst("uploads", lambda i: request("PUT", f"{base}/api/v1/images/bomb{i}.png", key, data))
        # Thumbnails made in the background after the uploads would be
        # served from disk; remove them so that every one is made on demand,
        # as for images whose background thumbnail was skipped or lost.
        time.sleep(3)
        for root, _, files in os.walk(os.path.join(tmp, "blobs", "thumb")):
            for f in files:
                os.remove(os.path.join(root, f))
        burst("thumbnails", lambda i: request("GET", f"{base}/thumb?key=bomb{i}.png", cookie))
        time.sleep(a.settle)
        stop.set()
        for t in threads:
            t.join()
        hwm = rss_kb(srv.pid, "VmHWM")
        after = rss_kb(srv.pid)
        ok = [dt for st, dt in gets if st == 200]
        bad = [st for st, dt in gets if st != 200]
        print(f"RSS: before {base_rss / 1024:.0f} MB, peak {peak[0] / 1024:.0f} MB (VmHWM {hwm / 1024:.0f} MB), "
              f"{a.settle:.0f} s after {after / 1024:.0f} MB")
        if ok:
            print(f"normal GETs meanwhile: {len(ok)} x 200, slowest {max(ok):.2f} s; failed: {len(bad)} {bad[:3]}")
        else:
            print(f"normal GETs meanwhile: none answered 200; {bad[:3]}")
        print(json.dumps({"peak_mb": round(peak[0] / 1024), "hwm_mb": round(hwm / 1024), "after_mb": round(after / 1024)}))
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
        log.close()
        if a.keep:
            print("data folder:", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

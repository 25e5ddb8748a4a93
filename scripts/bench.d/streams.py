# SPDX-License-Identifier: MIT
"""Stream clients for scripts/bench: time to first byte, and holding many streams open.

Talks only to 127.0.0.1.  Subcommands:
  port                       print a free TCP port on 127.0.0.1
  ttfb PORT PATH BODY N OUT  N sequential streams, one connection each; appends
                             "ttfb_us total_us" per stream to OUT
  hold PORT PATH BODY N PIDS open N streams, wait for the first SSE event on each, then
                             report the resident memory of PIDS (comma-separated)
"""

import asyncio
import os
import socket
import sys
import time

HOST = "127.0.0.1"
IO_TIMEOUT_S = 10.0


def request_bytes(port, path, body, close):
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "Accept: text/event-stream\r\n"
        f"Authorization: Bearer {os.environ.get('BENCH_KEY', 'sk-bench-local')}\r\n"
        f"Content-Length: {len(body.encode())}\r\n"
    )
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + body.encode()


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ttfb(port, path, body, n, out):
    """Sequential streams on fresh connections: no load, so this is the proxy's own delay."""
    req = request_bytes(port, path, body, close=True)
    rows, failed = [], 0
    for _ in range(n):
        with socket.create_connection((HOST, port), timeout=IO_TIMEOUT_S) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter_ns()
            s.sendall(req)
            first = s.recv(65536)
            t1 = time.perf_counter_ns()
            data = bytearray(first)
            while len(data) < (1 << 22):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            t2 = time.perf_counter_ns()
        if not data.startswith(b"HTTP/1.1 200") or b"data:" not in data:
            failed += 1
            continue
        rows.append(f"{(t1 - t0) // 1000} {(t2 - t0) // 1000}\n")
    with open(out, "a") as f:
        f.writelines(rows)
    print(f"TTFB done={len(rows)} failed={failed}")
    return 1 if failed else 0


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def open_stream(port, req, sem, held, errors):
    async with sem:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, port), IO_TIMEOUT_S)
            writer.write(req)
            buf = b""
            # Headers, then at least one SSE event: the stream is flowing through the proxy.
            while b"\r\n\r\n" not in buf or b"data:" not in buf.split(b"\r\n\r\n", 1)[1]:
                chunk = await asyncio.wait_for(reader.read(65536), IO_TIMEOUT_S)
                if not chunk or len(buf) > 65536:
                    raise ConnectionError("closed before the first event")
                buf += chunk
            if not buf.startswith(b"HTTP/1.1 200"):
                raise ConnectionError(buf.split(b"\r\n", 1)[0].decode(errors="replace"))
            held.append(writer)
        except (OSError, asyncio.TimeoutError, ConnectionError) as e:
            errors.append(str(e) or type(e).__name__)
            if writer is not None:
                writer.close()


async def hold_async(port, path, body, n, pids):
    req = request_bytes(port, path, body, close=False)
    before = rss_kb(pids)
    sem = asyncio.Semaphore(256)    # connections being set up at once: stay under the backlog
    held, errors = [], []
    t0 = time.monotonic()
    await asyncio.gather(*(open_stream(port, req, sem, held, errors) for _ in range(n)))
    ramp = time.monotonic() - t0
    await asyncio.sleep(1.0)        # let the proxy settle (lazy frees, timers)
    during = rss_kb(pids)
    for w in held:
        w.close()
    await asyncio.sleep(2.0)
    after = rss_kb(pids)
    per = (during - before) / len(held) if held else 0.0
    print(f"HOLD held={len(held)} failed={len(errors)} ramp_s={ramp:.2f} "
          f"rss_before_kb={before} rss_held_kb={during} rss_after_kb={after} "
          f"per_stream_kb={per:.2f}")
    if errors:
        print("HOLD first error: " + errors[0], file=sys.stderr)
    return 1 if not held else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "port":
        print(free_port())
        return 0
    if len(argv) == 7 and argv[1] == "ttfb":
        return ttfb(int(argv[2]), argv[3], argv[4], int(argv[5]), argv[6])
    if len(argv) == 7 and argv[1] == "hold":
        pids = [int(p) for p in argv[6].split(",") if p]
        return asyncio.run(hold_async(int(argv[2]), argv[3], argv[4], int(argv[5]), pids))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

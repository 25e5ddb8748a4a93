# SPDX-License-Identifier: MIT
"""Summarise scripts/bench's raw results (RESULTS file, TTFB files) as tables.

Usage: report.py RESULTS TTFB_DIR CLK_TCK
RESULTS holds lines "KIND key=value ...": RUN (one wrk run; for sluice+redis also Redis's CPU
and command counts), RSS (peak memory), HOLD (the open-streams test), PROFILE (callgrind
instructions).  The last lines printed are the headlines.  Exit 1 if a run had errors.
"""

import os
import statistics
import sys

PATHS = {                   # key: (label, reference path of nginx and direct)
    "v1": ("/v1 buffered", "v1"),
    "api": ("/api/chat", "v1"),
    "v1s": ("/v1 stream", "v1s"),
    "apis": ("/api/chat/stream", "v1s"),
    "v1k": ("/v1 2 KB prompt", "v1"),
    "v1kg": ("/v1 2 KB, guard", "v1"),
}
CONTESTANTS = ("sluice", "sluicer", "nginx", "direct")
NAMES = {"direct": "direct*", "sluicer": "sl+redis"}


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            kind, *kv = line.split()
            d = {"kind": kind}
            for item in kv:
                k, _, v = item.partition("=")
                d[k] = v
            rows.append(d)
    return rows


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def main(results, ttfb_dir, clk_tck):
    rows = parse(results)
    if not any(r["kind"] == "RUN" for r in rows):
        profile_line(rows)   # BENCH_PROFILE=only
        return 0
    runs = {}
    errors = 0
    for r in rows:
        if r["kind"] != "RUN":
            continue
        reqs = int(r["requests"])
        err = sum(int(r[k]) for k in ("connect", "read", "write", "status", "timeout"))
        cpu_us = int(r["cpu_ticks"]) * 1e6 / clk_tck
        runs.setdefault((r["contestant"], r["path"]), []).append({
            "rps": reqs * 1e6 / int(r["duration_us"]),
            "p50": int(r["p50_us"]) / 1000.0,
            "p99": int(r["p99_us"]) / 1000.0,
            "us": cpu_us / reqs if reqs else float("nan"),
            "core": cpu_us / int(r["wall_us"]),
            "usr": int(r["usr_ticks"]) / int(r["cpu_ticks"]) if int(r["cpu_ticks"]) else 0.0,
            "other": max(0.0, int(r["core_ticks"]) * 1e6 / clk_tck - cpu_us) / int(r["wall_us"])
                     if r["contestant"] != "direct" else float("nan"),
            "err": err,
            "reqs": reqs,
            "redis_us": int(r["redis_ticks"]) * 1e6 / clk_tck / reqs
                        if "redis_ticks" in r and reqs else float("nan"),
            "redis_cmds": int(r["redis_cmds"]) / reqs if "redis_cmds" in r and reqs else 0.0,
            "redis_scripts": int(r["redis_scripts"]) / reqs
                             if "redis_scripts" in r and reqs else 0.0,
        })
        errors += err

    med = {}
    for key, rs in runs.items():
        med[key] = {f: statistics.median(x[f] for x in rs)
                    for f in ("rps", "p50", "p99", "us", "core", "other", "usr", "redis_us",
                              "redis_cmds", "redis_scripts")}
        med[key]["err"] = sum(x["err"] for x in rs)
        med[key]["rounds"] = len(rs)
        us = [x["us"] for x in rs]
        med[key]["spread"] = (max(us) - min(us)) / med[key]["us"] * 100 if len(us) > 1 else 0

    print("== throughput (median of rounds; CPU = the contestant's own processes) ==")
    print(f"{'path':<18} {'contestant':<10} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU us/req':>10} {'+-%':>4} {'usr%':>4} {'req/s/core':>10} {'core%':>6} "
          f"{'other%':>6} {'vs nginx':>8} {'vs direct':>9} {'errors':>6}")
    for p, (label, ref) in PATHS.items():
        for c in CONTESTANTS:
            m = med.get((c, p))
            if not m:
                continue
            ngx = med.get(("nginx", ref))
            drc = med.get(("direct", ref))
            vs_ngx = f"{ngx['us'] / m['us']:.2f}" if ngx and c != "direct" else "-"
            vs_drc = f"{m['rps'] / drc['rps']:.2f}" if drc else "-"
            name = NAMES.get(c, c)
            other = "-" if c == "direct" else f"{m['other'] * 100:.0f}%"
            print(f"{label:<18} {name:<10} {m['rps']:>8.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} "
                  f"{m['us']:>10.1f} {m['spread']:>4.0f} {m['usr'] * 100:>4.0f} "
                  f"{1e6 / m['us']:>10.0f} "
                  f"{m['core'] * 100:>5.0f}% {other:>6} {vs_ngx:>8} {vs_drc:>9} {m['err']:>6}")
    print("(direct* = wrk straight at the fake upstream; its CPU column is the fake's own cost."
          "\n /api/chat rows are compared with nginx's and direct's /v1 rows: same upstream"
          " call.\n sl+redis = the same sluiced with [redis] url; its CPU column is sluiced's"
          " alone (Redis's below).\n vs nginx = per-core ratio = nginx us/req / contestant us/req;"
          " vs direct = req/s ratio;\n +-% = spread of CPU us/req across rounds, max-min"
          " over median; usr% = share of that CPU time in user space;\n core% = the"
          " contestant's CPU time / wall time; other% = the"
          " gateway core's busy time\n (steal included) not spent by the contestant: noise.)")

    print()
    print("== one stream at a time (no load): time to first byte and to the last byte ==")
    print(f"{'path':<18} {'contestant':<10} {'streams':>7} {'TTFB p50':>9} {'TTFB p99':>9} "
          f"{'full p50':>9} {'full p99':>9}  (ms)")
    for p in ("v1s", "apis"):
        for c in CONTESTANTS:
            fn = os.path.join(ttfb_dir, f"ttfb-{c}-{p}.txt")
            if not os.path.exists(fn):
                continue
            with open(fn) as f:
                vals = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
            t = [v[0] / 1000.0 for v in vals]
            a = [v[1] / 1000.0 for v in vals]
            name = NAMES.get(c, c)
            print(f"{PATHS[p][0]:<18} {name:<10} {len(vals):>7} {pct(t, 50):>9.3f} "
                  f"{pct(t, 99):>9.3f} {pct(a, 50):>9.3f} {pct(a, 99):>9.3f}")

    print()
    print("== memory ==")
    for r in rows:
        if r["kind"] == "RSS":
            print(f"{r['contestant']:<7} peak RSS after the throughput rounds (VmHWM, "
                  f"{r['procs']}): {int(r['hwm_kb']) / 1024:.1f} MiB")
    for r in rows:
        if r["kind"] == "HOLD":
            print(f"{r['contestant']:<7} {r['held']} streams held open ({r['failed']} failed, "
                  f"opened in {r['ramp_s']} s): RSS {int(r['rss_before_kb']) / 1024:.1f} -> "
                  f"{int(r['rss_held_kb']) / 1024:.1f} MiB = {r['per_stream_kb']} KiB per open "
                  f"stream; {int(r['rss_after_kb']) / 1024:.1f} MiB 2 s after they closed")

    print()
    noisy = [f"{c} {PATHS[p][0]}" for (c, p), m in med.items() if c != "direct" and
             m["other"] > 0.10]
    if noisy:
        print(f"NOTE: other processes kept the gateway core busy (other% > 10) during: "
              f"{', '.join(sorted(noisy))}; those CPU figures run high, rerun on a quiet "
              f"machine")
    plain, guarded = med.get(("sluice", "v1k")), med.get(("sluice", "v1kg"))
    if plain and guarded:
        extra = guarded["us"] - plain["us"]
        print(f"input guard (typical policy: markup, card and email, 10 patterns; 2 KB prompt): "
              f"{extra:+.1f} us/req = {extra / guarded['us'] * 100:+.1f}% of the request's CPU "
              f"({plain['us']:.1f} -> {guarded['us']:.1f} us/req)")
    r = med.get(("sluicer", "v1"))
    if r:
        print(f"redis, per /v1 request through sluice+redis: {r['redis_cmds']:.2f} commands, "
              f"{r['redis_scripts']:.2f} of them scripts (EVALSHA), {r['redis_us']:.1f} us of "
              f"redis-server's CPU")
    if errors:
        print(f"WARNING: {errors} requests failed (see the errors column)")
    if not headlines(med, rows):
        return 1
    return 1 if errors else 0


def ratio_line(label, num, den, fmt):
    """One headline: den's cost over num's, or n/a when either did not run."""
    if num and den:
        print(f"{label}: {den['us'] / num['us']:.2f} ({fmt(num['us'], den['us'])})")
        return True
    print(f"{label}: n/a (a contestant did not run)")
    return False


def headlines(med, rows):
    """The lines docs/BENCHMARKS.md quotes, in this order, last in the output."""
    ok = ratio_line("sluice/nginx per-core ratio", med.get(("sluice", "v1")),
                    med.get(("nginx", "v1")),
                    lambda a, b: f"sluice {a:.1f} us/req, nginx {b:.1f} us/req")
    ok &= ratio_line("stream sluice/nginx per-core ratio", med.get(("sluice", "v1s")),
                     med.get(("nginx", "v1s")),
                     lambda a, b: f"sluice {a:.1f} us/stream, nginx {b:.1f} us/stream")
    ok &= ratio_line("redis/shm per-core ratio", med.get(("sluicer", "v1")),
                     med.get(("sluice", "v1")),
                     lambda a, b: f"sluice with redis {a:.1f} us/req, without {b:.1f} us/req")
    r = med.get(("sluicer", "v1"))
    if r:
        print(f"redis scripts per request: {r['redis_scripts']:.2f} (redis {r['redis_us']:.1f} "
              f"us/req)")
    else:
        print("redis scripts per request: n/a (sluice+redis did not run)")
    profile_line(rows)
    return ok


def profile_line(rows):
    """With BENCH_PROFILE: callgrind instructions per buffered /v1 request, both proxies."""
    per = {}
    for r in rows:
        if r["kind"] == "PROFILE" and r["path"] == "v1" and int(r["requests"]):
            per[r["contestant"]] = int(r["instructions"]) // int(r["requests"])
    if per:
        print(f"instructions per request: sluice {per.get('sluice', 'n/a')}, "
              f"nginx {per.get('nginx', 'n/a')}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

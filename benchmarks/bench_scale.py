"""Smoke at production scale: a synthetic Prometheus with many targets and rules, and the curl floor.

Usage: .venv/bin/python benchmarks/bench_scale.py [--targets 5000] [--rules 1000] [--skip-floor]

What it starts, all on 127.0.0.1 and torn down afterwards:

- one small HTTP server answering ``/metrics`` for every synthetic target (one address, each target a
  distinct ``shard`` label, scraped every 30 s);
- the real probe (``stackcheck probe``) as job ``phase5``, so the stack's recording rules have data;
- Debian's Prometheus 2.42 scraping both (and itself), loading manifests/'s rule files plus a synthetic
  rule file (90 % recording ``vector()`` rules, 10 % alerting rules that stay inactive);
- a counting proxy in front of Prometheus: every request and the bytes Prometheus sent (on the wire, so
  gzip-compressed where the client asked for it) and their decoded size.

For the full size and for 10x fewer targets and rules it reports, per smoke run (``verify --target urls
--profile smoke``, expected jobs from an expectations file): wall time, peak RSS of the verify process,
requests and bytes; and for a failing ``targets.up`` (two expected jobs that do not exist, so the check
polls until its budget) the same figures. The two recording rules reading cAdvisor and kube-state-metrics
series are deselected (no kubelet here, as on the local target, which skips them).

Then, unless ``--skip-floor``: smoke's wall time on the default local stack (``stackcheck up``) against one
``curl`` fetching the same URLs that run fetched (recorded through the proxy): the floor.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml
from harness import CLI, REPO, local_stack, timed_runs

RULES = REPO / "manifests" / "config" / "prometheus" / "rules"
DESELECT = "not cpu_usage and not memory_usage"
MISSING_JOBS = ["payments-api", "checkout-api"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class TargetsServer(ThreadingHTTPServer):
    """Answers every GET with two tiny series: the synthetic targets."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(self) -> None:
        body = b"# TYPE synthetic_up gauge\nsynthetic_up 1\nsynthetic_requests_total 42\n"

        class Handler(_Quiet):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)


class CountingProxy(ThreadingHTTPServer):
    """Forwards to Prometheus and counts requests, wire bytes and decoded bytes."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.reset()
        proxy = self

        class Handler(_Quiet):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",
                                                                                      "content-length")}
                answer = requests.request(self.command, proxy.upstream + self.path, data=data,
                                          headers=headers, stream=True, timeout=60)
                raw = answer.raw.read(decode_content=False)
                decoded = _decoded_size(raw, answer.headers)
                with proxy.lock:
                    proxy.requests += 1
                    proxy.wire += len(raw)
                    proxy.decoded += decoded
                    proxy.paths[(self.command, _counted_path(self.path))] += 1
                    proxy.urls.append((self.command, self.path, data))
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _forward

        super().__init__(("127.0.0.1", 0), Handler)

    def reset(self) -> None:
        self.requests = self.wire = self.decoded = 0
        self.paths: Counter[tuple[str, str]] = Counter()
        self.urls: list[tuple[str, str, bytes | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _counted_path(path: str) -> str:
    """The path a request is counted under: without its query (PromQL), except the rules API's ``type``
    (``/api/v1/rules?type=record``), which tells the recording-rule checks from the alert checks."""
    base, _, query = path.partition("?")
    return path if base == "/api/v1/rules" and query.startswith("type=") else base


def _decoded_size(raw: bytes, headers: Any) -> int:
    if "gzip" in str(headers.get("Content-Encoding", "")):
        import gzip
        return len(gzip.decompress(raw))
    return len(raw)


def serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()


def synthetic_rules(count: int) -> dict[str, Any]:
    groups = []
    per_group = 100
    for g in range(0, count, per_group):
        rules: list[dict[str, Any]] = []
        for i in range(g, min(g + per_group, count)):
            if i % 10 == 9:
                rules.append({"alert": f"SyntheticShardDown{i}", "expr": f'synthetic_up{{shard="{i}"}} == 0',
                              "for": "5m", "labels": {"severity": "warning"},
                              "annotations": {"summary": f"synthetic shard {i} is down"}})
            else:
                rules.append({"record": f"synthetic:vector_{i}", "expr": f"vector({i})"})
        groups.append({"name": f"synthetic-{g // per_group}", "rules": rules})
    return {"groups": groups}


def prometheus_config(targets_addr: str, probe_addr: str, prom_addr: str, count: int,
                      rules_dir: Path) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "15s", "scrape_timeout": "10s", "evaluation_interval": "15s"},
        "rule_files": [str(rules_dir / "*.yml")],
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [prom_addr]}]},
            {"job_name": "phase5", "static_configs": [{"targets": [probe_addr],
                                                        "labels": {"namespace": "phase5",
                                                                   "app": "phase5-backend"}}]},
            {"job_name": "synthetic", "scrape_interval": "30s", "scrape_timeout": "10s",
             "static_configs": [{"targets": [targets_addr],
                                 "labels": {"shard": str(i)}} for i in range(count)]},
        ],
    }


def wait_for(what: str, probe: Any, budget_s: float) -> None:
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    sys.exit(f"bench_scale: {what} not reached within {budget_s:.0f}s")


def query(prom: str, expr: str) -> list[dict[str, Any]]:
    return list(requests.get(prom + "/api/v1/query", params={"query": expr},
                             timeout=30).json()["data"]["result"])


def run_verify(args: list[str], proxy: CountingProxy, tmp: Path) -> dict[str, Any]:
    """One verify child: wall time, its own peak RSS (wait4), requests and bytes through the proxy."""
    proxy.reset()
    report = tmp / "report.json"
    report.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([*CLI, "verify", "--json", str(report), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    checks = json.loads(report.read_text()).get("checks", []) if report.is_file() else []
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "exit": proc.returncode,
            "requests": proxy.requests, "wire_mb": proxy.wire / 1e6, "decoded_mb": proxy.decoded / 1e6,
            "paths": dict(proxy.paths), "checks": {c["id"]: c["status"] for c in checks},
            "output": out.decode(errors="replace")[-2000:]}


def synthetic(count: int, rules: int, keep: bool) -> dict[str, dict[str, Any]]:
    """Start the synthetic set-up, run smoke and the failing targets.up, tear down."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        sys.exit("bench_scale: needs Debian's prometheus (apt-get install prometheus)")
    tmp = Path(tempfile.mkdtemp(prefix="stackcheck-scale-"))
    procs: list[subprocess.Popen[bytes]] = []
    servers: list[ThreadingHTTPServer] = []
    try:
        targets = TargetsServer()
        servers.append(targets)
        serve(targets)
        probe_port, prom_port = free_port(), free_port()
        procs.append(subprocess.Popen([*CLI, "probe", "--listen", f"127.0.0.1:{probe_port}"], cwd=REPO,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        rules_dir = tmp / "rules"
        rules_dir.mkdir()
        for path in RULES.glob("*.rules.yml"):
            shutil.copy(path, rules_dir / path.name.replace(".rules.yml", ".yml"))
        (rules_dir / "synthetic.yml").write_text(yaml.safe_dump(synthetic_rules(rules)))
        config = prometheus_config(f"127.0.0.1:{targets.server_address[1]}", f"127.0.0.1:{probe_port}",
                                   f"127.0.0.1:{prom_port}", count, rules_dir)
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115
        procs.append(subprocess.Popen([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                                       f"--storage.tsdb.path={tmp / 'data'}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log,
                                      stderr=log))
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for("Prometheus ready", lambda: requests.get(prom + "/-/ready", timeout=5).ok, 60)
        wait_for(f"{count} synthetic targets scraped",
                 lambda: (r := query(prom,
                                     'count(up{job="synthetic"} == 1)')) and int(r[0]["value"][1]) >= count,
                 120)
        wait_for("recording rules with data", lambda: query(prom, "phase5:http_requests:rate5m"), 120)
        loaded = sum(len(g["rules"]) for g in requests.get(prom + "/api/v1/rules",
                                                           timeout=30).json()["data"]["groups"])
        active = len(requests.get(prom + "/api/v1/targets?state=active",
                                  timeout=60).json()["data"]["activeTargets"])
        proxy = CountingProxy(prom)
        servers.append(proxy)
        serve(proxy)
        good = tmp / "expect.yml"
        good.write_text(yaml.safe_dump({"jobs": ["prometheus", "phase5", "synthetic"]}))
        bad = tmp / "expect-missing.yml"
        bad.write_text(yaml.safe_dump({"jobs": ["prometheus", "phase5", "synthetic", *MISSING_JOBS]}))
        common = ["--target", "urls", "--profile", "smoke", "--prometheus-url", proxy.url]
        results = {
            "smoke": run_verify([*common, "--expectations", str(good), "-k", DESELECT], proxy, tmp),
            "failing targets.up": run_verify([*common, "--expectations", str(bad), "-k", "every_scrape_job"],
                                             proxy, tmp),
        }
        for result in results.values():
            result.update(targets=active, rules=loaded)
        return results
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in servers:
            server.shutdown()
            server.server_close()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def floor() -> dict[str, Any]:
    """Smoke on the default local stack vs one curl of the same URLs (recorded through proxies)."""
    tmp = Path(tempfile.mkdtemp(prefix="stackcheck-floor-"))
    try:
        with local_stack(tmp / "state", 20000 + (os.getpid() % 40) * 200) as state:
            return _floor(tmp, state)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _floor(tmp: Path, state: list[str]) -> dict[str, Any]:
    endpoints = json.loads((tmp / "state" / "state.json").read_text())["endpoints"]
    subprocess.run([*CLI, "verify", *state], check=False, capture_output=True, cwd=REPO)  # warm-up
    times = timed_runs([*CLI, "verify", *state], 3, "verify on the default stack")
    proxies = {name: CountingProxy(endpoints[name]) for name in ("prometheus", "alertmanager", "sink")}
    for proxy in proxies.values():
        serve(proxy)
    scrape_jobs = json.loads((tmp / "state" / "state.json").read_text())["scrape_jobs"]
    expect = tmp / "expect.yml"
    expect.write_text(yaml.safe_dump({"jobs": scrape_jobs}))
    subprocess.run([*CLI, "verify", "--target", "urls", "--expectations", str(expect),
                    *(f"--{n}-url={p.url}" for n, p in proxies.items())], check=False,
                   capture_output=True, cwd=REPO)
    urls = [(endpoints[n] + path, data) for n, p in proxies.items() for method, path, data in p.urls]
    gets = [u for u, d in urls if d is None]
    curl = ["curl", "-s", "--compressed"]
    for url in gets:
        curl += ["-o", "/dev/null", url]
    started = time.perf_counter()
    subprocess.run(curl, check=True)
    curl_s = time.perf_counter() - started
    return {"smoke_s": sorted(times), "curl_s": curl_s, "requests": len(urls), "unique": len(set(gets))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=int, default=5000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--only-full", action="store_true", help="skip the 10x smaller set-up")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (Prometheus log)")
    args = parser.parse_args()
    sizes = [(args.targets, args.rules)] + ([] if args.only_full else [(args.targets // 10,
                                                                        args.rules // 10)])
    rows = []
    for count, rules in sizes:
        print(f"== {count} synthetic targets, {rules} synthetic rules ==", flush=True)
        for name, r in synthetic(count, rules, args.keep).items():
            rows.append((count, rules, name, r))
            statuses = Counter(r["checks"].values())
            print(f"{name:>20}: {r['wall_s']:6.2f}s  peak RSS {r['peak_rss_mb']:5.0f} MB  {r['requests']:4d} "
                  f"requests  {r['wire_mb']:6.2f} MB on the wire ({r['decoded_mb']:6.2f} MB decoded)  exit "
                  f"{r['exit']}  {dict(statuses)}  [{r['targets']} active targets, {r['rules']} rules]",
                  flush=True)
            for (method, path), n in sorted(r["paths"].items(), key=lambda kv: -kv[1]):
                print(f"{'':>22}{n:4d} x {method} {path}")
            if name == "smoke" and r["exit"] != 0:
                print(r["output"])
    if len(sizes) == 2:
        (big, small) = [r for c, _, n, r in rows if n == "smoke"]
        print(f"smoke cost ratio at 10x the size: wall {big['wall_s'] / small['wall_s']:.2f}x, "
              f"bytes {big['wire_mb'] / max(small['wire_mb'], 1e-9):.2f}x, "
              f"requests {big['requests'] / max(small['requests'], 1):.2f}x (linear would be 10x)")
    if not args.skip_floor:
        f = floor()
        print(f"default local stack: smoke {', '.join(f'{t:.2f}s' for t in f['smoke_s'])}; one curl of the "
              f"{f['unique']} distinct GET URLs smoke fetched ({f['requests']} requests): {f['curl_s']:.2f}s "
              f"(the floor)")


if __name__ == "__main__":
    main()

"""`python -m reconciler.bench` (what `make bench` runs): run the read benchmark, print it as
rich tables and write the numbers as JSON (var/bench.json by default)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.bench",
        description="API round trips, calls and GitHub points of a full read of a generated "
        "organisation, next to the minimum the APIs allow; see docs/benchmarks.md.",
    )
    parser.add_argument("--people", type=int, default=1000, help="people in the generated repo")
    parser.add_argument(
        "--latency-ms", type=int, default=20, help="per-request sandbox latency of phase 2"
    )
    parser.add_argument("--json", type=Path, default=Path("var/bench.json"), help="output file")
    parser.add_argument(
        "--lookup-sizes",
        default="100",
        help="comma-separated organisation sizes for the reverse look-up comparison "
        "(--people is always included)",
    )
    parser.add_argument(
        "--scale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the scale targets at 1,000 and 10,000 people (about 2 minutes)",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="also time a signed push webhook -> the leaver's last access removed, through "
        "a real `reconciler serve` (target < 10 s at 1,000 people, 20 ms)",
    )
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run cartography's fetch functions and the Terraform refresh count on the same "
        "world, at --latency-ms per round trip",
    )
    args = parser.parse_args(argv)
    if args.people < 2:
        parser.error("--people must be at least 2")
    # Requests to the sandbox on 127.0.0.1 must never go through a proxy (client_libs.md);
    # gRPC's core logs every server shutdown (GOAWAY) at info level otherwise. Both are read
    # when the libraries load, hence the imports below.
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from reconciler.bench.rendering import render
    from reconciler.bench.running import BENCH_NOW, BenchConfig, run_benchmark
    from reconciler.log import configure_logging

    # The providers log every read at info level; the tables say it all.
    configure_logging(level="warning")
    sizes = (*(int(s) for s in args.lookup_sizes.split(",") if s.strip()), args.people)
    results = run_benchmark(
        BenchConfig(
            people=args.people, latency_ms=args.latency_ms, lookup_sizes=sizes, peers=args.peers
        )
    )
    if args.scale:
        from reconciler.bench.scale import measure_targets

        scale = measure_targets(BENCH_NOW, args.latency_ms)
        results["targets"] = scale.pop("targets")
        results["scale"] = scale
    if args.webhook:
        from reconciler.bench.offboarding import measure_webhook_offboarding

        results["webhook_offboarding"] = measure_webhook_offboarding(args.people, args.latency_ms)
    render(results)
    if args.webhook:
        w = results["webhook_offboarding"]
        print(
            f"webhook -> last access removed: {w['last_access_removed_s']} s, "
            f"offboarding-complete: {w['offboarding_complete_s']} s "
            f"({w['people']} people, {w['latency_ms']} ms latency; target < {w['target_s']} s)"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"numbers written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

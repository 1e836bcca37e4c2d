"""Fuzz the MLflow-compatible API of a live Modelgate with malformed input.

For every route in `registry.mlflow_api.base`'s route tables (and the artifact proxy), it sends a valid baseline
request built from real objects it creates first (an experiment, a run, a logged model, a registered model with a
version), then mutations of it: every field replaced by values of the wrong type or shape (numbers for strings,
lists for objects, null, huge and NUL-bearing strings, lone surrogates, out-of-range integers, NaN), every field
left out, non-JSON and non-object bodies, deeply nested JSON, junk query strings and headers. It checks what the
brief promises: no response is a 5xx, and every 4xx is JSON with an `error_code`.

    # a running Modelgate (gunicorn config.wsgi) and a token of an admin of TENANT:
    .venv/bin/python bench/fuzz_mlflow_api.py --base http://127.0.0.1:8000 --tenant acme --token mgt_… \\
        --max-requests 5000 --max-seconds 300

Only loopback addresses are accepted: this sends junk and must never aim at someone else's server. Exit status 1
when a request broke the promise; the failures are printed, one line each, with enough to replay them.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from urllib.parse import urlsplit

from fuzz.client import Fuzzer
from fuzz.routes import baseline, load_routes
from fuzz.runs import fuzz_artifacts, fuzz_route, fuzz_tenant_segment, setup

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT (loopback only)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--token", required=True, help="a token of an admin of the tenant, all scopes")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default="", help="fuzz only routes containing this text")
    args = parser.parse_args(argv)

    host = urlsplit(args.base).hostname
    if host not in LOOPBACK:
        parser.error(f"--base must be a loopback address, not {host!r}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    fz = Fuzzer(
        base=args.base.rstrip("/"),
        tenant=args.tenant,
        token=args.token,
        max_requests=args.max_requests,
        deadline=time.monotonic() + args.max_seconds,
        rng=random.Random(seed),
    )
    routes = load_routes()
    fx = setup(fz)
    unknown = [r for r in routes if not baseline(r[2], fx) and "{tag_key}" not in r[2]]
    started = time.monotonic()
    for version, method, route in routes:
        if args.only and args.only not in route:
            continue
        fuzz_route(fz, fx, version, method, route)
    if not args.only or "artifact" in args.only:
        fuzz_artifacts(fz, fx)
    if not args.only:
        fuzz_tenant_segment(fz, fx)

    elapsed = time.monotonic() - started
    print(
        f"seed {seed}: {fz.sent} requests in {elapsed:.0f}s over {len(routes)} routes; statuses "
        + ", ".join(f"{k}×{v}" for k, v in sorted(fz.statuses.items()))
    )
    if unknown:
        print(
            "routes without a baseline (body-level mutations only): "
            + ", ".join(f"{m} {p}" for _v, m, p in unknown)
        )
    for line in fz.baseline_refused:
        print(f"baseline not 200 (its mutations reach less): {line}")
    if fz.front_server:
        print(
            f"{fz.front_server} requests refused by the front server (gunicorn's HTML 400/414/431: request "
            f"line or header limits), before Modelgate saw them"
        )
    if fz.exhausted():
        print("stopped at the request or time limit")
    for f in fz.failures:
        print(f"FAIL {f.status} {f.method} {f.url} | {f.what} | {f.body!r}")
    print(f"{len(fz.failures)} failures")
    return 1 if fz.failures else 0


if __name__ == "__main__":
    sys.exit(main())

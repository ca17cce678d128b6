"""``make bench``: ``python -m bench [--tenants N] [--extensions N] ...``

Exits with 1 when any call, registration or apply failed; timings never fail it
(they depend on the machine), they are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench.provisioning import Options, run


def main() -> int:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--tenants", type=int, default=defaults.tenants)
    parser.add_argument("--extensions", type=int, default=defaults.extensions)
    parser.add_argument("--changes", type=int, default=defaults.changes)
    parser.add_argument("--latency-users", type=int, default=defaults.latency_users)
    args = parser.parse_args()
    if args.tenants < 1 or args.extensions < 2 or args.changes < 1 or args.latency_users < 1:
        parser.error("need at least 1 tenant, 2 extensions, 1 change and 1 latency user")
    options = Options(
        tenants=args.tenants,
        extensions=args.extensions,
        changes=args.changes,
        latency_users=args.latency_users,
    )
    # SIGTERM unwinds like Ctrl-C, so the engine and every SIPp process are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    failures = asyncio.run(run(options))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make bench``: ``python -m bench [--only provisioning|ivr] [options]``

Runs the provisioning benchmark, then the IVR benchmark (see bench/README.md),
each on a fresh ``bench`` engine. Exits with 1 when a call, registration or apply
of the provisioning run failed, or when an IVR side took no step of the ramp
with few enough failed calls; timings never fail it (they depend on the machine),
they are for reading.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench import ivr, provisioning

BENCHMARKS = ("provisioning", "ivr")


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive calls/s, e.g. 50,100,150")
    return tuple(sorted(rates))


def main() -> int:
    defaults = provisioning.Options()
    ivr_defaults = ivr.IvrOptions()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=BENCHMARKS, help="run only this benchmark")
    group = parser.add_argument_group("provisioning")
    group.add_argument("--tenants", type=int, default=defaults.tenants)
    group.add_argument("--extensions", type=int, default=defaults.extensions)
    group.add_argument("--changes", type=int, default=defaults.changes)
    group.add_argument("--latency-users", type=int, default=defaults.latency_users)
    group = parser.add_argument_group("ivr")
    group.add_argument(
        "--ivr-rates",
        type=_rates,
        default=ivr_defaults.rates,
        help="the ramp: calls/s to each IVR, one step each (default: %(default)s)",
    )
    group.add_argument(
        "--ivr-step-seconds",
        type=float,
        default=ivr_defaults.step_seconds,
        help="seconds of load per step (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.tenants < 1 or args.extensions < 2 or args.changes < 1 or args.latency_users < 1:
        parser.error("need at least 1 tenant, 2 extensions, 1 change and 1 latency user")
    if args.ivr_step_seconds <= 0:
        parser.error("--ivr-step-seconds must be positive")
    options = provisioning.Options(
        tenants=args.tenants,
        extensions=args.extensions,
        changes=args.changes,
        latency_users=args.latency_users,
    )
    ivr_options = ivr.IvrOptions(
        rates=args.ivr_rates,
        step_seconds=args.ivr_step_seconds,
    )
    # SIGTERM unwinds like Ctrl-C, so the engine and every SIPp process are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    failures = 0
    if args.only in (None, "provisioning"):
        failures += asyncio.run(provisioning.run(options))
    if args.only in (None, "ivr"):
        failures += asyncio.run(ivr.run(ivr_options))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

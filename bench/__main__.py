"""``make bench``: ``python -m bench [--only <one of BENCHMARKS>] [--smoke] [options]``

Runs the provisioning benchmark, then the IVR benchmark (see bench/README.md),
each on a fresh ``bench`` engine, then the rating benchmark (pure Python, no
engine), the queues benchmark (FakeEngine), the same queues on a fresh ``bench``
engine with SIPp agents and callers, the adapter micro-benchmark (recorded
ARI events replayed through the Asterisk adapter, no engine), prepaid
authorization over HTTP as the dialplan asks (the service on the FakeEngine), and
the ESL micro-benchmark (recorded FreeSWITCH event streams framed and parsed), and
conferences of 3 and 20 SIPp participants sending RTP on a fresh ``bench`` engine
(CPU of the engine and of the orchestrator per participant-second).
Exits with 1 when a call, registration or apply of the provisioning run failed,
when an IVR side took no step of the ramp with few enough failed calls, when a
queues ramp had no steady step, when a sampled charge differs from the reference
implementation, or when simultaneous authorizations overspent an account or got
other answers than its money allows, when a conference participant's audio did
not flow or its call failed, or when a benchmark raised (the others
still run); timings never fail it (they depend on the machine), they are for
reading. ``--smoke`` runs each at tiny sizes (``SMOKE``), as ``make test`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import TextIO

from bench import (
    adapter,
    authorize,
    conference,
    esl,
    ivr,
    provisioning,
    queues,
    queues_engine,
    rating,
    restart,
    xml_curl,
)
from bench.harness import progress

Runner = Callable[[], int]

# `--smoke`: every benchmark at tiny sizes, the way `make test` runs them
# (tests/bench/test_smoke.py): each must still run to the end, exit 0 and print its
# `name: value unit` lines; the figures mean nothing. A new benchmark is one line here
# (and its full-size options in main()).
SMOKE: dict[str, Runner] = {
    "provisioning": lambda: asyncio.run(provisioning.run(provisioning.SMOKE)),
    "ivr": lambda: asyncio.run(ivr.run(ivr.SMOKE)),
    "rating": lambda: rating.run(rating.SMOKE),
    "queues": lambda: queues.run(queues.SMOKE),
    "queues-engine": lambda: asyncio.run(queues_engine.run(queues_engine.SMOKE)),
    "adapter": lambda: adapter.run(adapter.SMOKE),
    "authorize": lambda: asyncio.run(authorize.run(authorize.SMOKE)),
    "restart": lambda: asyncio.run(restart.run(restart.SMOKE)),
    "esl": lambda: esl.run(esl.SMOKE),
    "xml-curl": lambda: xml_curl.run(xml_curl.SMOKE),
    "conference": lambda: asyncio.run(conference.run(conference.SMOKE)),
}
BENCHMARKS = tuple(SMOKE)


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of rates: {text!r}") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive calls/s, e.g. 50,100,150")
    return tuple(sorted(rates))


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if not sizes or any(s < 2 for s in sizes):
        raise argparse.ArgumentTypeError("conferences of 2 or more participants, e.g. 3,20")
    return sizes


def main() -> int:
    defaults = provisioning.Options()
    ivr_defaults = ivr.IvrOptions()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=BENCHMARKS, help="run only this benchmark")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, other options ignored: checks that every benchmark still runs",
    )
    group = parser.add_argument_group("provisioning")
    group.add_argument("--tenants", type=int, default=defaults.tenants)
    group.add_argument("--extensions", type=int, default=defaults.extensions)
    group.add_argument("--changes", type=int, default=defaults.changes)
    group.add_argument("--latency-users", type=int, default=defaults.latency_users)
    # The memory step: this many reloads, taking turns among this many AMI sessions.
    group.add_argument("--reloads", type=int, default=defaults.reloads)
    group.add_argument("--reload-sessions", type=int, default=defaults.reload_sessions)
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
    rating_defaults = rating.RatingOptions()
    group = parser.add_argument_group("rating")
    group.add_argument("--rating-prefixes", type=int, default=rating_defaults.prefixes)
    group.add_argument("--rating-cdrs", type=int, default=rating_defaults.cdrs)
    group.add_argument("--rating-sample", type=int, default=rating_defaults.sample)
    queue_defaults = queues.QueueOptions()
    group = parser.add_argument_group("queues (FakeEngine, wallboard in Chromium)")
    group.add_argument(
        "--queue-rates",
        type=_rates,
        default=queue_defaults.rates,
        help="the ramp: calls/s into the 50 queues, one step each (default: %(default)s)",
    )
    group.add_argument(
        "--queue-step-seconds",
        type=float,
        default=queue_defaults.step_seconds,
        help="seconds of load per step (default: %(default)s)",
    )
    qe_defaults = queues_engine.EngineQueueOptions()
    group = parser.add_argument_group("queues-engine (Asterisk, SIPp agents and callers)")
    group.add_argument(
        "--queues-engine-rates",
        type=_rates,
        default=qe_defaults.rates,
        help="the ramp: calls/s into the 50 queues, one step each (default: %(default)s)",
    )
    group.add_argument(
        "--queues-engine-step-seconds",
        type=float,
        default=qe_defaults.step_seconds,
        help="seconds of calls per step (default: %(default)s)",
    )
    group.add_argument(
        "--queues-engine-hold-ms",
        type=int,
        default=qe_defaults.hold_ms,
        help="each caller hangs up this long after it is answered (default: %(default)s)",
    )
    adapter_defaults = adapter.AdapterOptions()
    group = parser.add_argument_group("adapter (recorded ARI events, no engine)")
    group.add_argument(
        "--adapter-calls",
        type=int,
        default=adapter_defaults.calls,
        help="copies of each recorded call replayed per run (default: %(default)s)",
    )
    group.add_argument("--adapter-subscribers", type=int, default=adapter_defaults.subscribers)
    auth_defaults = authorize.AuthorizeOptions()
    group = parser.add_argument_group("authorize (prepaid authorization over HTTP, no engine)")
    group.add_argument(
        "--authorize-db",
        default=auth_defaults.db,
        metavar="URL",
        help="a PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test (a schema of "
        "its own, dropped after); default: a SQLite file",
    )
    group.add_argument("--authorize-prefixes", type=int, default=auth_defaults.prefixes)
    group.add_argument("--authorize-requests", type=int, default=auth_defaults.requests)
    group.add_argument(
        "--authorize-concurrency",
        type=int,
        default=auth_defaults.concurrency,
        help="requests in flight in the loaded level (default: %(default)s)",
    )
    group.add_argument(
        "--authorize-contention",
        type=int,
        default=auth_defaults.contention,
        help="requests at once against one account (default: %(default)s)",
    )
    esl_defaults = esl.EslOptions()
    group = parser.add_argument_group("esl (recorded FreeSWITCH event streams, no engine)")
    group.add_argument(
        "--esl-copies",
        type=int,
        default=esl_defaults.copies,
        help="copies of each recorded event stream framed and parsed per run (default: "
        "%(default)s)",
    )
    restart_defaults = restart.RestartOptions()
    group = parser.add_argument_group("restart (live calls across a restart, Asterisk)")
    group.add_argument(
        "--restart-calls",
        type=int,
        default=restart_defaults.calls,
        help="phone-to-phone calls up during the restart (default: %(default)s)",
    )
    xml_curl_defaults = xml_curl.XmlCurlOptions()
    group = parser.add_argument_group("xml-curl (FreeSWITCH directory lookups, no engine)")
    group.add_argument(
        "--xml-curl-users",
        type=int,
        default=xml_curl_defaults.users,
        help="SIP users indexed, 100 per tenant (default: %(default)s)",
    )
    group.add_argument("--xml-curl-lookups", type=int, default=xml_curl_defaults.lookups)
    conf_defaults = conference.ConferenceOptions()
    group = parser.add_argument_group("conference (participants per core, Asterisk, SIPp RTP)")
    group.add_argument(
        "--conference-sizes",
        type=_sizes,
        default=conf_defaults.sizes,
        help="participants per conference, one run each (default: %(default)s)",
    )
    group.add_argument(
        "--conference-participants",
        type=int,
        default=conf_defaults.participants,
        help="participants of each size, in whole conferences (default: %(default)s)",
    )
    group.add_argument(
        "--conference-seconds",
        type=float,
        default=conf_defaults.seconds,
        help="seconds of the measured window (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.conference_participants < 1 or args.conference_seconds <= 0:
        parser.error("need at least 1 conference participant and a positive window")
    if args.esl_copies < 1:
        parser.error("--esl-copies must be at least 1")
    if args.xml_curl_users < 1 or args.xml_curl_lookups < 1:
        parser.error("need at least 1 xml-curl user and 1 lookup")
    if args.restart_calls < 1:
        parser.error("--restart-calls must be at least 1")
    if args.rating_prefixes < 1 or args.rating_cdrs < 1 or args.rating_sample < 1:
        parser.error("need at least 1 rating prefix, 1 CDR and 1 sampled CDR")
    if args.tenants < 1 or args.extensions < 2 or args.changes < 1 or args.latency_users < 1:
        parser.error("need at least 1 tenant, 2 extensions, 1 change and 1 latency user")
    if args.adapter_calls < 1 or args.adapter_subscribers < 0:
        parser.error("need at least 1 adapter call and no negative number of subscribers")
    if args.authorize_db and not args.authorize_db.startswith(("postgresql", "postgres://")):
        parser.error("--authorize-db takes a PostgreSQL URL (SQLite is the default)")
    if args.authorize_prefixes < 2 or args.authorize_requests < 1:
        parser.error("need at least 2 authorize prefixes and 1 request")
    if args.authorize_concurrency < 1 or args.authorize_contention < 2:
        parser.error("need an authorize concurrency of 1 or more and a contention of 2 or more")
    if args.reloads < 1 or args.reload_sessions < 1:
        parser.error("--reloads and --reload-sessions must be 1 or more")
    if args.ivr_step_seconds <= 0:
        parser.error("--ivr-step-seconds must be positive")
    if args.queues_engine_step_seconds <= 0 or args.queues_engine_hold_ms < 1:
        parser.error("--queues-engine-step-seconds and --queues-engine-hold-ms must be positive")
    options = provisioning.Options(
        tenants=args.tenants,
        extensions=args.extensions,
        changes=args.changes,
        latency_users=args.latency_users,
        reloads=args.reloads,
        reload_sessions=args.reload_sessions,
    )
    ivr_options = ivr.IvrOptions(
        rates=args.ivr_rates,
        step_seconds=args.ivr_step_seconds,
    )
    full: dict[str, Runner] = {
        "provisioning": lambda: asyncio.run(provisioning.run(options)),
        "ivr": lambda: asyncio.run(ivr.run(ivr_options)),
        "rating": lambda: rating.run(
            rating.RatingOptions(
                prefixes=args.rating_prefixes,
                cdrs=args.rating_cdrs,
                sample=min(args.rating_sample, args.rating_cdrs),
            )
        ),
        "queues": lambda: queues.run(
            queues.QueueOptions(rates=args.queue_rates, step_seconds=args.queue_step_seconds)
        ),
        "queues-engine": lambda: asyncio.run(
            queues_engine.run(
                queues_engine.EngineQueueOptions(
                    rates=args.queues_engine_rates,
                    step_seconds=args.queues_engine_step_seconds,
                    hold_ms=args.queues_engine_hold_ms,
                )
            )
        ),
        "adapter": lambda: adapter.run(
            adapter.AdapterOptions(calls=args.adapter_calls, subscribers=args.adapter_subscribers)
        ),
        "authorize": lambda: asyncio.run(
            authorize.run(
                authorize.AuthorizeOptions(
                    db=args.authorize_db,
                    prefixes=args.authorize_prefixes,
                    requests=args.authorize_requests,
                    concurrency=args.authorize_concurrency,
                    contention=args.authorize_contention,
                )
            )
        ),
        "restart": lambda: asyncio.run(
            restart.run(restart.RestartOptions(calls=args.restart_calls))
        ),
        "esl": lambda: esl.run(esl.EslOptions(copies=args.esl_copies)),
        "conference": lambda: asyncio.run(
            conference.run(
                conference.ConferenceOptions(
                    sizes=args.conference_sizes,
                    participants=args.conference_participants,
                    seconds=args.conference_seconds,
                )
            )
        ),
        "xml-curl": lambda: xml_curl.run(
            xml_curl.XmlCurlOptions(
                users=args.xml_curl_users,
                users_per_tenant=min(100, args.xml_curl_users),
                lookups=args.xml_curl_lookups,
            )
        ),
    }
    runs = SMOKE if args.smoke else full
    # SIGTERM unwinds like Ctrl-C, so the engine and every SIPp process are stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    failures = 0
    for name in [args.only] if args.only else BENCHMARKS:
        failures += run_one(name, runs.get(name))
    return 1 if failures else 0


class _LineCount(io.TextIOBase):
    """stdout, counting the result lines a benchmark prints (for its summary on stderr)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def run_one(name: str, runner: Runner | None) -> int:
    """Run one benchmark; 1 if it failed. An error ends that benchmark, not the others.

    Its summary goes to stderr: ``bench: <name>: ok in 12.3 s, 16 results``.
    """
    if runner is None:
        progress(f"bench: {name}: no way to run it in this mode")
        return 1
    progress(f"bench: {name}: starting")
    started = time.monotonic()
    out = _LineCount(sys.stdout)
    try:
        with contextlib.redirect_stdout(out):
            failed = runner()
    except Exception:
        traceback.print_exc()
        failed = 1
    outcome = "ok" if not failed else "FAILED"
    seconds = time.monotonic() - started
    progress(f"bench: {name}: {outcome} in {seconds:.1f} s, {out.lines} results")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env bash
# The pytest runs of `make test`, in three phases:
#
# 1. the unit and API tests and the conformance worlds that need no engine (fake, fake
#    FreeSWITCH peer: free ports only): CPU-bound, on both cores;
# 2. the tests with real processes and ports (engine, conformance on Asterisk, benchmark
#    smoke, browser), mostly waiting on calls: two at a time, each xdist worker with an
#    engine and ports of its own (slots 0 and 1, tests/conftest.py), a file per worker;
# 3. last, one at a time, the tests that kill or restart processes against time limits
#    (marker alone).
#
# Phase 1 does not run beside phase 2: niced (nice 19) beside it, it took no longer, but
# the FreeSWITCH world's park-by-transfer tests, whose fake phones REFER at once, failed
# in two of three fresh-clone runs when the service got the CPU a moment late.
# Every phase runs whatever an earlier one did; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest

started=$SECONDS
"$PYTEST" -n 2 --durations=10 -m "not engine" tests/unit tests/api tests/conformance
phase1=$?
phase1_s=$((SECONDS - started))
ORCH_TEST_SLOTS=0,1 "$PYTEST" -n 2 --dist loadfile --durations=25 \
    -m "not no_engine and not alone" tests --ignore=tests/unit --ignore=tests/api
phase2=$?
phase2_s=$((SECONDS - started - phase1_s))
"$PYTEST" --durations=10 -m alone tests/engine
phase3=$?
echo "test phases: 1 exit $phase1 (${phase1_s} s), 2 exit $phase2 (${phase2_s} s)," \
    "3 exit $phase3 ($((SECONDS - started - phase1_s - phase2_s)) s);" \
    "$((SECONDS - started)) s in all"
[ "$phase1" -eq 0 ] && [ "$phase2" -eq 0 ] && [ "$phase3" -eq 0 ]

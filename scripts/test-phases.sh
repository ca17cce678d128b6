#!/usr/bin/env bash
# The pytest runs of `make test`, in three phases, two of them at once:
#
# 1. the unit and API tests and the conformance worlds that need no engine (fake, fake
#    FreeSWITCH peer: free ports only): CPU-bound, on both cores, at the lowest CPU
#    priority (nice 19), its output kept in var/test-phase1.log and shown when it ends;
# 2. meanwhile, the tests with real processes and ports (engine, conformance on Asterisk,
#    benchmark smoke, browser), mostly waiting on calls: two at a time, each xdist worker
#    with an engine and ports of its own (slots 0 and 1, tests/conftest.py), a file per
#    worker; at normal priority, so the engine and the phones keep their timing whatever
#    phase 1 asks of the cores;
# 3. last, one at a time, the tests that kill or restart processes against time limits
#    (marker alone).
#
# Every phase runs whatever an earlier one did; the exit status is 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest
mkdir -p var
phase1_log=var/test-phase1.log

started=$SECONDS
nice -n 19 "$PYTEST" -n 2 --durations=10 -m "not engine" \
    tests/unit tests/api tests/conformance >"$phase1_log" 2>&1 &
phase1_pid=$!
ORCH_TEST_SLOTS=0,1 "$PYTEST" -n 2 --dist loadfile --durations=25 \
    -m "not no_engine and not alone" tests --ignore=tests/unit --ignore=tests/api
phase2=$?
phase2_s=$((SECONDS - started))
wait "$phase1_pid"
phase1=$?
phases12_s=$((SECONDS - started))
echo "=== phase 1 (unit, API, engine-less conformance; ran beside phase 2) ==="
cat "$phase1_log"
"$PYTEST" --durations=10 -m alone tests/engine
phase3=$?
echo "test phases: 1 exit $phase1, 2 exit $phase2 (${phase2_s} s; both ${phases12_s} s)," \
    "3 exit $phase3 ($((SECONDS - phases12_s - started)) s); $((SECONDS - started)) s in all"
[ "$phase1" -eq 0 ] && [ "$phase2" -eq 0 ] && [ "$phase3" -eq 0 ]

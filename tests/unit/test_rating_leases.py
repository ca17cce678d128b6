"""One re-rating of a scope at a time, decided by the database (SQLite and PostgreSQL):
across two service processes, over a dead holder's expired lease, tenant against all."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from orchestrator.core.errors import ConflictError
from orchestrator.rating import RatingService
from orchestrator.store import leases
from orchestrator.store.db import SessionFactory
from orchestrator.store.models import RatingLease, utcnow
from orchestrator.store.tariffs import uncovered
from tests.unit.billing_fixtures import START, outbound_cdr, setup

WINDOW = (START - timedelta(hours=1), START + timedelta(hours=1))

# A second service process: it re-rates the window and stays inside for a while.
OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime
    from orchestrator.rating import RatingService
    from orchestrator.store.db import make_engine, session_factory

    url, since, until, tenant = sys.argv[1:5]
    service = RatingService(session_factory(make_engine(url)))

    def hold(_cdr_id):
        print("holding", flush=True)
        time.sleep(4)

    service.before_rerate = hold
    result = service.rerate(
        datetime.fromisoformat(since), datetime.fromisoformat(until), tenant_id=int(tenant)
    )
    print("done", result.checked, flush=True)
    """
)


def test_a_rerate_in_another_process_gets_409_here(
    db_url: str, db_sessions: SessionFactory
) -> None:
    ids = setup(db_sessions)
    outbound_cdr(db_sessions, ids["tenant"], number="0044207946001", billsec=30)
    service = RatingService(db_sessions)
    service.run_batch()
    args = [db_url, WINDOW[0].isoformat(), WINDOW[1].isoformat(), str(ids["tenant"])]
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "holding", other.stderr
        with pytest.raises(ConflictError) as refused:
            service.rerate(*WINDOW, tenant_id=ids["tenant"])
        assert refused.value.details["lease"] == f"rerate:tenant:{ids['tenant']}"
        # Every tenant's re-rating waits for any one tenant's too.
        with pytest.raises(ConflictError):
            service.rerate(*WINDOW)
        out, err = other.communicate(timeout=60)
    finally:
        if other.poll() is None:
            other.kill()
    assert other.returncode == 0, err
    assert out.strip() == "done 1"
    # Done and released: this process may re-rate now (nothing changed since).
    assert service.rerate(*WINDOW, tenant_id=ids["tenant"]).checked == 1


def test_a_dead_holders_lease_expires(db_sessions: SessionFactory) -> None:
    ids = setup(db_sessions)
    outbound_cdr(db_sessions, ids["tenant"], number="0044207946001", billsec=30)
    name = f"rerate:tenant:{ids['tenant']}"
    with db_sessions() as s:
        now = utcnow()
        s.add(RatingLease(name=name, holder="dead", detail="a re-rating", acquired_at=now,
                          expires_at=now + timedelta(minutes=5)))  # fmt: skip
        s.commit()
    service = RatingService(db_sessions)
    with pytest.raises(ConflictError):
        service.rerate(*WINDOW, tenant_id=ids["tenant"])
    with db_sessions() as s:
        lease = s.get(RatingLease, name)
        assert lease is not None and lease.holder == "dead"  # a refused taker leaves it
        lease.expires_at = utcnow() - timedelta(seconds=1)
        s.add(lease)
        s.commit()
    assert service.rerate(*WINDOW, tenant_id=ids["tenant"]).first_rated == 1
    with db_sessions() as s:
        assert s.get(RatingLease, name) is None


def test_a_lost_lease_cannot_be_renewed(db_sessions: SessionFactory) -> None:
    ttl = timedelta(minutes=1)
    holder = leases.acquire(db_sessions, "rerate:all", detail="x", ttl=ttl)
    leases.renew(db_sessions, "rerate:all", holder, ttl)
    leases.release(db_sessions, "rerate:all", holder)
    other = leases.acquire(db_sessions, "rerate:all", detail="y", ttl=ttl)
    with pytest.raises(ConflictError):
        leases.renew(db_sessions, "rerate:all", holder, ttl)
    leases.release(db_sessions, "rerate:all", holder)  # not ours any more: kept
    with pytest.raises(ConflictError):
        leases.acquire(db_sessions, "rerate:all", detail="z", ttl=ttl)
    leases.release(db_sessions, "rerate:all", other)


def test_uncovered_parts_of_a_period() -> None:
    jan, feb, mar, apr = (START.replace(month=m, day=1) for m in (1, 2, 3, 4))
    assert uncovered((jan, mar), [(jan, None)]) == []
    assert uncovered((jan, None), [(feb, None)]) == [(jan, feb)]
    assert uncovered((jan, None), [(jan, feb)]) == [(feb, None)]
    assert uncovered((jan, apr), [(jan, feb), (mar, apr)]) == [(feb, mar)]
    assert uncovered((feb, mar), [(jan, apr)]) == []
    assert uncovered((jan, mar), []) == [(jan, mar)]

"""Per-process snapshots of what every postback reads and admins rarely change: networks (secrets
decrypted) and FX rates, for the fast path (``services.postback_fast``).

Reading a network costs an ORM query and a Fernet decryption per secret; a rate, another query. A
snapshot keeps them in this process, with the **version of the row** they were read from: its
``(xmin, ctid)``. ``xmin`` is the id of the transaction that wrote this version of the row and ``ctid``
where the version lies; every UPDATE (a rotation, a switch off, an allowlist, a cap, a new rate) writes
a new version with another pair, a DELETE leaves none (and VACUUM FULL, which moves rows, only makes
processes read them again). (Npgsql uses ``xmin`` the same way as an
optimistic-concurrency token; ``ctid`` also tells apart two versions written by one transaction.)

Why a snapshot cannot change a decision:

- An accepted postback is written by one statement that also checks, in its own snapshot, that the
  network's row and the rate's row are still the versions the decision was made on. If either changed,
  it writes nothing, the process forgets both snapshots and the postback takes the ORM path, which
  reads them afresh. A change committed before the statement is thus always honoured; one committed
  after it is ordered after the postback, as it would be without any cache.
- A refusal is never decided on a snapshot: when a snapshot would refuse a postback (a secret rotated
  in, an allowlist widened, a network switched back on since), the fast path reads it again, and if
  that still refuses, hands the postback to the ORM path, which reads everything from the database.

So nothing here needs invalidating across processes (no Redis key, no signal): another process's change
is seen by the database check at its commit. Snapshots also expire after ``SNAPSHOT_SECONDS``, so
unused ones go and rotated secrets do not linger in memory. Unknown networks and currencies without a
rate are not cached (the ORM path answers them). Works on PostgreSQL only (``xmin``, ``ctid``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask import Flask
from sqlalchemy import literal_column, select

from contentflow.extensions import db
from contentflow.models import FxRate, Network
from contentflow.services import fx

EXTENSION_KEY = "contentflow.postback_snapshots"
#: How long a snapshot is used before it is read again (a change never waits for it: see above).
SNAPSHOT_SECONDS = 60.0
#: The version the fast path's check accepts for EUR, which has no row (its rate is 1 by definition).
NO_ROW = ("0", "(0,0)")


@dataclass(frozen=True, slots=True)
class NetworkSnapshot:
    """A network as one postback reads it (``postbacks.NetworkFacts``), with its row's version."""

    id: int
    name: str
    is_active: bool
    allowed_ips: str | None
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    max_amount_cents: int
    #: ``(xmin, ctid)`` of the row this was read from, as text.
    version: tuple[str, str]


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """EUR per unit of ``currency``, with its row's version (``NO_ROW`` for EUR)."""

    currency: str
    rate: Decimal
    version: tuple[str, str]


_ROW_VERSION = (literal_column("xmin::text"), literal_column("ctid::text"))


class Snapshots:
    """The snapshots of one process (thread-safe). A missing or expired snapshot is read by one thread
    while the others asking meanwhile wait for it: at a process's start all its threads ask at once, and
    each would otherwise open a database connection and decrypt the same secrets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._networks: dict[str, tuple[float, NetworkSnapshot]] = {}
        self._rates: dict[str, tuple[float, RateSnapshot]] = {}
        self._reading = threading.Lock()

    def network(self, name: str) -> NetworkSnapshot | None:
        """The network named ``name``, from this process's snapshot or read now; None when unknown."""
        kept = self._networks.get(name)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        with self._reading:
            now = self._clock()
            kept = self._networks.get(name)
            if kept is not None and kept[0] > now:
                return kept[1]
            snapshot = read_network(name)
            if snapshot is not None:
                self._networks[name] = (now + SNAPSHOT_SECONDS, snapshot)
            return snapshot

    def rate(self, currency: str) -> RateSnapshot | None:
        """The rate of ``currency`` (EUR: 1), from the snapshot or read now; None when no admin set one."""
        if currency == fx.BASE_CURRENCY:
            return RateSnapshot(currency, Decimal(1), NO_ROW)
        kept = self._rates.get(currency)
        if kept is not None and kept[0] > self._clock():
            return kept[1]
        with self._reading:
            now = self._clock()
            kept = self._rates.get(currency)
            if kept is not None and kept[0] > now:
                return kept[1]
            snapshot = read_rate(currency)
            if snapshot is not None:
                self._rates[currency] = (now + SNAPSHOT_SECONDS, snapshot)
            return snapshot

    def forget(self, network_name: str, currency: str) -> None:
        """Drop the snapshots of a network and a rate (the database said one of them changed)."""
        self._networks.pop(network_name, None)
        self._rates.pop(currency, None)


def read_network(name: str) -> NetworkSnapshot | None:
    """The network row named ``name`` with its version (secrets decrypted), or None."""
    query = (
        select(Network, *_ROW_VERSION).where(Network.name == name).execution_options(populate_existing=True)
    )
    row = db.session.execute(query).first()
    if row is None:
        return None
    network, xmin, ctid = row
    return NetworkSnapshot(
        id=network.id,
        name=network.name,
        is_active=network.is_active,
        allowed_ips=network.allowed_ips,
        secret=network.secret,
        previous_secret=network.previous_secret,
        previous_secret_expires_at=network.previous_secret_expires_at,
        max_amount_cents=network.max_amount_cents,
        version=(xmin, ctid),
    )


def read_rate(currency: str) -> RateSnapshot | None:
    """The stored rate of ``currency`` with its version, or None."""
    query = select(FxRate.eur_per_unit, *_ROW_VERSION).where(FxRate.currency == currency)
    row = db.session.execute(query).first()
    if row is None:
        return None
    rate, xmin, ctid = row
    return RateSnapshot(currency, Decimal(rate), (xmin, ctid))


_creating = threading.Lock()


def snapshots_of(app: Flask) -> Snapshots:
    """The app's snapshots in this process (made on first use)."""
    snapshots = app.extensions.get(EXTENSION_KEY)
    if snapshots is None:
        with _creating:
            snapshots = app.extensions.setdefault(EXTENSION_KEY, Snapshots())
    return snapshots

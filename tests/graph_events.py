"""Small event builders for the graph tests (importable from any test: tests/ is on sys.path via conftest).

SYNTHETIC DATA in documentation prefixes (RFC 5737) and 240.0.0.0/4; every event gets its
deterministic id with ``with_id()``.
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

from chainrisk.ingest.events import (
    AsnListing,
    BlocklistEntry,
    Delegation,
    HolderTransfer,
    LeaseHop,
    Party,
    Provenance,
    Registration,
    RouteObject,
    RouteOrigin,
    Vrp,
)

INGESTED = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def day(n: int) -> datetime:
    """Observation time n days after 2026-01-01 (UTC)."""
    return datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(days=n)


def prov(observed: int | datetime = 0, source: str = "test", line: int | None = 1, ingested: datetime = INGESTED) -> Provenance:
    at = day(observed) if isinstance(observed, int) else observed
    return Provenance(source=source, reference=f"{source}.txt", line=line, observed_at=at, ingested_at=ingested)


def lease(block: str, provider: str, recipient: str, observed: int = 0, *, provider_role: str = "holder",
          recipient_role: str = "lessee", end: date = date(2027, 12, 31), op: str = "assert", **extra: Any) -> LeaseHop:
    return LeaseHop(block=block, provider=Party(name=provider), provider_role=provider_role, recipient=Party(name=recipient),
                    recipient_role=recipient_role, start_date=date(2025, 1, 1), end_date=end, op=op,
                    provenance=prov(observed, "lease-register"), **extra).with_id()  # type: ignore[return-value]


def registration(block: str, org: str | None, observed: int = 0, *, handle: str | None = None, role: str | None = "holder",
                 status: str = "ALLOCATED PA", mnt_by: tuple[str, ...] = ("MNT-A",), op: str = "assert",
                 registry: str = "ripe") -> Registration:
    return Registration(block=block, registry=registry, handle=handle or f"H-{block}", status=status, role=role,
                        org=Party(name=org, id=f"ORG-{org.upper()}") if org else None, mnt_by=mnt_by,
                        mnt_lower=("MNT-LOW",), op=op, provenance=prov(observed, "ripe-whois")).with_id()  # type: ignore[return-value]


def delegation(block: str, holder_id: str | None, observed: int = 0, *, status: str = "allocated", op: str = "assert") -> Delegation:
    return Delegation(block=block, registry="afrinic", country="ZA", status=status, holder_id=holder_id,
                      registered=date(2010, 5, 1), op=op, provenance=prov(observed, "afrinic-delegated")).with_id()  # type: ignore[return-value]


def transfer(block: str, old: str, new: str, when: int, observed: int = 0, op: str = "assert") -> HolderTransfer:
    return HolderTransfer(block=block, from_party=Party(name=old), to_party=Party(name=new), transfer_date=day(when),
                          transfer_type="RESOURCE_TRANSFER", source_rir="ARIN", recipient_rir="ARIN", op=op,
                          provenance=prov(observed, "arin-transfers")).with_id()  # type: ignore[return-value]


def vrp(block: str, asn: int, observed: int = 0, max_length: int = 24, op: str = "assert") -> Vrp:
    return Vrp(block=block, asn=asn, max_length=max_length, ta="ripe", op=op, provenance=prov(observed, "rpki-client")).with_id()  # type: ignore[return-value]


def origin(block: str, *asns: int, observed: int = 0) -> RouteOrigin:
    return RouteOrigin(block=block, origins=asns, provenance=prov(observed, "pfx2as")).with_id()  # type: ignore[return-value]


def route_object(block: str, asn: int, observed: int = 0) -> RouteObject:
    return RouteObject(block=block, origin_asn=asn, registry="RADB", mnt_by=("MNT-R",), provenance=prov(observed, "irr")).with_id()  # type: ignore[return-value]


def asn_listing(asn: int, observed: int = 0, op: str = "assert") -> AsnListing:
    return AsnListing(list_name="spamhaus-asndrop", asn=asn, as_name=f"AS{asn}-NAME", op=op,
                      provenance=prov(observed, "spamhaus")).with_id()  # type: ignore[return-value]


def listing(block: str, observed: int = 0, op: str = "assert") -> BlocklistEntry:
    return BlocklistEntry(block=block, list_name="spamhaus-drop", entry_id="SBL1", op=op,
                          provenance=prov(observed, "spamhaus")).with_id()  # type: ignore[return-value]


def mixed_events(seed: int, n_blocks: int = 40) -> list[Any]:
    """A seeded mix of every event type with updates, retracts, stale versions and duplicates, over
    nested blocks (a /16 holding /24s, some /20s in between), in a shuffled order."""
    rng = random.Random(seed)
    events: list[Any] = []
    events += [registration("240.1.0.0/16", "Holder A", 0), registration("240.1.0.0/16", "Holder B", 30),
               delegation("240.1.0.0/16", "F36B5AAD", 0), delegation("240.1.0.0/16", "F36C2BF2", 40),
               delegation("240.1.0.0/16", None, 60, status="reserved"), transfer("240.1.0.0/16", "Holder A", "Holder B", 25)]
    for i in range(n_blocks):
        block = f"240.1.{i}.0/24"
        upstream = f"Upstream {i % 3}"
        lessee = f"Lessee {rng.randrange(10)}"
        events.append(lease(block, "Holder A", upstream, rng.randrange(5), recipient_role="upstream"))
        events.append(lease(block, upstream, lessee, rng.randrange(5), provider_role="upstream"))
        if rng.random() < 0.3:  # a newer version of the same hop (the end date moved)
            events.append(lease(block, upstream, lessee, 10 + rng.randrange(5), provider_role="upstream", end=date(2028, 6, 30)))
        if rng.random() < 0.15:
            events.append(lease(block, upstream, lessee, 20, provider_role="upstream", op="retract"))
        if rng.random() < 0.2:
            events.append(vrp(block, 64500 + i % 7))
        if rng.random() < 0.1:
            events.append(listing(block))
        if i % 8 == 0:
            events.append(registration(f"240.1.{i}.0/20" if i % 16 == 0 else block, f"Sub {i}", 5, role="upstream",
                                       status="SUB-ALLOCATED PA"))
    events += [origin("240.1.0.0/16", 64500, 64501), route_object("240.1.0.0/16", 64500), vrp("240.1.0.0/16", 64500, max_length=24)]
    # a newer version, a retract and a resurrection of every other kind of fact
    events += [origin("240.1.0.0/16", 64502, observed=3), route_object("240.1.0.0/16", 64500, observed=2),
               vrp("240.1.0.0/16", 64500, observed=4, max_length=24, op="retract"), vrp("240.1.0.0/16", 64500, observed=6, max_length=24),
               listing("240.1.2.0/24", observed=1), listing("240.1.2.0/24", observed=2, op="retract"),
               registration("240.1.8.0/24", "Sub 8", 9, role="upstream", status="SUB-ALLOCATED PA", op="retract"),
               registration("240.1.9.0/24", "Lessee 9", 4, role="lessee", status="ASSIGNED PA", mnt_by=("MNT-L",)),
               registration("240.1.9.0/24", "Lessee 9b", 7, role="lessee", status="ASSIGNED PA", mnt_by=("MNT-L", "MNT-M")),
               transfer("240.1.0.0/16", "Holder B", "Holder C", 50, observed=1), transfer("240.1.0.0/16", "Holder B", "Holder C", 50, observed=2),
               transfer("240.1.0.0/16", "Holder X", "Holder C", 50, observed=3)]
    events += events[:5]  # duplicates
    rng.shuffle(events)
    return events


def synthetic_lease_events(n_blocks: int, seed: int = 7) -> list[LeaseHop]:
    """The lease hops of a seeded synthetic register (``synthetic/``), one event per hop,
    as the lease-register worker would publish them (no defects)."""
    from chainrisk.synthetic import OBSERVED_AT, generate

    portfolio = generate(n_blocks, seed=seed)
    observed = Provenance(source="lease-register", reference="synthetic.csv", observed_at=OBSERVED_AT, ingested_at=INGESTED)
    events = []
    line = 1
    for block in portfolio.blocks:
        for n, h in enumerate(block.hops):
            line += 1
            events.append(LeaseHop(
                block=block.prefix, provider=Party(name=h.provider.name, id=h.provider.party_id or None),
                provider_role=h.provider_role, recipient=Party(name=h.recipient.name, id=h.recipient.party_id or None),
                recipient_role=h.recipient_role, start_date=date.fromordinal(h.start), end_date=date.fromordinal(h.end),
                lessee_asn=h.recipient.asn if h.recipient_role == "lessee" else None,
                renewal_owner=h.provider.name if n % 2 else None, document_ref=h.document_ref,
                provenance=observed.model_copy(update={"line": line}),
            ).with_id())  # type: ignore[arg-type]
    return events


def role_change_events(seed: int, n_hops: int = 40) -> list[LeaseHop]:
    """Lease hops among six parties over four blocks with random roles (either role on either side
    now and then, as the event contract allows), newer versions that change a hop's roles, retracts
    and resurrections, shuffled: every way a party can gain or lose a role label."""
    rng = random.Random(seed)
    parties = [f"Party {c}" for c in "ABCDEF"]

    def roles() -> dict[str, str]:
        provider = rng.choice(("holder", "upstream", "broker")) if rng.random() < 0.9 else "lessee"
        recipient = rng.choice(("upstream", "broker", "lessee")) if rng.random() < 0.9 else "holder"
        return {"provider_role": provider, "recipient_role": recipient}

    events: list[LeaseHop] = []
    for _ in range(n_hops):
        hop = (f"240.2.{rng.randrange(4)}.0/24", rng.choice(parties), rng.choice(parties))  # a party may supply itself
        events.append(lease(*hop, rng.randrange(20), **roles()))
        if rng.random() < 0.4:
            events.append(lease(*hop, 20 + rng.randrange(20), **roles()))
        if rng.random() < 0.4:
            events.append(lease(*hop, 40 + rng.randrange(20), op="retract"))
            if rng.random() < 0.3:
                events.append(lease(*hop, 60 + rng.randrange(10), **roles()))
    rng.shuffle(events)
    return events


def alert_batches() -> list[list[Any]]:
    """Four batches: a leased /24 inside a /16 that is transferred away, whose upstream is then
    replaced, and that is transferred back - a transfer alert opened then resolved, and a
    lease_upstream alert."""
    block = "240.9.1.0/24"
    return [
        [lease(block, "Holder A", "Up 1", 0, recipient_role="upstream"), lease(block, "Up 1", "Lessee X", 0, provider_role="upstream")],
        [transfer("240.9.0.0/16", "Holder A", "Holder B", 30, observed=31)],
        [lease(block, "Holder A", "Up 1", 35, recipient_role="upstream", op="retract"),
         lease(block, "Up 1", "Lessee X", 35, provider_role="upstream", op="retract"),
         lease(block, "Holder A", "Up 2", 35, recipient_role="upstream"), lease(block, "Up 2", "Lessee X", 35, provider_role="upstream")],
        [transfer("240.9.0.0/16", "Holder B", "Holder A", 40, observed=41)],
    ]

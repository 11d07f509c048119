"""Seeded synthetic lease registers at any scale, with matching routing and reputation files.

SYNTHETIC DATA. Every block is carved out of ``240.0.0.0/4`` (RFC 1112 "reserved for future use":
never routed, never allocated), so synthetic blocks cannot be mistaken for, or collide with, real
registry, RPKI or BGP data. Lessee ASNs come from the RFC 6996 private-use range
4200000000-4294967294; holder ASNs from 64512-65534; holder ids end in ``-TEST``; the registry
objects say ``source: SYNTHETIC``; ``MANIFEST.json`` says what was generated and with which seed.

What a register holds (``generate_blocks``):

* holders own allocations (/16s, or smaller when a huge register would not fit); a few large holders hold most blocks (Zipf-like weights);
* upstreams each source from one to three holders; brokers arrange leases for several upstreams;
* lessees are reused across blocks (Zipf-like: a few lessees lease many blocks);
* chain shapes: direct, holder -> upstream, holder -> upstream -> broker, parallel upstreams,
  a diamond joining at a broker, a two-upstream line, and a direct-plus-upstream pair;
* dates: a downstream contract normally ends no later than the one supplying it; a share of hops
  ends later (a renewal gap);
* optionally broken blocks (a cycle, no holder, no lessee) and malformed rows (bad date, host bits
  set) so the ingest's rejects and the analysis's data errors can be exercised, and then one lease
  whose rows name no lessee ASN.

Same seed, same size -> byte-identical files.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from chainrisk.analysis.idle_space import subtract
from chainrisk.analysis.model import AsnListingRecord, AspaRecord, AsPathRecord, CaRecord, Hop, Listing, Portfolio, VrpRecord
from chainrisk.analysis.signals import validate_route, vrp_index
from chainrisk.common.prefixes import MASKS, int_to_address, ints_to_prefix, prefix_range
from chainrisk.ingest.events import party_key

SYNTHETIC_SPACE_FIRST = 240 << 24  # 240.0.0.0/4
SYNTHETIC_SPACE_SLASH16S = 1 << 12  # /16s in a /4
PRIVATE_ASN_32 = 4_200_000_000
PRIVATE_ASN_16 = 64_512
REGISTER_COLUMNS = (
    "block", "provider", "provider_role", "recipient", "recipient_role", "start_date", "end_date",
    "lessee_asn", "renewal_owner", "document_ref", "provider_id", "recipient_id", "transit_asns",
)
T = TypeVar("T")
OBSERVED_AT = datetime(2026, 11, 1, tzinfo=timezone.utc)  # the synthetic files' "data date"
# the lessees' transit providers (RFC 6996 private-use ASNs, above the lessees'); a lessee's is a
# function of its ASN, and a register row names it for every fifth lessee ASN
TRANSIT_ASNS = tuple(4_290_000_000 + i for i in range(10))
COLLECTOR_PEER_ASN = 4_294_000_000

_FIRST = ("Northwind", "Bluefin", "Meridian", "Granite", "Harbor", "Sable", "Quartz", "Aurora", "Cobalt", "Juniper",
          "Lumen", "Orion", "Pioneer", "Redwood", "Summit", "Tundra", "Vertex", "Willow", "Zephyr", "Atlas")
_SECOND = ("Networks", "Telecom", "Hosting", "Digital", "Data", "Cloud", "Systems", "Internet", "Connect", "Labs")


@dataclass(frozen=True, slots=True)
class SynParty:
    name: str
    party_id: str  # "" when the register gives no id
    role: str
    asn: int

    @property
    def key(self) -> str:
        return party_key(self.name, self.party_id or None)


@dataclass(slots=True)
class SynHop:
    provider: SynParty
    provider_role: str
    recipient: SynParty
    recipient_role: str
    start: int  # date ordinal
    end: int
    document_ref: str


@dataclass(slots=True)
class SynBlock:
    """One generated block: its prefix, chain hops, and what was done to it."""

    prefix: str
    first: int
    length: int
    holder: SynParty
    lessee: SynParty
    hops: list[SynHop]
    shape: str
    defect: str = ""  # "", "cycle", "no-holder", "no-lessee", "bad-date", "host-bits", "no-asn"


@dataclass
class SyntheticPortfolio:
    blocks: list[SynBlock]
    holders: list[SynParty]
    upstreams: list[SynParty]
    brokers: list[SynParty]
    lessees: list[SynParty]
    allocations: dict[str, SynParty] = field(default_factory=dict)  # allocation prefix -> holder
    upstreams_of: dict[str, list[SynParty]] = field(default_factory=dict)  # holder key -> its upstreams


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    """rng.choice without its per-call overhead (a million calls per million blocks)."""
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``low..high`` (both inclusive); cheaper than rng.randint."""
    return low + int(rng.random() * (high - low + 1))


def _names(rng: random.Random, count: int, kind: str) -> list[str]:
    """``count`` distinct readable synthetic names for one kind of party."""
    return [f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {kind} {i}" for i in range(1, count + 1)]


def _zipf_cum_weights(count: int, exponent: float = 1.1) -> list[float]:
    total = 0.0
    cum = []
    for rank in range(1, count + 1):
        total += 1.0 / rank**exponent
        cum.append(total)
    return cum


def _parties(rng: random.Random, n_blocks: int) -> tuple[list[SynParty], list[SynParty], list[SynParty], list[SynParty]]:
    n_holders = max(3, min(3000, n_blocks // 400))
    n_upstreams = max(4, n_blocks // 250)
    n_brokers = max(2, n_blocks // 1500)
    n_lessees = max(6, n_blocks // 6)
    holders = [SynParty(n, f"ORG-SYN{i:05d}-TEST", "holder", PRIVATE_ASN_16 + i % 1000)
               for i, n in enumerate(_names(rng, n_holders, "Holdings"), start=1)]
    upstreams = [SynParty(n, f"SYN-UP-{i:05d}" if i % 3 else "", "upstream", 0) for i, n in enumerate(_names(rng, n_upstreams, "Lease"), 1)]
    brokers = [SynParty(n, "", "broker", 0) for n in _names(rng, n_brokers, "Brokerage")]
    lessees = [SynParty(n, "", "lessee", PRIVATE_ASN_32 + i) for i, n in enumerate(_names(rng, n_lessees, "Customer"), 1)]
    return holders, upstreams, brokers, lessees


SHAPES = (  # (name, weight)
    ("direct", 25), ("upstream", 33), ("broker", 15), ("parallel", 10), ("diamond", 7), ("deep", 5), ("direct+upstream", 5),
)


def generate(n_blocks: int, seed: int = 1, broken_rate: float = 0.0, gap_rate: float = 0.05) -> SyntheticPortfolio:
    """A synthetic portfolio of ``n_blocks`` leased blocks (see the module docstring)."""
    if n_blocks < 1:
        raise ValueError("blocks must be at least 1")
    if n_blocks > SYNTHETIC_SPACE_SLASH16S * 256:
        raise ValueError(f"at most {SYNTHETIC_SPACE_SLASH16S * 256} blocks fit in 240.0.0.0/4")
    rng = random.Random(seed)
    holders, upstreams, brokers, lessees = _parties(rng, n_blocks)
    # every upstream sources from one to three holders; every broker works with some upstreams
    upstreams_of: list[list[SynParty]] = [[] for _ in holders]
    for up in upstreams:
        for h in rng.sample(range(len(holders)), k=min(len(holders), rng.randint(1, 3))):
            upstreams_of[h].append(up)
    for ups in upstreams_of:
        if not ups:
            ups.append(rng.choice(upstreams))

    # mixed sizes only while the space is plentiful; a /22 takes 4 /24 slots
    slots_free = SYNTHETIC_SPACE_SLASH16S * 256
    sizes_mixed = n_blocks * 1.6 < slots_free * 0.9
    holder_of_block = rng.choices(range(len(holders)), cum_weights=_zipf_cum_weights(len(holders), 0.9), k=n_blocks)
    lessee_of_block = rng.choices(range(len(lessees)), cum_weights=_zipf_cum_weights(len(lessees)), k=n_blocks)
    shape_names = [s for s, _ in SHAPES]
    shape_of_block = rng.choices(shape_names, weights=[w for _, w in SHAPES], k=n_blocks)

    # allocation size: /16 while the space allows each holder a partly used one, else smaller
    alloc_len = next((n for n in range(16, 23) if n_blocks * (1.6 if sizes_mixed else 1) + len(holders) * (1 << (24 - n)) <= slots_free), 22)
    alloc_slots = 1 << (24 - alloc_len)
    cursor: dict[int, tuple[int, int]] = {}  # holder -> (current allocation number, next free /24 slot in it)
    next_alloc = 0
    allocations: dict[str, SynParty] = {}
    blocks: list[SynBlock] = []
    day0 = date(2021, 1, 1).toordinal()
    for i in range(n_blocks):
        h = holder_of_block[i]
        holder = holders[h]
        length = 24
        if sizes_mixed:
            r = rng.random()
            length = 22 if r < 0.06 else 23 if r < 0.18 else 24
        slots = 1 << (24 - length)
        alloc, slot = cursor.get(h, (-1, alloc_slots))
        slot = (slot + slots - 1) // slots * slots  # align to the block size
        if slot + slots > alloc_slots:
            alloc, slot = next_alloc, 0
            next_alloc += 1
            alloc_first = SYNTHETIC_SPACE_FIRST | (alloc << (32 - alloc_len))
            if alloc_first >> 28 != SYNTHETIC_SPACE_FIRST >> 28:
                raise ValueError(f"{n_blocks} blocks do not fit in 240.0.0.0/4 with {len(holders)} holders")
            allocations[ints_to_prefix(alloc_first, alloc_len)] = holder
        cursor[h] = (alloc, slot + slots)
        first = SYNTHETIC_SPACE_FIRST | (alloc << (32 - alloc_len)) | (slot << 8)
        prefix = ints_to_prefix(first, length)
        lessee = lessees[lessee_of_block[i]]
        shape = shape_of_block[i]
        start = day0 + _between(rng, 0, 2100)  # 2021-01 .. 2026-10
        end = start + 365 * _between(rng, 4, 8)
        hops = _chain(rng, shape, holder, upstreams_of[h], upstreams, brokers, lessee, start, end, gap_rate, i)
        blocks.append(SynBlock(prefix, first, length, holder, lessee, hops, shape))
    if broken_rate > 0:
        _break_some(rng, blocks, broken_rate)
        _unregister_one_asn(blocks)
    return SyntheticPortfolio(blocks, holders, upstreams, brokers, lessees, allocations,
                              {holder.key: ups for holder, ups in zip(holders, upstreams_of)})


def _chain(rng: random.Random, shape: str, holder: SynParty, own_ups: list[SynParty], all_ups: list[SynParty],
           brokers: list[SynParty], lessee: SynParty, start: int, end: int, gap_rate: float, n: int) -> list[SynHop]:
    """The hops of one block for the given chain shape; downstream terms nest inside upstream
    terms except, with probability ``gap_rate`` per hop, one that outlives its supply."""

    def term(parent_start: int, parent_end: int) -> tuple[int, int]:
        s = parent_start + _between(rng, 0, 59)
        if rng.random() < gap_rate:
            return s, parent_end + _between(rng, 30, 400)  # outlives its supply: a renewal gap
        return s, max(s + 30, parent_end - _pick(rng, (0, 0, 30, 90, 180)))

    def other_upstream(not_this: SynParty) -> SynParty:
        pool = [u for u in own_ups if u is not not_this] or [u for u in all_ups[:50] if u is not not_this]
        return _pick(rng, pool)

    doc = f"LOA-SYN-{n:07d}"
    hops: list[SynHop] = []
    if shape == "direct":
        hops.append(SynHop(holder, "holder", lessee, "lessee", start, end, doc))
        return hops
    up = _pick(rng, own_ups)
    s1, e1 = start, end
    hops.append(SynHop(holder, "holder", up, "upstream", s1, e1, doc + "-U"))
    if shape == "upstream":
        s2, e2 = term(s1, e1)
        hops.append(SynHop(up, "upstream", lessee, "lessee", s2, e2, doc))
    elif shape == "broker":
        broker = _pick(rng, brokers)
        s2, e2 = term(s1, e1)
        hops.append(SynHop(up, "upstream", broker, "broker", s2, e2, doc + "-B" if rng.random() < 0.8 else ""))
        s3, e3 = term(s2, e2)
        hops.append(SynHop(broker, "broker", lessee, "lessee", s3, e3, doc))
    elif shape == "parallel":
        up2 = other_upstream(up)
        s2, e2 = start + _between(rng, 0, 89), end + _pick(rng, (-365, 0, 365))
        hops.append(SynHop(holder, "holder", up2, "upstream", s2, e2, doc + "-U2"))
        for u, (ps, pe) in ((up, (s1, e1)), (up2, (s2, e2))):
            s, e = term(ps, pe)
            hops.append(SynHop(u, "upstream", lessee, "lessee", s, e, doc))
    elif shape == "diamond":
        up2 = other_upstream(up)
        broker = _pick(rng, brokers)
        hops.append(SynHop(holder, "holder", up2, "upstream", start, end, doc + "-U2"))
        s2, e2 = term(s1, e1)
        hops.append(SynHop(up, "upstream", broker, "broker", s2, e2, doc + "-B"))
        s3, e3 = term(s1, e1)
        hops.append(SynHop(up2, "upstream", broker, "broker", s3, e3, doc + "-B2"))
        s4, e4 = term(min(s2, s3), max(e2, e3))
        hops.append(SynHop(broker, "broker", lessee, "lessee", s4, e4, doc))
    elif shape == "deep":
        up2 = other_upstream(up)
        s2, e2 = term(s1, e1)
        hops.append(SynHop(up, "upstream", up2, "upstream", s2, e2, doc + "-U2"))
        s3, e3 = term(s2, e2)
        hops.append(SynHop(up2, "upstream", lessee, "lessee", s3, e3, doc))
    else:  # direct+upstream: the holder also leases directly, in parallel with an upstream
        hops.append(SynHop(holder, "holder", lessee, "lessee", s1, e1 - 365, doc + "-D"))
        s2, e2 = term(s1, e1)
        hops.append(SynHop(up, "upstream", lessee, "lessee", s2, e2, doc))
    return hops


DEFECTS = ("cycle", "no-holder", "no-lessee", "bad-date", "host-bits")
# a lease whose register rows name no ASN for the lessee: valid input, analysed as no-lessee-asn
NO_ASN = "no-asn"


def _unregister_one_asn(blocks: list[SynBlock]) -> None:
    """The last undamaged block's register rows name no lessee ASN (the last, so the seeded signal
    streams of every block before it stay as they were)."""
    block = next((b for b in reversed(blocks) if not b.defect), None)
    if block is not None:
        block.defect = NO_ASN


def _break_some(rng: random.Random, blocks: list[SynBlock], rate: float) -> None:
    """Damage about ``rate`` of the blocks, one defect each (see :data:`DEFECTS`)."""
    for block in blocks:
        if rng.random() >= rate:
            continue
        defect = rng.choice(DEFECTS)
        hops = block.hops
        if defect == "cycle":
            # two intermediaries supply each other: X -> Y and Y -> X
            pair = next((h for h in hops if h.provider_role != "holder" and h.recipient_role != "lessee"), None)
            if pair is None:
                continue
            hops.append(SynHop(pair.recipient, pair.recipient_role, pair.provider, pair.provider_role, pair.start, pair.end, ""))
        elif defect == "no-holder":
            for h in hops:
                if h.provider_role == "holder":
                    h.provider_role = "upstream"
        elif defect == "no-lessee":
            block.hops = [h for h in hops if h.recipient_role != "lessee"] or hops[:0]
            if not block.hops:
                continue
        block.defect = defect


# --- output ---------------------------------------------------------------------------------------
_DATE_TEXT: dict[int, str] = {}


def _day(ordinal: int) -> str:
    text = _DATE_TEXT.get(ordinal)
    if text is None:
        text = _DATE_TEXT[ordinal] = date.fromordinal(ordinal).isoformat()
    return text


def _csv_field(value: str) -> str:
    return f'"{value}"' if "," in value or '"' in value else value


def transit_of(lessee_asn: int) -> int:
    """The transit provider of a synthetic lessee."""
    return TRANSIT_ASNS[lessee_asn // 7 % len(TRANSIT_ASNS)]


def registered_transit(hop: SynHop) -> tuple[int, ...]:
    """The ``transit_asns`` a register row names: the lessee's transit on every fifth lessee ASN's hops."""
    asn = hop.recipient.asn
    return (transit_of(asn),) if hop.recipient_role == "lessee" and asn % 5 == 0 else ()


def renewal_owner(hop: SynHop, n: int) -> str:
    """Who renews the ``n``-th hop of a block: its provider on every second hop, else unnamed."""
    return hop.provider.name if n % 2 else ""


def register_lines(portfolio: SyntheticPortfolio) -> Iterator[str]:
    """The lease register CSV, header first, one line per hop (with its newline)."""
    yield ",".join(REGISTER_COLUMNS) + "\n"
    for block in portfolio.blocks:
        prefix = block.prefix
        if block.defect == "host-bits":
            prefix = prefix.replace(".0/", ".7/", 1)
        for n, h in enumerate(block.hops):
            asn = str(h.recipient.asn) if h.recipient_role == "lessee" and block.defect != NO_ASN else ""
            end = _day(h.end)
            if block.defect == "bad-date" and n == 0:
                end = end[:5] + "13-45"
            transit = ";".join(str(t) for t in registered_transit(h))
            yield (f"{prefix},{_csv_field(h.provider.name)},{h.provider_role},{_csv_field(h.recipient.name)},{h.recipient_role},"
                   f"{_day(h.start)},{end},{asn},{_csv_field(renewal_owner(h, n))},{h.document_ref},"
                   f"{h.provider.party_id},{h.recipient.party_id},{transit}\n")


def write_register(portfolio: SyntheticPortfolio, path: Path) -> int:
    """Write the lease register CSV; returns the number of data rows."""
    rows = -1
    with open(path, "w", encoding="utf-8", newline="") as fh:
        chunk: list[str] = []
        for line in register_lines(portfolio):
            chunk.append(line)
            rows += 1
            if len(chunk) >= 20000:
                fh.write("".join(chunk))
                chunk.clear()
        fh.write("".join(chunk))
    return rows


Vrp = tuple[str, int, int]  # (prefix, maxLength, asn)
SQUATTER_ASN = 4_294_967_000  # RFC 6996 private use: the origin that announces a holder's idle space
VALID_FOR = timedelta(days=2)  # how long a VRP holds after the export's build time
LAPSING_FOR = timedelta(hours=6)  # ... a lapsing one's (within the 24 h default horizon)
CA_HOST = "rpki.synthetic.invalid"  # RFC 6761 .invalid: the non-functional CAs' publication host


def ca_repository(holder: SynParty) -> str:
    """The publication point of a holder's (synthetic) CA."""
    return f"rsync://{CA_HOST}/repo/{holder.party_id or party_key(holder.name).replace(' ', '-')}/0/"


@dataclass(frozen=True)
class SignalPlan:
    """What the synthetic routing/reputation files say about each block (for tests and the demo)."""

    rov: dict[str, str]  # block -> expected ROV state for its lessee's ASN: Valid / Invalid / NotFound
    announced: dict[str, int]  # block -> origin AS in the pfx2as file
    listed: dict[str, str]  # DROP prefix -> SBL id
    vrps: list[Vrp]  # in the rpki-client export
    lapsing: frozenset[Vrp] = frozenset()  # VRPs expiring LAPSING_FOR after the build time (else VALID_FOR)
    as_sets: dict[str, str] = field(default_factory=dict)  # block -> AS_SET origin ("a,b") in the pfx2as file
    # VRPs of CAs rpki-client calls non-functional (so not in its export) that Routinator's jsonext
    # export still serves: (VRP, the CA's publication point)
    stale: list[tuple[Vrp, str]] = field(default_factory=list)

    # routing paths: collected AS paths (prefix, path peer first), ASPAs (customer -> providers), ASN-DROP (asn -> AS name)
    paths: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    aspas: dict[int, tuple[int, ...]] = field(default_factory=dict)
    asn_listed: dict[int, str] = field(default_factory=dict)

    @property
    def nonfunctional_cas(self) -> list[str]:
        """The publication points of the non-functional CAs, each once, in order."""
        return list(dict.fromkeys(repo for _, repo in self.stale))


def plan_signals(portfolio: SyntheticPortfolio, seed: int) -> SignalPlan:
    """Per block, seeded: ~70% an exact ROA for the lessee's ASN (Valid), ~8% a ROA for the holder's
    ASN (Invalid, asn-mismatch), ~6% a ROA for the lessee on the prefix one bit shorter with that
    maxLength (Invalid, too-specific), the rest none (NotFound; a neighbour's shorter ROA can make
    it Invalid - the returned expectations are recomputed from the final VRP set). BGP: ~85% announced by the lessee, ~5% by
    the holder, ~10% not announced. DROP: ~0.4% of blocks, plus the first /22 of the first
    allocation when the portfolio has 200 blocks or more.

    Routing proof, from a second seeded stream (so the figures above do not move): of the exact
    lessee ROAs ~3% have a maxLength two bits longer (roa-loose-maxlength), ~3% lapse 6 hours after
    the build time (roa-lapsing), ~2% are published by the holder's CA that rpki-client lists as
    non-functional, so only the Routinator jsonext export has them (ca-nonfunctional); ~1% of blocks
    get an AS0 VRP of their own (as0-covered) and ~1% of the lessee-announced ones are announced with
    an AS_SET of lessee and holder instead (origin NONE). Idle space: every other allocation has an
    AS0 VRP on each range its holder has not leased, and one allocation in five has its first idle
    range announced by :data:`SQUATTER_ASN` (idle-space-announced)."""
    rng = random.Random(seed * 7919 + 17)
    proof = random.Random(seed * 6571 + 29)
    lapsing: set[Vrp] = set()
    as_sets: dict[str, str] = {}
    stale: list[tuple[Vrp, str]] = []
    rov: dict[str, str] = {}
    announced: dict[str, int] = {}
    listed: dict[str, str] = {}
    vrps: list[tuple[str, int, int]] = []
    too_specific_done: set[tuple[str, int]] = set()
    for block in portfolio.blocks:
        if block.defect:
            continue
        prefix, asn = block.prefix, block.lessee.asn
        r = rng.random()
        if r < 0.70:
            x = proof.random()
            if x < 0.03:
                vrps.append((prefix, block.length + 2, asn))
            elif x < 0.06:
                vrps.append((prefix, block.length, asn))
                lapsing.add((prefix, block.length, asn))
            elif x < 0.08:
                stale.append(((prefix, block.length, asn), ca_repository(block.holder)))
            else:
                vrps.append((prefix, block.length, asn))
            rov[prefix] = "Valid"
        elif r < 0.78:
            vrps.append((prefix, block.length, block.holder.asn))
            rov[prefix] = "Invalid"
        elif r < 0.84 and block.length > 8:
            # the lessee is authorised only for the covering prefix one bit shorter, not more specifics
            outer = block.length - 1
            supernet = ints_to_prefix(block.first & MASKS[outer], outer)
            if (supernet, asn) not in too_specific_done:
                too_specific_done.add((supernet, asn))
                vrps.append((supernet, outer, asn))
            rov[prefix] = "Invalid"
        else:
            rov[prefix] = "NotFound"
        if proof.random() < 0.01:
            vrps.append((prefix, 32, 0))
        r = rng.random()
        if r < 0.85:
            if proof.random() < 0.01:
                as_sets[prefix] = f"{asn},{block.holder.asn}"
            else:
                announced[prefix] = asn
        elif r < 0.90:
            announced[prefix] = block.holder.asn
        if rng.random() < 0.004:
            listed[prefix] = f"SBL{900000 + len(listed)}"
    if len(portfolio.blocks) >= 200 and portfolio.allocations:
        first_alloc = next(iter(portfolio.allocations))
        listed[first_alloc.split("/")[0] + "/22"] = f"SBL{900000 + len(listed)}"
    leased: dict[str, list[str]] = {}
    for block in portfolio.blocks:
        leased.setdefault(ints_to_prefix(block.first & MASKS[_alloc_length(portfolio)], _alloc_length(portfolio)), []).append(block.prefix)
    for n, prefix in enumerate(portfolio.allocations):
        idle = subtract(prefix, leased.get(prefix, []))
        if n % 2 == 0:
            vrps.extend((p, 32, 0) for p in idle)
        if n % 5 == 1 and idle:
            announced[idle[0]] = SQUATTER_ASN
    # a covering VRP can change a block's state: recompute the expectation from the final VRP set
    return SignalPlan(_expected_rov(portfolio, vrps + [v for v, _ in stale]), announced, listed, vrps, frozenset(lapsing), as_sets, stale,
                      *_plan_paths(portfolio, announced, seed))


def _plan_paths(portfolio: SyntheticPortfolio, announced: dict[str, int],
                seed: int) -> tuple[list[tuple[str, tuple[int, ...]]], dict[int, tuple[int, ...]], dict[int, str]]:
    """AS paths, ASPAs and ASN-DROP entries (their own random stream, so the other signals stay as they
    were): ~40% of the blocks their lessee announces have a collected path collector peer -> transit ->
    lessee, ~8% of those (and the first with an even-numbered lessee ASN) through another transit than
    the lessee's; every lessee with a path and an even-numbered ASN has an ASPA naming its transit, and
    the collector peer an ASPA of AS 0 (a transit-free network: no providers), so under the downstream
    procedure those detours are Invalid and the other paths Valid (odd ASNs: Unknown); ~1% of the
    lessee ASNs and the transit of the first block whose register row names one are on ASN-DROP."""
    rng = random.Random(seed * 7919 + 29)
    paths: list[tuple[str, tuple[int, ...]]] = []
    aspas: dict[int, tuple[int, ...]] = {}
    detoured = False
    for block in portfolio.blocks:
        asn = block.lessee.asn
        if block.defect or announced.get(block.prefix) != asn or rng.random() >= 0.4:
            continue
        upstream = transit_of(asn)
        if rng.random() < 0.08 or (not detoured and asn % 2 == 0):
            detoured = True
            upstream = TRANSIT_ASNS[(TRANSIT_ASNS.index(upstream) + 1) % len(TRANSIT_ASNS)]
        paths.append((block.prefix, (COLLECTOR_PEER_ASN, upstream, asn)))
        if asn % 2 == 0:
            aspas[asn] = (transit_of(asn),)
    if paths:
        aspas[COLLECTOR_PEER_ASN] = (0,)
    listed = {lessee.asn: f"SYN-LISTED-{lessee.asn}" for lessee in portfolio.lessees if rng.random() < 0.01}
    # the transit the register names for the first block whose row names one: that lease is ASN-listed by its transit
    named = next((t for b in portfolio.blocks if not b.defect for h in b.hops for t in registered_transit(h)), TRANSIT_ASNS[-1])
    listed[named] = "SYN-LISTED-TRANSIT"
    return paths, aspas, listed


def _alloc_length(portfolio: SyntheticPortfolio) -> int:
    """The prefix length of the portfolio's allocations (all the same)."""
    return int(next(iter(portfolio.allocations)).split("/")[1]) if portfolio.allocations else 16


def _expected_rov(portfolio: SyntheticPortfolio, vrps: list[tuple[str, int, int]]) -> dict[str, str]:
    index = vrp_index(VrpRecord(p, m, a, "synthetic") for p, m, a in vrps)
    return {b.prefix: validate_route(index, b.first, b.length, b.lessee.asn)[0] for b in portfolio.blocks if not b.defect}


PFX2AS_NAME = f"routeviews-rv2-{OBSERVED_AT:%Y%m%d-%H%M}.pfx2as"  # CAIDA's name: it dates the BGP observation
BGPDUMP_NAME = f"rib.{OBSERVED_AT:%Y%m%d.%H%M}.txt"


def vrp_expires(plan: SignalPlan, vrp: Vrp) -> datetime:
    """When a planned VRP stops being valid."""
    return OBSERVED_AT + (LAPSING_FOR if vrp in plan.lapsing else VALID_FOR)


def write_signals(plan: SignalPlan, out: Path) -> dict[str, Path]:
    """Write ``vrps.json`` (rpki-client JSON, with its ``nonfunc_cas`` and ``aspas``), ``vrps-jsonext.json``
    (Routinator jsonext: the non-functional CAs' VRPs, when there are any), the pfx2as file (CAIDA
    prefix2as, named as CAIDA names it), ``drop.txt`` (Spamhaus DROP text), ``asndrop.json`` (Spamhaus
    ASN-DROP JSON lines) and the ``bgpdump -m`` RIB lines into ``out``; returns their paths by kind. Both
    VRP exports have the same build time: neither retracts the other's VRPs."""
    when = OBSERVED_AT
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    roas = [{"asn": asn, "prefix": p, "maxLength": m, "ta": "synthetic", "expires": int(vrp_expires(plan, (p, m, asn)).timestamp())}
            for p, m, asn in plan.vrps]
    cas = [{"location": f"{CA_HOST}/repo/synthetic-ta/{repo.rstrip('/').split('/')[-2]}.cer", "ta": "synthetic", "caRepository": repo,
            "rpkiManifest": f"{repo}manifest.mft", "ski": f"SYNTHETIC{n:04d}"} for n, repo in enumerate(plan.nonfunctional_cas)]
    vrp_path = out / "vrps.json"
    vrp_path.write_text(json.dumps({
        "metadata": {"buildmachine": "chainrisk-synthetic", "buildtime": stamp,
                     "roas": len(roas), "vrps": len(roas), "uniquevrps": len(roas), "nonfunctionalcas": len(cas)},
        "roas": roas,
        "nonfunc_cas": cas,
        "aspas": [{"customer_asid": c, "expires": int((when + VALID_FOR).timestamp()), "providers": list(p)}
                  for c, p in sorted(plan.aspas.items())],
    }, indent=1) + "\n")
    paths = {"vrps": vrp_path}
    if plan.stale:
        until = (when + VALID_FOR).strftime("%Y-%m-%dT%H:%M:%SZ")
        stale = [{"asn": f"AS{asn}", "prefix": p, "maxLength": m, "source": [{
            "type": "roa", "uri": f"{repo}{n:06d}.roa", "tal": "synthetic",
            "validity": {"notBefore": "2026-01-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z"},
            "chainValidity": {"notBefore": stamp, "notAfter": until}, "stale": until}]}
            for n, ((p, m, asn), repo) in enumerate(plan.stale)]
        paths["vrps_jsonext"] = out / "vrps-jsonext.json"
        paths["vrps_jsonext"].write_text(json.dumps({"metadata": {"generated": int(when.timestamp()), "generatedTime": stamp},
                                                     "roas": stale}, indent=1) + "\n")
    pfx_path = out / PFX2AS_NAME
    with open(pfx_path, "w") as fh:
        for prefix, asn in plan.announced.items():
            address, length = prefix.split("/")
            fh.write(f"{address}\t{length}\t{asn}\n")
        for prefix, members in plan.as_sets.items():
            address, length = prefix.split("/")
            fh.write(f"{address}\t{length}\t{members}\n")
    drop_path = out / "drop.txt"
    with open(drop_path, "w") as fh:
        fh.write(f"; Spamhaus-format DROP list - SYNTHETIC test data generated by chainrisk {when:%Y/%m/%d}\n")
        fh.write(f"; Last-Modified: {when:%a, %d %b %Y %H:%M:%S} GMT\n")
        for prefix, sbl in plan.listed.items():
            fh.write(f"{prefix} ; {sbl}\n")
    asndrop_path = out / "asndrop.json"
    with open(asndrop_path, "w") as fh:
        for asn, name in sorted(plan.asn_listed.items()):
            fh.write(json.dumps({"asn": asn, "rir": "synthetic", "domain": "synthetic.invalid", "cc": "ZZ", "asname": name}) + "\n")
        fh.write(json.dumps({"type": "metadata", "timestamp": int(when.timestamp()), "size": len(plan.asn_listed),
                             "records": len(plan.asn_listed), "copyright": "SYNTHETIC test data generated by chainrisk",
                             "terms": "none: synthetic"}) + "\n")
    rib_path = out / BGPDUMP_NAME
    with open(rib_path, "w") as fh:
        for prefix, path in plan.paths:
            fh.write(f"TABLE_DUMP2|{int(when.timestamp())}|B|240.0.0.1|{path[0]}|{prefix}|{' '.join(map(str, path))}|IGP|240.0.0.1|0|0||NAG||\n")
    return {**paths, "pfx2as": pfx_path, "drop": drop_path, "asndrop": asndrop_path, "bgpdump": rib_path}


def maintainer(party: SynParty) -> str:
    """The RPSL maintainer name of a synthetic party: ``"Atlas Connect Lease 7"`` -> ``ATLAS-CONNECT-LEASE-7-MNT``."""
    return "-".join(party.name.upper().split()) + "-MNT"


def _rpsl(attributes: list[tuple[str, str]]) -> str:
    return "".join(f"{k + ':':<16}{v}\n" for k, v in attributes) + "\n"


def registry_text(portfolio: SyntheticPortfolio, seed: int) -> str:
    """RPSL objects (``source: SYNTHETIC``) for the register: an organisation per holder, an
    ALLOCATED PA inetnum per allocation (org = the holder's id; mnt-lower = the maintainer of one of
    its upstreams, which gives that upstream a registry footprint; an abuse contact on ~95%, never on
    the first, so its leases are flagged no-abuse-contact), and a
    route object for ~60% of the leased blocks with the lessee's ASN, ~5% of them in the
    non-authoritative ``SYNTHETIC-NONAUTH`` store (irr-nonauthoritative). About 3% of allocations name
    another holder's org, so the contract holder and the registry holder disagree (source clarity)."""
    rng = random.Random(seed * 31 + 5)
    out = [f"% SYNTHETIC registry data generated by chainrisk (seed {seed}); not real RIR data\n\n"]
    for holder in portfolio.holders:
        out.append(_rpsl([("organisation", holder.party_id), ("org-name", holder.name), ("org-type", "LIR"),
                          ("mnt-by", maintainer(holder)), ("source", "SYNTHETIC")]))
    for n, (prefix, holder) in enumerate(portfolio.allocations.items()):
        first, last, _ = prefix_range(prefix)
        org = holder
        if rng.random() < 0.03 and len(portfolio.holders) > 1:
            org = _pick(rng, [h for h in portfolio.holders if h is not holder])
        attributes = [("inetnum", f"{int_to_address(first)} - {int_to_address(last)}"), ("netname", f"SYN-ALLOC-{n + 1}"),
                      ("country", "ZZ"), ("org", org.party_id), ("status", "ALLOCATED PA"), ("mnt-by", maintainer(holder))]
        ups = portfolio.upstreams_of.get(holder.key) or []
        if ups:
            attributes.append(("mnt-lower", maintainer(_pick(rng, ups))))
        if rng.random() < 0.95 and n != 0:
            attributes.append(("abuse-c", f"SYN{n + 1}-ABUSE"))
        attributes += [("created", "2020-01-15T10:00:00Z"), ("last-modified", "2020-01-15T10:00:00Z"), ("source", "SYNTHETIC")]
        out.append(_rpsl(attributes))
    nonauth = random.Random(seed * 31 + 6)  # its own stream: the objects above stay as they were
    for block in portfolio.blocks:
        if block.defect or rng.random() >= 0.6:
            continue
        source = "SYNTHETIC-NONAUTH" if nonauth.random() < 0.05 else "SYNTHETIC"
        out.append(_rpsl([("route", block.prefix), ("origin", f"AS{block.lessee.asn}"), ("mnt-by", maintainer(block.lessee)),
                          ("created", "2024-01-10T10:00:00Z"), ("last-modified", "2024-01-10T10:00:00Z"), ("source", source)]))
    return "".join(out)


def transfers_document(portfolio: SyntheticPortfolio) -> dict[str, object]:
    """An NRO transfer-log document with one IPv4 transfer: the largest holder's first allocation
    moves to "Newco Holdings 1" on 2026-10-15, after its leases started (a holder change to alert on)."""
    prefix, holder = next(iter(portfolio.allocations.items()))
    first, last, _ = prefix_range(prefix)
    span = [{"start_address": int_to_address(first), "end_address": int_to_address(last)}]
    return {
        "transfers": [{
            "ip4nets": {"original_set": span, "transfer_set": span},
            "source_organization": {"name": holder.name, "country_code": "ZZ"},
            "recipient_organization": {"name": "Newco Holdings 1", "country_code": "ZZ"},
            "source_rir": "SYNTHETIC",
            "recipient_rir": "SYNTHETIC",
            "source_registration_date": "2020-01-15T10:00:00Z",
            "transfer_date": "2026-10-15T12:00:00Z",
            "type": "RESOURCE_TRANSFER",
        }],
        "version": "SYNTHETIC",
    }


def write_dataset(n_blocks: int, seed: int, out: Path, *, broken_rate: float = 0.0, signals: bool = True) -> dict[str, Any]:
    """Generate and write a register (``leases.csv``) and, with ``signals``, the matching routing,
    reputation, registry and transfer files (``vrps.json``, the pfx2as file, ``drop.txt``, ``asndrop.json``, the bgpdump RIB lines,
    ``registry.db``, ``transfers.json``), plus ``MANIFEST.json`` saying it is synthetic and what it
    contains."""
    out.mkdir(parents=True, exist_ok=True)
    portfolio = generate(n_blocks, seed, broken_rate=broken_rate)
    rows = write_register(portfolio, out / "leases.csv")
    files: dict[str, str] = {"register": "leases.csv"}
    manifest: dict[str, Any] = {
        "synthetic": True,
        "generator": "chainrisk.synthetic",
        "seed": seed,
        "blocks": n_blocks,
        "register_rows": rows,
        "address_space": "240.0.0.0/4 (RFC 1112 reserved; never routed)",
        "observed_at": OBSERVED_AT.isoformat(),
        "defects": {d: sum(1 for b in portfolio.blocks if b.defect == d) for d in (*DEFECTS, NO_ASN)},
    }
    if signals:
        plan = plan_signals(portfolio, seed)
        paths = write_signals(plan, out)
        files.update({k: p.name for k, p in paths.items()})
        manifest["vrps"] = len(plan.vrps)
        manifest["expected_rov"] = {s: sum(1 for v in plan.rov.values() if v == s) for s in ("Valid", "Invalid", "NotFound")}
        manifest["listed"] = len(plan.listed)
        manifest["as_paths"], manifest["aspas"], manifest["asn_listed"] = len(plan.paths), len(plan.aspas), len(plan.asn_listed)
        (out / "registry.db").write_text(registry_text(portfolio, seed))
        (out / "transfers.json").write_text(json.dumps(transfers_document(portfolio), indent=2) + "\n")
        files.update({"registry": "registry.db", "transfers": "transfers.json"})
    manifest["files"] = files
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# --- straight to an analysis Portfolio (benchmarks, tests) -----------------------------------------
def to_portfolio(portfolio: SyntheticPortfolio, plan: SignalPlan | None = None) -> Portfolio:
    """The analysis :class:`Portfolio` the register (and signal files) would load as, built in
    memory without going through files or events. Rows the ingest would reject are left out: every
    row of a block written with host bits set, and the first row of a block written with a bad date."""
    hops: list[Hop] = []
    keys: dict[int, str] = {}
    for block in portfolio.blocks:
        if block.defect == "host-bits":
            continue
        for n, h in enumerate(block.hops):
            if n == 0 and block.defect == "bad-date":
                continue
            p, r = h.provider, h.recipient
            pk = keys.get(id(p)) or keys.setdefault(id(p), p.key)
            rk = keys.get(id(r)) or keys.setdefault(id(r), r.key)
            hops.append(Hop(block.prefix, pk, p.name, h.provider_role, rk, r.name, h.recipient_role,
                            date.fromordinal(h.start), date.fromordinal(h.end),
                            r.asn if h.recipient_role == "lessee" and block.defect != NO_ASN else None, renewal_owner(h, n) or None,
                            h.document_ref or None, registered_transit(h)))
    result = Portfolio(hops=hops)
    if plan is not None:
        result.vrps = [VrpRecord(p, m, a, "synthetic", vrp_expires(plan, (p, m, a)), OBSERVED_AT) for p, m, a in plan.vrps]
        result.vrps += [VrpRecord(p, m, a, "synthetic", OBSERVED_AT + VALID_FOR, OBSERVED_AT, f"{repo}{n:06d}.roa")
                        for n, ((p, m, a), repo) in enumerate(plan.stale)]
        result.nonfunctional_cas = [CaRecord("synthetic", f"{CA_HOST}/repo/synthetic-ta/{repo.rstrip('/').split('/')[-2]}.cer", repo)
                                    for repo in plan.nonfunctional_cas]
        result.origins = {p: (a,) for p, a in plan.announced.items()}
        result.as_sets = {p: (members,) for p, members in plan.as_sets.items()}
        result.listings = [Listing(p, "spamhaus-drop", sbl) for p, sbl in plan.listed.items()]
        result.origins_observed_at = dict.fromkeys([*plan.announced, *plan.as_sets], OBSERVED_AT)
        result.as_paths = [AsPathRecord(p, path[0], path, "240.0.0.1") for p, path in plan.paths]
        result.aspas = [AspaRecord(c, providers) for c, providers in plan.aspas.items()]
        result.asn_listings = [AsnListingRecord(a, "spamhaus-asndrop", name) for a, name in plan.asn_listed.items()]
    return result

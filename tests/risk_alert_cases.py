"""The risk-change alert scenario, step by step, for any backend: each step applies a batch of
events (or none: only the reference date moves), then runs the full analysis with the alerts
engine (what `chainrisk analyze` does) - or the consumer's continuous analysis re-analyses what
the batch affects (:class:`Continuous`) - and says which alerts that step must touch. Checked on
the embedded store in tests/unit/test_risk_alerts_store.py and tests/unit/test_risk_alerts_consumer.py,
through Kafka + Neo4j in tests/integration/test_risk_alerts_services.py.

SYNTHETIC DATA in 240.0.0.0/4.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from graph_events import asn_listing, lease, listing, origin, vrp

AS_OF = date(2026, 3, 1)
B1, B2, B3, B4, B5, B6 = (f"240.20.{n}.0/24" for n in range(1, 7))
HOLDER_VRP = "240.20.0.0/16"  # the holder's ROA: it covers B1 and B4, both leased to AS64501
COVERING = "240.20.0.0/16"
ASN_FLAG = "asn-blocklisted: spamhaus-asndrop AS64501 AS64501-NAME (lessee)"  # what analysis.blocks.risk_findings says of it


def _parallel_path(op: str = "assert", observed: int = 0) -> list[Any]:
    return [lease(B2, "Holder H", "Up Two", observed, recipient_role="upstream", op=op),
            lease(B2, "Up Two", "Lessee L2", observed, provider_role="upstream", lessee_asn=64502, op=op)]


def _gap_hop(end: date, observed: int) -> Any:
    return lease(B5, "Up Five", "Lessee L5", observed, provider_role="upstream", end=end)


def baseline() -> list[Any]:
    return [
        lease(B1, "Holder H", "Lessee L1", lessee_asn=64501),
        lease(B4, "Holder H", "Lessee L4", lessee_asn=64501),
        vrp(HOLDER_VRP, 64501),
        origin(B1, 64501), origin(B4, 64501),
        lease(B2, "Holder H", "Up One", recipient_role="upstream"),
        lease(B2, "Up One", "Lessee L2", provider_role="upstream", lessee_asn=64502),
        *_parallel_path(),
        vrp(B2, 64502), origin(B2, 64502),
        lease(B3, "Holder H", "Lessee L3", end=AS_OF + timedelta(days=45)),
        lease(B5, "Holder H", "Up Five", recipient_role="upstream", end=date(2027, 12, 31)),
        _gap_hop(date(2027, 6, 30), 0),
        lease(B6, "Holder H", "Lessee L6"),
    ]


def _origin_gone() -> Any:
    gone = origin(B1, 64501, observed=8)
    return gone.model_copy(update={"op": "retract"}).with_id()


@dataclass(frozen=True)
class Step:
    name: str
    events: list[Any]
    as_of: date
    # the alerts the step touches: (type, subject name, status, ((block, entry status, before, after), ...))
    expected: list[tuple[str, str, str, tuple[tuple[str, str, str, str], ...]]]


def steps() -> list[Step]:
    later = AS_OF + timedelta(days=20)
    return [
        Step("first analysis", baseline(), AS_OF, []),
        Step("the same data again", baseline(), AS_OF, []),
        Step("the holder's ROA withdrawn", [vrp(HOLDER_VRP, 64501, observed=2, op="retract")], AS_OF, [
            ("rov_left_valid", "", "open", ((B1, "open", "Valid", "NotFound"), (B4, "open", "Valid", "NotFound")))]),
        Step("analysed again", [], AS_OF, []),
        Step("the ROA is back", [vrp(HOLDER_VRP, 64501, observed=3)], AS_OF, [
            ("rov_left_valid", "", "resolved", ((B1, "cleared", "Valid", "Valid"), (B4, "cleared", "Valid", "Valid")))]),
        Step("withdrawn and back within one batch", [vrp(HOLDER_VRP, 64501, observed=4, op="retract"),
                                                     vrp(HOLDER_VRP, 64501, observed=5)], AS_OF, []),
        Step("a parallel path ended", _parallel_path("retract", 5), AS_OF, [
            ("new_spof", "Up One", "open", ((B2, "open", "not a SPOF", "SPOF at position 1 of 2"),))]),
        Step("the parallel path is back", _parallel_path("assert", 6), AS_OF, [
            ("new_spof", "Up One", "resolved", ((B2, "cleared", "not a SPOF", "not a SPOF"),))]),
        Step("the covering prefix is listed", [listing(COVERING, observed=7)], AS_OF, [
            ("listed", "", "open", tuple((b, "open", "not listed", "listed") for b in (B1, B2, B3, B4, B5, B6)))]),
        Step("delisted", [listing(COVERING, observed=8, op="retract")], AS_OF, [
            ("listed", "", "resolved", tuple((b, "cleared", "not listed", "not listed") for b in (B1, B2, B3, B4, B5, B6)))]),
        Step("the lessee's origin gone from BGP", [_origin_gone()], AS_OF, [
            ("origin_not_in_bgp", "", "open", ((B1, "open", "origin seen in BGP", "origin not seen in BGP"),))]),
        Step("the origin is back", [origin(B1, 64501, observed=9)], AS_OF, [
            ("origin_not_in_bgp", "", "resolved", ((B1, "cleared", "origin seen in BGP", "origin seen in BGP"),))]),
        Step("the lessees' ASN is on ASN-DROP", [asn_listing(64501, observed=10)], AS_OF, [
            ("routing_signal", "asn-blocklisted", "open", tuple((b, "open", "no asn-blocklisted", ASN_FLAG) for b in (B1, B4)))]),
        Step("the ASN delisted", [asn_listing(64501, observed=10, op="retract")], AS_OF, [
            ("routing_signal", "asn-blocklisted", "resolved", tuple((b, "cleared", "no asn-blocklisted", "no asn-blocklisted") for b in (B1, B4)))]),
        Step("a renewal gap opens", [_gap_hop(date(2028, 6, 30), 10)], AS_OF, [
            ("renewal_gap", "Up Five->Lessee L5", "open", ((B5, "open", "no renewal gap", "Up Five->Lessee L5"),))]),
        Step("the gap closes", [_gap_hop(date(2027, 6, 30), 11)], AS_OF, [
            ("renewal_gap", "Up Five->Lessee L5", "resolved", ((B5, "cleared", "no renewal gap", "no renewal gap"),))]),
        Step("a data error", [lease(B6, "Holder H", "Lessee L6b", 12)], AS_OF, [
            ("data_error", "several lessees: Lessee L6, Lessee L6b", "open",
             ((B6, "open", "no data error", "several lessees: Lessee L6, Lessee L6b"),))]),
        Step("the error fixed", [lease(B6, "Holder H", "Lessee L6b", 13, op="retract")], AS_OF, [
            ("data_error", "several lessees: Lessee L6, Lessee L6b", "resolved", ((B6, "cleared", "no data error", "no data error"),))]),
        Step("time passes: the lease of B3 ends within the horizon", [], later, [
            ("secured_until_near", "", "open", ((B3, "open", "secured until 2026-04-15 (45 days left)",
                                                 "secured until 2026-04-15 (25 days left)"),))]),
        Step("the next day, nothing new", [], later + timedelta(days=1), []),
        Step("renewed", [lease(B3, "Holder H", "Lessee L3", 14, end=date(2027, 4, 15))], later + timedelta(days=1), [
            ("secured_until_near", "", "resolved", ((B3, "cleared", "secured until 2026-04-15 (45 days left)",
                                                     "secured until 2027-04-15 (389 days left)"),))]),
    ]


def summary(alerts: list[Any]) -> list[tuple[str, str, str, tuple[tuple[str, str, str, str], ...]]]:
    """The touched alerts (``RiskAlert`` objects or their dicts) as a step's ``expected``."""
    out = []
    for a in alerts:
        d = a if isinstance(a, dict) else a.as_dict()
        out.append((d["type"], d["subject_name"], d["status"],
                    tuple((x["block"], x["status"], x["before"], x["after"]) for x in d["affected"])))
    return sorted(out)


class Continuous:
    """The consumer's continuous analysis with risk-change alerts (graph/continuous.py) on ``store``,
    fed step by step: the date moves to the step's day (the loop's date check first, as each pass
    of the consumer loop does), then each batch is applied with its pending-changes record and
    re-analysed. ``step`` returns the alerts the step touched."""

    def __init__(self, store: Any, group: str = "g") -> None:
        from chainrisk.graph.alerts.engine import AlertEngine
        from chainrisk.graph.continuous import ContinuousAnalysis, RiskOutbox

        self.store, self.group = store, group
        self.now = datetime.combine(AS_OF, time(12), timezone.utc)
        self.touched: list[Any] = []
        self.engine = AlertEngine(store, deliver=self.touched.extend)
        self.analysis = ContinuousAnalysis(store, clock=lambda: self.now, risk=RiskOutbox(self.engine, group))

    def step(self, events: list[Any], as_of: date, batch_size: int = 1 << 20) -> list[Any]:
        self.touched.clear()
        self.now = datetime.combine(as_of, time(12), timezone.utc)
        self.analysis.tick()
        for start in range(0, len(events), batch_size):
            result = self.store.apply_batch(events[start:start + batch_size], {}, self.group, keep_changes=True)
            self.analysis.after_batch(result.applied_facts)
            if result.pending_id is not None:
                self.store.drop_pending_changes(self.group, result.pending_id)
        return list(self.touched)

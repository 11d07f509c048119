"""Detection of upstream holder changes and their blast radius (pure functions)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from chainrisk.analysis.chains import party_depths
from chainrisk.analysis.holder_changes import blast_radius, detect_lease_changes, detect_registry_change
from chainrisk.analysis.model import Hop
from chainrisk.ingest.events import Delegation, HolderTransfer, LeaseHop, Party, Provenance, Registration

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2025, 6, 1, tzinfo=timezone.utc)


def prov(when: datetime, source: str = "test") -> Provenance:
    return Provenance(source=source, reference="mem", line=1, observed_at=when, ingested_at=when)


def hop(block: str, p: str, pr: str, r: str, rr: str, start: date = date(2024, 3, 1)) -> Hop:
    return Hop(block, p.lower(), p, pr, r.lower(), r, rr, start, date(2027, 1, 1))


CHAIN = [
    hop("10.1.2.0/24", "Holder", "holder", "Up", "upstream"),
    hop("10.1.2.0/24", "Up", "upstream", "Broker", "broker"),
    hop("10.1.2.0/24", "Broker", "broker", "Lessee A", "lessee"),
    hop("10.1.3.0/24", "Holder", "holder", "Lessee B", "lessee", start=date(2025, 9, 1)),
    hop("10.9.0.0/24", "Other", "holder", "Lessee C", "lessee"),
]


def test_transfer_is_a_change_and_hits_leases_started_before_it():
    ev = HolderTransfer(block="10.1.0.0/16", from_party=Party(name="Holder"), to_party=Party(name="New Corp"),
                        transfer_date=T1, transfer_type="RESOURCE_TRANSFER", provenance=prov(T1)).with_id()
    (change,) = detect_registry_change(ev, None)
    assert (change.kind, change.old_party.name, change.new_party.name) == ("transfer", "Holder", "New Corp")
    affected = blast_radius(change, CHAIN)
    # 10.1.3.0/24 was leased after the transfer; 10.9.0.0/24 is outside the /16
    assert [(a.block, a.lessees, a.depth) for a in affected] == [("10.1.2.0/24", ("Lessee A",), 0)]


def test_delegation_holder_id_change_and_reclaim():
    def d(status: str, holder: str | None, when: datetime) -> Delegation:
        return Delegation(block="41.74.128.0/20", registry="afrinic", status=status, holder_id=holder, provenance=prov(when)).with_id()

    (c,) = detect_registry_change(d("allocated", "F36C2BF2", T1), d("allocated", "F36B5AAD", T0))
    assert (c.kind, c.old_party.key, c.new_party.key) == ("delegation_holder", "afrinic:f36b5aad", "afrinic:f36c2bf2")
    (r,) = detect_registry_change(d("reserved", None, T1), d("allocated", "F36B5AAD", T0))
    assert (r.kind, r.new_party.key) == ("delegation_reclaimed", "afrinic:reserved")
    assert detect_registry_change(d("allocated", "F36B5AAD", T1), d("allocated", "F36B5AAD", T0)) == []
    assert detect_registry_change(d("allocated", "F36B5AAD", T1), None) == []


def test_registration_org_and_maintainer_changes():
    def reg(org: str, mnt_lower: tuple[str, ...], when: datetime) -> Registration:
        return Registration(block="191.96.0.0/16", registry="ripe", handle="191.96.0.0 - 191.96.255.255", status="ALLOCATED PA",
                            role="holder", org=Party(name=org, id=org), mnt_by=("CYBER-A-MNT",), mnt_lower=mnt_lower,
                            provenance=prov(when)).with_id()

    (c,) = detect_registry_change(reg("ORG-NEW", ("IPXO-MNT",), T1), reg("ORG-CAF4-RIPE", ("IPXO-MNT",), T0))
    assert (c.kind, c.old_party.key, c.new_party.key) == ("registration_org", "org-caf4-ripe", "org-new")
    (m,) = detect_registry_change(reg("ORG-CAF4-RIPE", ("OTHER-MNT",), T1), reg("ORG-CAF4-RIPE", ("IPXO-MNT",), T0))
    assert m.kind == "registration_control" and "IPXO-MNT" in m.old_party.name and "OTHER-MNT" in m.new_party.name
    (gone,) = detect_registry_change(reg("ORG-CAF4-RIPE", ("IPXO-MNT",), T1), reg("ORG-CAF4-RIPE", ("IPXO-MNT",), T0), op="retract")
    assert gone.kind == "registration_removed" and gone.new_party is None


def _lease(provider: str, prole: str, recipient: str, rrole: str, op: str = "assert") -> LeaseHop:
    return LeaseHop(block="10.1.2.0/24", op=op, provider=Party(name=provider), provider_role=prole, recipient=Party(name=recipient),
                    recipient_role=rrole, start_date=date(2024, 3, 1), end_date=date(2027, 1, 1), provenance=prov(T1)).with_id()


def test_lease_upstream_replaced_reports_depth_of_the_supplied_party():
    gone = _lease("Up", "upstream", "Broker", "broker", op="retract")
    new = _lease("Up2", "upstream", "Broker", "broker")
    (c,) = detect_lease_changes([gone, new])
    assert (c.kind, c.old_party.name, c.new_party.name, c.supplied_party.name) == ("lease_upstream", "Up", "Up2", "Broker")
    after = [h for h in CHAIN if h.block == "10.1.2.0/24" and h.provider != "up"] + [hop("10.1.2.0/24", "Up2", "upstream", "Broker", "broker")]
    after.append(hop("10.1.2.0/24", "Holder", "holder", "Up2", "upstream"))
    (a,) = blast_radius(c, after)
    assert (a.block, a.depth, a.lessees) == ("10.1.2.0/24", 2, ("Lessee A",))


def test_lease_supplier_dropped_without_replacement_still_reports_the_cut():
    (c,) = detect_lease_changes([_lease("Up", "upstream", "Broker", "broker", op="retract")])
    assert c.new_party is None and c.old_party.name == "Up"
    remaining = [h for h in CHAIN if h.block == "10.1.2.0/24" and h.provider != "up"]  # Broker is cut off
    (a,) = blast_radius(c, remaining)
    assert (a.depth, a.lessees) == (2, ("Lessee A",))


def test_a_new_parallel_path_is_not_a_change():
    assert detect_lease_changes([_lease("Up2", "upstream", "Broker", "broker")]) == []


def test_alert_identity_dedups_and_detects_reverts():
    a = HolderTransfer(block="10.1.0.0/16", from_party=Party(name="A"), to_party=Party(name="B"), transfer_date=T0,
                       transfer_type="RESOURCE_TRANSFER", provenance=prov(T0)).with_id()
    b = HolderTransfer(block="10.1.0.0/16", from_party=Party(name="B"), to_party=Party(name="A"), transfer_date=T1,
                       transfer_type="RESOURCE_TRANSFER", provenance=prov(T1)).with_id()
    (ca,) = detect_registry_change(a, None)
    (cb,) = detect_registry_change(b, None)
    assert ca.alert_id != cb.alert_id
    assert cb.revert_of_id == ca.alert_id


def test_party_depths_take_the_shortest_path():
    hops = CHAIN[:3] + [hop("10.1.2.0/24", "Holder", "holder", "Broker", "broker")]
    assert party_depths(hops) == {"holder": 0, "up": 1, "broker": 1, "lessee a": 2}

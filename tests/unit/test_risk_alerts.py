"""The risk-change rules and their lifecycle (analysis/risk_alerts.py), pure: rows before and
after, events, a reference date in; changes and alerts out.

SYNTHETIC DATA in 240.0.0.0/4.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

import pytest
from graph_events import lease, listing, vrp

from chainrisk.analysis.blocks import RISK_POINTS
from chainrisk.analysis.risk_alerts import (
    MAX_EVIDENCE,
    ROUTING_SIGNALS,
    RULES,
    analysis_run_event,
    apply_risk_changes,
    cause_of,
    covering_prefix,
    evidence_of,
    risk_alert_from_dict,
    risk_changes,
    risk_changes_from_dict,
)
from chainrisk.ingest.events import Provenance

AS_OF = date(2026, 3, 1)
A, B, C = "240.30.1.0/24", "240.30.2.0/24", "240.31.0.0/24"


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"analysis_basis": "contract", "lessee": "Lessee L", "rov_state": "Valid", "rov_reason": None, "bgp_seen": True,
                            "secured_until": date(2027, 12, 31), "renewal_gaps": None, "listed": False, "data_errors": None,
                            "analysed_at": "2026-03-01T00:00:00+00:00", "analysed_as_of": AS_OF, "spofs": ["holder h"]}
    return base | changes


EVENTS = [vrp("240.30.0.0/16", 64500, observed=3, op="retract")]

# rule -> (a row where the condition holds, a row where it does not, the subject)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "rov_left_valid": (row(rov_state="Invalid", rov_reason="origin AS64999 not authorised"), row(), ""),
    "new_spof": (row(spofs=["holder h", "up one"]), row(), "up one"),
    "secured_until_near": (row(secured_until=date(2026, 3, 20)), row(), ""),
    "listed": (row(listed=True), row(), ""),
    "origin_not_in_bgp": (row(bgp_seen=False), row(), ""),
    "renewal_gap": (row(renewal_gaps=["Up->L"]), row(), "Up->L"),
    "data_error": (row(data_errors=["cycle: A -> B -> A"]), row(), "cycle: A -> B -> A"),
    "routing_signal": (row(risk_flags=["roa-lapsing: every VRP making AS64500 Valid expires within 24 h"]), row(), "roa-lapsing"),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {rule.kind for rule in RULES}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_rule_is_raised_by_the_change_and_resolved_by_the_change_back(kind: str) -> None:
    holds, clear, subject = CASES[kind]
    raised = risk_changes({A: clear}, {A: holds}, EVENTS, AS_OF)
    assert [(c.kind, c.block, c.subject) for c in raised.raised] == [(kind, A, subject)] and raised.cleared == []
    change = raised.raised[0]
    assert change.lessee == "Lessee L" and change.before != change.after
    assert [e.event_id for e in change.evidence] == [EVENTS[0].event_id]
    (alert,) = apply_risk_changes(raised, [])
    assert (alert.kind, alert.status, [(x.block, x.status) for x in alert.affected]) == (kind, "open", [(A, "open")])

    back = [vrp("240.30.0.0/16", 64500, observed=4)]
    cleared = risk_changes({A: holds}, {A: clear}, back, AS_OF)
    assert [(c.kind, c.block, c.subject) for c in cleared.cleared] == [(kind, A, subject)] and cleared.raised == []
    (resolved,) = apply_risk_changes(cleared, [alert.as_dict()])
    assert resolved.alert_id == alert.alert_id
    assert (resolved.status, [(x.block, x.status) for x in resolved.affected]) == ("resolved", [(A, "cleared")])
    assert [e.event_id for e in resolved.evidence] == [EVENTS[0].event_id, back[0].event_id]
    assert resolved.resolution is not None and resolved.resolution.startswith("cleared: ")


@pytest.mark.parametrize("kind", sorted(CASES))
def test_nothing_is_raised_for_unchanged_results_or_a_first_analysis(kind: str) -> None:
    holds, _, _ = CASES[kind]
    assert risk_changes({A: holds}, {A: holds}, EVENTS, AS_OF).raised == []
    assert risk_changes({}, {A: holds}, EVENTS, AS_OF).raised == []  # no results before: no change


def test_an_open_condition_is_not_raised_twice() -> None:
    holds, clear, _ = CASES["listed"]
    changes = risk_changes({A: clear}, {A: holds}, EVENTS, AS_OF)
    (alert,) = apply_risk_changes(changes, [])
    assert apply_risk_changes(changes, [alert.as_dict()]) == []  # the same changes again
    other = risk_changes({A: clear}, {A: holds}, [listing(A, observed=9)], AS_OF)  # another cause, still open
    assert apply_risk_changes(other, [alert.as_dict()]) == []


def test_rov_and_bgp_are_raised_only_from_valid_and_seen() -> None:
    no_asn = row(rov_state=None, bgp_seen=None)
    changes = risk_changes({A: no_asn}, {A: row(rov_state="Invalid", bgp_seen=False)}, EVENTS, AS_OF)
    assert changes.raised == []  # the lessee ASN appearing is not ROV leaving Valid or an origin disappearing
    changes = risk_changes({A: row(rov_state="NotFound")}, {A: row(rov_state="Invalid")}, EVENTS, AS_OF)
    assert changes.raised == [] and changes.cleared == []


def test_every_routing_signal_is_a_risk_flag_code() -> None:
    assert set(ROUTING_SIGNALS) <= set(RISK_POINTS)


def test_a_routing_signal_is_its_flag_code_and_other_flags_are_no_routing_change() -> None:
    flagged = row(risk_flags=["blocklisted: spamhaus-drop SBL1", "as0-covered: AS0 VRP 240.30.0.0/16-24 (ripe)",
                              "roa-lapsing: every VRP making AS64500 Valid expires within 24 h"])
    changes = risk_changes({A: row(risk_flags=["blocklisted: spamhaus-drop SBL1"])}, {A: flagged}, EVENTS, AS_OF)
    assert sorted((c.kind, c.subject, c.after) for c in changes.raised) == [
        ("routing_signal", "as0-covered", "as0-covered: AS0 VRP 240.30.0.0/16-24 (ripe)"),
        ("routing_signal", "roa-lapsing", "roa-lapsing: every VRP making AS64500 Valid expires within 24 h")]
    # a flag whose evidence text changes is the same open condition
    reworded = row(risk_flags=["as0-covered: AS0 VRP 240.30.0.0/16-32 (ripe)", "roa-lapsing: every VRP making AS64500 Valid expires within 24 h"])
    assert risk_changes({A: flagged}, {A: reworded}, EVENTS, AS_OF).raised == []


def test_the_rov_figure_carries_the_reason() -> None:
    (change,) = risk_changes({A: row()}, {A: row(rov_state="Invalid", rov_reason="origin AS64999 not authorised")},
                             EVENTS, AS_OF).raised
    assert (change.before, change.after) == ("Valid", "Invalid (origin AS64999 not authorised)")


def test_the_figures_a_data_error_hides_coming_back_are_no_change() -> None:
    broken = row(data_errors=["several lessees: L, M"], spofs=[], rov_state=None, bgp_seen=None, secured_until=None)
    changes = risk_changes({A: broken}, {A: row(spofs=["holder h", "up"], renewal_gaps=["Up->L"])}, EVENTS, AS_OF)
    assert changes.raised == []
    assert "data_error" in {c.kind for c in changes.cleared}


def test_the_horizon_and_the_reference_date() -> None:
    ending = row(secured_until=date(2026, 4, 15))  # 45 days after AS_OF
    assert risk_changes({A: ending}, {A: ending}, EVENTS, AS_OF).raised == []
    assert [c.kind for c in risk_changes({A: row()}, {A: ending}, EVENTS, AS_OF, horizon_days=60).raised] == ["secured_until_near"]
    # the stored row was judged on AS_OF; judged 20 days later with the same figures, the date alone raises it
    later = date(2026, 3, 21)
    run = analysis_run_event("chainrisk analyze", "full analysis as of 2026-03-21", datetime(2026, 3, 21, tzinfo=timezone.utc), "run")
    (change,) = risk_changes({A: ending}, {A: ending}, [run], later).raised
    assert (change.before, change.after) == ("secured until 2026-04-15 (45 days left)", "secured until 2026-04-15 (25 days left)")
    assert change.causes == ("chainrisk analyze full analysis as of 2026-03-21",)
    # and renewed on a later day, the condition raised by the date alone clears
    renewed = risk_changes({A: ending}, {A: row(secured_until=date(2027, 4, 15))}, [run], later)
    assert [c.kind for c in renewed.cleared] == ["secured_until_near"] and renewed.raised == []


def test_rows_of_blocks_that_are_not_leased_are_no_leased_blocks() -> None:
    idle = {"listed": True, "analysed_at": "2026-03-01T00:00:00+00:00", "spofs": []}  # a holding's idle-space row
    assert risk_changes({A: row()}, {A: idle}, EVENTS, AS_OF).raised == []
    assert risk_changes({A: idle}, {A: row(listed=True)}, EVENTS, AS_OF).raised == []  # a first analysis as a lease


def test_a_block_no_longer_leased_clears_its_conditions() -> None:
    holds, _, _ = CASES["listed"]
    (alert,) = apply_risk_changes(risk_changes({A: row()}, {A: holds}, EVENTS, AS_OF), [])
    gone = risk_changes({A: holds}, {}, [lease(A, "Holder H", "Lessee L", 5, op="retract")], AS_OF)
    assert [(c.kind, c.subject, c.after) for c in gone.cleared] == [("new_spof", "holder h", "no longer a leased block"),
                                                                      ("listed", "", "no longer a leased block")]
    (resolved,) = apply_risk_changes(gone, [alert.as_dict()])
    assert resolved.status == "resolved"


def test_one_cause_hitting_many_blocks_is_one_alert() -> None:
    before = {A: row(), B: row(), C: row()}
    after = {p: row(rov_state="NotFound") for p in before}
    snapshot = Provenance(source="rpki-client", reference="vrps-2.json", observed_at=datetime(2026, 3, 2, tzinfo=timezone.utc),
                          ingested_at=datetime(2026, 3, 2, tzinfo=timezone.utc), snapshot="snap-2")
    withdrawn = [vrp("240.30.0.0/16", 64500, op="retract").model_copy(update={"provenance": snapshot}).with_id(),
                 vrp("240.31.0.0/16", 64500, op="retract").model_copy(update={"provenance": snapshot}).with_id()]
    changes = risk_changes(before, after, withdrawn, AS_OF)
    assert len(changes.raised) == 3 and {c.causes for c in changes.raised} == {("snapshot snap-2 of rpki-client vrps-2.json",)}
    (alert,) = apply_risk_changes(changes, [])
    assert [x.block for x in alert.affected] == [A, B, C]
    assert alert.block == "240.30.0.0/15"  # the smallest prefix covering them all
    assert sorted(e.event_id for e in alert.evidence) == sorted(e.event_id for e in withdrawn)
    assert alert.affected[0].event_ids == [withdrawn[0].event_id]  # each block names the events overlapping it

    # a later batch of the same snapshot adds its blocks to the same alert
    D = "240.32.0.0/24"
    more = [vrp("240.32.0.0/16", 64500, op="retract").model_copy(update={"provenance": snapshot}).with_id()]
    (extended,) = apply_risk_changes(risk_changes({D: row()}, {D: row(rov_state="NotFound")}, more, AS_OF), [alert.as_dict()])
    assert extended.alert_id == alert.alert_id and [x.block for x in extended.affected] == [A, B, C, D]

    # another cause is another alert; one block clearing leaves the alert open
    other = risk_changes({A: row()}, {A: row(listed=True)}, [listing(A, observed=9)], AS_OF)
    assert apply_risk_changes(other, [extended.as_dict()])[0].alert_id != alert.alert_id
    back = risk_changes({A: after[A]}, {A: row()}, [vrp("240.30.0.0/16", 64500, observed=10)], AS_OF)
    (partly,) = apply_risk_changes(back, [extended.as_dict()])
    assert partly.status == "open" and [x.status for x in partly.affected] == ["cleared", "open", "open", "open"]


def test_different_subjects_are_different_alerts() -> None:
    changes = risk_changes({A: row(), B: row()}, {A: row(spofs=["holder h", "up one"]), B: row(spofs=["holder h", "up two"])},
                           EVENTS, AS_OF, party_names={"up one": "Up One"})
    alerts = apply_risk_changes(changes, [])
    assert sorted((a.subject_name, [x.block for x in a.affected]) for a in alerts) == [("Up One", [A]), ("up two", [B])]
    assert {a.as_dict()["new_party"]["name"] for a in alerts} == {"Up One", "up two"}


def test_a_resolved_alert_raised_again_by_the_same_cause_reopens() -> None:
    holds, clear, _ = CASES["listed"]
    (alert,) = apply_risk_changes(risk_changes({A: clear}, {A: holds}, EVENTS, AS_OF), [])
    (resolved,) = apply_risk_changes(risk_changes({A: holds}, {A: clear}, EVENTS, AS_OF), [alert.as_dict()])
    (again,) = apply_risk_changes(risk_changes({A: clear}, {A: holds}, EVENTS, AS_OF), [resolved.as_dict()])
    assert (again.alert_id, again.status, again.resolution, again.affected[0].status) == (alert.alert_id, "open", None, "open")


def in_snapshot(event: Any, snapshot: str, observed: datetime | None = None) -> Any:
    """``event`` as part of the full snapshot ``snapshot`` (observed at ``observed``, else as it was)."""
    p = event.provenance
    return event.model_copy(update={"provenance": p.model_copy(update={"snapshot": snapshot, "observed_at": observed or p.observed_at})}).with_id()


def test_evidence_is_deduplicated_and_capped() -> None:
    # one snapshot whose entries carry dates of their own: one cause, whatever the dates
    many = [in_snapshot(listing(f"240.30.{n}.0/24"), "snap-1", datetime(2026, 1, 1 + n % 20, tzinfo=timezone.utc))
            for n in range(MAX_EVIDENCE + 50)]
    before = {f"240.30.{n}.0/24": row() for n in range(MAX_EVIDENCE + 50)}
    after = {p: row(listed=True) for p in before}
    (alert,) = apply_risk_changes(risk_changes(before, after, many, AS_OF), [])
    assert len(alert.evidence) == MAX_EVIDENCE and len({e.event_id for e in alert.evidence}) == MAX_EVIDENCE
    assert len(alert.affected) == MAX_EVIDENCE + 50
    assert (alert.first_seen.day, alert.last_seen.day) == (1, 20)
    assert risk_alert_from_dict(alert.as_dict()).as_dict() == alert.as_dict()


def test_a_change_keeps_its_oldest_and_newest_evidence() -> None:
    # every listing overlaps the block: its change keeps MAX_EVIDENCE of them, the newest included
    many = [in_snapshot(listing(f"240.30.0.0/{16 + n % 8}", observed=n), "snap-1") for n in range(MAX_EVIDENCE + 50)]
    (change,) = risk_changes({A: row()}, {A: row(listed=True)}, many, AS_OF).raised
    assert len(change.evidence) == MAX_EVIDENCE
    assert [e.event_id for e in change.evidence[:MAX_EVIDENCE - 1]] == [e.event_id for e in many[:MAX_EVIDENCE - 1]]
    assert change.evidence[-1].event_id == many[-1].event_id
    (alert,) = apply_risk_changes(risk_changes({A: row()}, {A: row(listed=True)}, many, AS_OF), [])
    assert (alert.first_seen, alert.last_seen) == (many[0].provenance.observed_at, many[-1].provenance.observed_at)


def test_the_changes_read_back_from_their_json_form_give_the_same_alerts() -> None:
    before = {A: row(), B: row(), C: row(spofs=["holder h", "up one"])}
    after = {A: row(rov_state="NotFound"), B: row(listed=True, rov_state="NotFound"), C: row()}
    events = [in_snapshot(vrp("240.30.0.0/16", 64500, op="retract"), "snap-2"), listing(B, observed=4), lease(C, "Up One", "L", 5)]
    changes = risk_changes(before, after, events, AS_OF, party_names={"up one": "Up One"})
    assert changes and len(changes.raised) == 3 and len(changes.cleared) == 1
    text = json.dumps(changes.as_dict())
    assert risk_changes_from_dict(json.loads(text)) == changes
    stored = apply_risk_changes(risk_changes({C: row()}, {C: before[C]}, EVENTS, AS_OF), [])
    assert [a.as_dict() for a in apply_risk_changes(risk_changes_from_dict(json.loads(text)), [s.as_dict() for s in stored])] == \
        [a.as_dict() for a in apply_risk_changes(changes, [s.as_dict() for s in stored])]
    assert not risk_changes({A: row()}, {A: row()}, EVENTS, AS_OF)  # no change: an empty (false) RiskChanges


def test_changed_results_need_evidence() -> None:
    with pytest.raises(ValueError, match="no evidence"):
        risk_changes({A: row()}, {A: row(listed=True)}, [], AS_OF)


def test_events_without_provenance_still_name_the_evidence() -> None:
    class Touch:
        type, block, op, event_id = "vrp", "240.30.0.0/16", "retract", "e-1"

    (change,) = risk_changes({A: row()}, {A: row(rov_state="NotFound")}, [Touch()], AS_OF).raised
    assert change.causes == ("vrp events",) and [e.event_id for e in change.evidence] == ["e-1"]


def test_the_cause_is_the_snapshot_else_the_file_of_its_date_else_the_run() -> None:
    withdrawn, later = vrp("240.30.0.0/16", 64500, observed=3, op="retract"), vrp("240.30.0.0/16", 64500, observed=4)
    assert cause_of(withdrawn) == "rpki-client rpki-client.txt of 2026-01-04T00:00:00Z"
    assert cause_of(later) == "rpki-client rpki-client.txt of 2026-01-05T00:00:00Z"  # the same path read on a later day
    assert cause_of(in_snapshot(withdrawn, "snap-2")) == cause_of(in_snapshot(later, "snap-2")) == "snapshot snap-2 of rpki-client rpki-client.txt"
    run = analysis_run_event("chainrisk consume", "date 2026-03-21", datetime(2026, 3, 21, 9, tzinfo=timezone.utc), "the date moved")
    assert cause_of(run) == "chainrisk consume date 2026-03-21"


def test_a_sweep_retraction_says_which_snapshot_no_longer_holds_the_fact() -> None:
    swept = in_snapshot(vrp("240.30.0.0/16", 64500, observed=3, op="retract"), "0123456789abcdef0123")
    evidence = evidence_of(swept, AS_OF)
    assert (evidence.source, evidence.reference, evidence.line, evidence.event_id) == ("rpki-client", "rpki-client.txt", 1, swept.event_id)
    assert evidence.detail == "vrp 240.30.0.0/16 retracted: no longer in the snapshot 0123456789ab of rpki-client.txt (2026-01-04T00:00:00Z)"
    assert evidence_of(EVENTS[0], AS_OF).detail == "vrp 240.30.0.0/16 retracted"


def test_covering_prefix() -> None:
    assert covering_prefix([A]) == A
    assert covering_prefix([A, B]) == "240.30.0.0/22"
    assert covering_prefix(["10.0.0.0/8", "11.0.0.0/8"]) == "10.0.0.0/7"

"""rpki-client's non-functional CAs and the ROA URIs of URI-bearing exports: what the VRP worker
reads, how a CA's snapshot per trust anchor retracts a recovered CA (an empty snapshot included),
that shuffled, batched and replayed events give one graph, and the ca-nonfunctional flag end to end
on the embedded backend. SYNTHETIC DATA in documentation prefixes (RFC 5737)."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from snapshot_files import APNIC_ROA, BLOCK, ROA, ingest, write_register

from chainrisk.cli.main import cli
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest.events import NonfunctionalCa, Vrp

FIRST, SECOND = "2025-07-20T09:31:33Z", "2025-07-20T10:01:45Z"
REPO = "rsync://rpki.example.net/repo/holder/0/"
CA = {"location": "rpki.example.net/repo/parent/holder.cer", "ta": "ripe", "caRepository": REPO,
      "rpkiManifest": REPO + "AB12.mft", "ski": "AB12"}
OTHER_CA = {"location": "rpki.example.net/repo/parent/other.cer", "ta": "ripe", "caRepository": "rsync://rpki.example.net/repo/other/0/"}


def rpki_client(path: Path, buildtime: str, roas: list[dict[str, Any]], cas: list[Any] | None) -> Path:
    document: dict[str, Any] = {"metadata": {"buildmachine": "test", "buildtime": buildtime}, "roas": roas, "bgpsec_keys": []}
    if cas is not None:
        document["nonfunc_cas"] = cas
    path.write_text(json.dumps(document, indent=1))
    return path


def jsonext(path: Path, generated: str, roas: list[tuple[str, int, int, str, str]]) -> Path:
    """A Routinator jsonext export: (prefix, maxLength, asn, tal, ROA URI) per VRP."""
    items = [{"asn": f"AS{asn}", "prefix": prefix, "maxLength": ml,
              "source": [{"type": "roa", "uri": uri, "tal": tal, "validity": {"notBefore": "2025-01-01T00:00:00Z", "notAfter": "2026-01-01T00:00:00Z"},
                          "chainValidity": {"notBefore": "2025-07-19T00:00:00Z", "notAfter": "2025-07-27T00:00:00Z"}}]}
             for prefix, ml, asn, tal, uri in roas]
    path.write_text(json.dumps({"metadata": {"generatedTime": generated}, "roas": items}, indent=1))
    return path


def test_the_worker_reads_nonfunc_cas_and_speaks_for_every_trust_anchor_it_names(tmp_path: Path) -> None:
    path = rpki_client(tmp_path / "a.json", FIRST, [ROA, APNIC_ROA], [CA, {"location": "x.cer", "ta": "ripe"}, "not a CA"])
    events, summary = ingest("vrps", [path])
    cas = [e for e in events if isinstance(e, NonfunctionalCa)]
    assert [(c.ta, c.location, c.ca_repository, c.manifest, c.ski) for c in cas] == [
        ("ripe", CA["location"], REPO, REPO + "AB12.mft", "AB12")]
    assert cas[0].block == "0.0.0.0/0" and cas[0].provenance.observed_at.isoformat() == "2025-07-20T09:31:33+00:00"
    assert summary.rejects == 2  # no caRepository; not an object
    # a rejected element leaves every snapshot of the file incomplete
    assert {r.label for r in summary.snapshots} == {"vrp ta=ripe", "vrp ta=apnic", "nonfunctional_ca ta=ripe", "nonfunctional_ca ta=apnic"}
    assert all(r.incomplete for r in summary.snapshots)

    clean = rpki_client(tmp_path / "b.json", FIRST, [ROA, APNIC_ROA], [CA])
    events, summary = ingest("vrps", [clean])
    ends = {(e.fact_type, e.scope): e.events for e in events if e.type == "snapshot_end"}
    assert ends == {("vrp", "ripe"): 1, ("vrp", "apnic"): 1, ("nonfunctional_ca", "ripe"): 1, ("nonfunctional_ca", "apnic"): 0}
    # an export without the section (Routinator, older rpki-client) says nothing about CAs
    events, _ = ingest("vrps", [rpki_client(tmp_path / "c.json", FIRST, [ROA], None)])
    assert {e.fact_type for e in events if e.type == "snapshot_end"} == {"vrp"}


def test_jsonext_and_validator_csv_give_the_roa_uri_and_rpki_client_none(tmp_path: Path) -> None:
    uri = REPO + "A1.roa"
    events, _ = ingest("vrps", [jsonext(tmp_path / "r.json", SECOND, [(BLOCK, 24, 64500, "ripe", uri)])])
    (vrp,) = [e for e in events if isinstance(e, Vrp)]
    assert (vrp.uri, vrp.ta, vrp.expires.isoformat() if vrp.expires else None) == (uri, "ripe", "2025-07-27T00:00:00+00:00")
    csv = tmp_path / "roas.csv"
    csv.write_text("URI,ASN,IP Prefix,Max Length,Not Before,Not After\n"
                   f"rsync://rpki.ripe.net/repo/x/A1.roa,AS64500,{BLOCK},24,2025-01-01 00:00:00,2026-01-01 00:00:00\n")
    events, _ = ingest("vrps", [csv])
    assert [(e.uri, e.ta) for e in events if isinstance(e, Vrp)] == [("rsync://rpki.ripe.net/repo/x/A1.roa", "ripe")]
    events, _ = ingest("vrps", [rpki_client(tmp_path / "a.json", FIRST, [ROA], [])])
    assert [e.uri for e in events if isinstance(e, Vrp)] == [None]


def cas_in(store: NxStore) -> set[str]:
    return {d["location"] for n, d in store.g.nodes(data=True) if n[0] == "NonfunctionalCa"}


def test_a_recovered_ca_is_retracted_also_by_an_empty_snapshot_and_replay_changes_nothing(tmp_path: Path) -> None:
    first, _ = ingest("vrps", [rpki_client(tmp_path / "a.json", FIRST, [ROA], [CA, OTHER_CA])])
    second, _ = ingest("vrps", [rpki_client(tmp_path / "b.json", SECOND, [ROA], [OTHER_CA])])
    third, _ = ingest("vrps", [rpki_client(tmp_path / "c.json", "2025-07-20T11:00:00Z", [ROA], [])])
    store = NxStore(tmp_path / "s", save_interval_s=3600)
    store.apply_batch(first, {}, "g")
    assert cas_in(store) == {CA["location"], OTHER_CA["location"]}
    store.apply_batch(second, {}, "g")
    assert cas_in(store) == {OTHER_CA["location"]}
    assert ("Retracted", f"nonfunctional_ca|ripe|{CA['location']}") in store.g
    store.apply_batch(third, {}, "g")  # no CA listed under ripe: an empty snapshot of it
    assert cas_in(store) == set()
    dump = store.canonical_dump()
    for seed in range(3):  # any order and batching, the snapshot ends first included
        shuffled = NxStore(tmp_path / f"shuffled{seed}", save_interval_s=3600)
        for events in (first, second, third):
            mixed = list(events)
            random.Random(seed).shuffle(mixed)
            for start in range(0, len(mixed), seed + 1):
                shuffled.apply_batch(mixed[start:start + seed + 1], {}, "g")
        assert shuffled.canonical_dump() == dump
    for group in ("g", "replay"):
        store.apply_batch(first + second + third, {}, group)
        assert store.canonical_dump() == dump


def run(state: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == 0, result.output
    return result.output


def test_ca_nonfunctional_end_to_end_and_gone_once_the_ca_recovers(tmp_path: Path) -> None:
    """rpki-client lists the holder's CA as non-functional (and so lacks its ROA); Routinator's
    jsonext of the same time still serves the ROA, from the CA's publication point."""
    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    run(state, "ingest", "vrps", str(rpki_client(tmp_path / "a.json", FIRST, [APNIC_ROA], [CA])), "-q")
    run(state, "ingest", "vrps", str(jsonext(tmp_path / "r.json", FIRST, [(BLOCK, 24, 64500, "ripe", REPO + "A1.roa")])), "-q")
    run(state, "consume", "--until-idle")
    report = json.loads(run(state, "report", "block", BLOCK, "--format", "json", "--as-of", "2025-07-20"))
    assert report["rov_state"] == "Valid" and report["nonfunctional_cas"] == [f"{CA['location']} ({REPO})"]
    assert [f for f in report["risk_flags"] if f.startswith("ca-nonfunctional:")] == [
        f"ca-nonfunctional: {CA['location']} ({REPO}) issued a VRP covering the block and is non-functional (no valid manifest or CRL)"]
    table = run(state, "report", "block", BLOCK, "--as-of", "2025-07-20")
    assert "ca-nonfunctional" in table and "nonfunctional_cas" in table
    # the next rpki-client run finds the CA working again and has its ROA
    run(state, "ingest", "vrps", str(rpki_client(tmp_path / "b.json", SECOND, [ROA, APNIC_ROA], [])), "-q")
    run(state, "consume", "--until-idle")
    report = json.loads(run(state, "report", "block", BLOCK, "--format", "json", "--as-of", "2025-07-20"))
    assert report["rov_state"] == "Valid" and report["nonfunctional_cas"] == []
    assert not [f for f in report["risk_flags"] if f.startswith("ca-nonfunctional")]


def test_the_lapse_horizon_is_configurable_and_an_as_set_route_comes_and_goes_with_its_snapshot(tmp_path: Path) -> None:
    """roa-lapsing follows CHAINRISK_ROA_LAPSE_HOURS; a pfx2as snapshot that lacks the AS_SET route
    retracts it, and re-ingesting a file changes nothing."""
    from snapshot_files import pfx2as

    state = tmp_path / "state"
    run(state, "ingest", "leases", str(write_register(tmp_path)), "-q")
    soon = {**ROA, "expires": 1753003893 + 12 * 3600}  # 12 hours after FIRST
    run(state, "ingest", "vrps", str(rpki_client(tmp_path / "a.json", FIRST, [soon], [])), "-q")
    run(state, "ingest", "pfx2as", str(pfx2as(tmp_path, "20250720", [(BLOCK, "64500,64501")])), "-q")
    run(state, "consume", "--until-idle")

    def report(env: dict[str, str] | None = None) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["report", "block", BLOCK, "--format", "json", "--as-of", "2025-07-20", "--state-dir", str(state),
                                          "--backend", "embedded"], env=env or {})
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output))

    before = report()
    codes = [f.split(":")[0] for f in before["risk_flags"]]
    assert before["roa_lapsing"] is True and "roa-lapsing" in codes
    assert before["bgp_as_sets"] == [f"{BLOCK} {{64500,64501}}"] and before["bgp_seen"] is False and "as-set-origin" in codes
    assert report({"CHAINRISK_ROA_LAPSE_HOURS": "6"})["roa_lapsing"] is False
    facts = NxStore(state).load_portfolio()
    assert facts.as_sets == {BLOCK: ("64500,64501",)} and facts.origins == {BLOCK: ()}
    run(state, "ingest", "pfx2as", str(tmp_path / "routeviews-rv2-20250720.pfx2as"), "-q")  # the same file again: duplicates
    run(state, "consume", "--until-idle")
    assert NxStore(state).load_portfolio() == facts
    run(state, "ingest", "pfx2as", str(pfx2as(tmp_path, "20250721", [(BLOCK, "64500")])), "-q")
    run(state, "consume", "--until-idle")
    after = report()
    assert after["bgp_as_sets"] == [] and after["bgp_seen"] is True and "as-set-origin" not in [f.split(":")[0] for f in after["risk_flags"]]

"""Registry dumps as full snapshots on the embedded default: an RPSL split dump (per registry and
object class) and ARIN's bulk whois retract what a newer dump of the same registry lacks, end the
holdings of what vanished, and never touch another registry's facts or plain whois replies; a
truncated dump retracts nothing; re-stating an unchanged object only moves its version.

SYNTHETIC DATA in documentation prefixes (RFC 5737)."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from snapshot_files import BLOCK as KEPT
from snapshot_files import OTHER as GONE
from snapshot_files import bulk_net, inetnum, route

from chainrisk.cli.main import cli
from chainrisk.graph.stores.nx_store import NxStore
from chainrisk.ingest import arin, rpsl

REPLY = "192.0.2.0/24"


def run(state: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == code, result.output
    return result.output


def ingest_consume(state: Path, worker: str, path: Path, observed_at: str, *extra: str, code: int = 0) -> str:
    out = run(state, "ingest", worker, str(path), "--observed-at", observed_at, *extra, code=code)
    run(state, "consume", "--until-idle")
    return out


def live(store: NxStore, label: str) -> set[tuple[str, str]]:
    return {(d["prefix"], d["registry"]) for n, d in store.g.nodes(data=True) if n[0] == label}


def snapshot(store: NxStore, reference: str, fact_type: str) -> dict[str, Any]:
    found = [d for n, d in store.g.nodes(data=True) if n[0] == "Snapshot" and d["reference"] == reference and d["fact_type"] == fact_type]
    assert len(found) == 1, found
    return found[0]


def test_dump_names_decide_what_is_a_snapshot() -> None:
    assert rpsl.is_dump(Path("ripe.db.inetnum.gz")) and rpsl.is_dump(Path("afrinic.db.gz")) and rpsl.is_dump(Path("apnic.db.route"))
    assert not rpsl.is_dump(Path("ripe_whois_191.96.0.0.txt")) and not rpsl.is_dump(Path("replies.json"))
    assert arin.is_bulk(Path("arin_db.txt")) and not arin.is_bulk(Path("arin_whois_n+104.144.194.0.txt"))


def test_a_newer_rpsl_dump_retracts_what_it_lacks_in_its_registry_only(tmp_path: Path) -> None:
    state = tmp_path / "state"
    register = tmp_path / "leases-20250101.csv"
    register.write_text("block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn\n"
                        f"{GONE},Gone Holder,holder,Lessee G,lessee,2024-01-01,2027-12-31,64510\n")
    run(state, "ingest", "leases", str(register), "-q")
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    old = tmp_path / "1" / "ripe.db.inetnum"
    old.write_text(inetnum(KEPT, "ORG-KEPT", "RIPE") + inetnum(GONE, "ORG-GONE", "RIPE"))
    out = ingest_consume(state, "rpsl", old, "2025-01-01")
    assert "snapshot registration registry=ripe of 2025-01-01T00:00Z" in out and "2 events, complete" in out
    # another registry's dump of the same class, a route dump, and a plain whois reply (not a snapshot)
    other = tmp_path / "afrinic.db.inetnum"
    other.write_text(inetnum(GONE, "ORG-AFR", "AFRINIC"))
    ingest_consume(state, "rpsl", other, "2025-01-01")
    routes = tmp_path / "ripe.db.route"
    routes.write_text(route(GONE, 64500, "RIPE"))
    ingest_consume(state, "rpsl", routes, "2025-01-01")
    reply = tmp_path / "whois-reply.txt"
    reply.write_text("% This is the RIPE Database query service.\n\n" + inetnum(REPLY, "ORG-REPLY", "RIPE"))
    assert "snapshot" not in ingest_consume(state, "rpsl", reply, "2025-01-01")

    new = tmp_path / "2" / "ripe.db.inetnum"
    new.write_text(inetnum(KEPT, "ORG-KEPT", "RIPE"))
    ingest_consume(state, "rpsl", new, "2025-02-01")
    store = NxStore(state)
    assert live(store, "Registration") == {(KEPT, "ripe"), (GONE, "afrinic"), (REPLY, "ripe")}
    assert live(store, "RouteObject") == {(GONE, "ripe")}  # the inetnum dump speaks for inetnums only
    second = snapshot(store, str(new), "registration")
    assert (second["added"], second["changed"], second["unchanged"], second["retracted"]) == (0, 0, 1, 1)
    assert second["supersedes"] == snapshot(store, str(old), "registration")["snapshot_id"]
    # the vanished registration ends its holding at the newer dump's date; the kept one holds on
    ended = [h for h in store.holder_history(GONE) if h.party_key == "org-gone"]
    assert [h.valid_to.isoformat() if h.valid_to else None for h in ended] == ["2025-02-01T00:00:00+00:00"]
    assert [h.party_key for h in store.holders_of(KEPT)] == ["org-kept"]
    # the unchanged object's version moved to the newer dump (a replay of the older one is stale)
    kept = next(d for n, d in store.g.nodes(data=True) if n[0] == "Registration" and d["prefix"] == KEPT)
    assert kept["observed_at"].isoformat() == "2025-02-01T00:00:00+00:00" and kept["snapshot"] == second["snapshot_id"]
    assert kept["last_modified"].isoformat() == "2020-01-01"
    # the deletion is a holder change the alerts name, with the lease it cuts into
    removed = [a for a in store.load_alerts(None) if a["type"] == "registration_removed"]
    assert [(a["block"], [x["lessees"] for x in a["affected"]]) for a in removed] == [(GONE, [["Lessee G"]])]
    store.close()


def test_a_truncated_rpsl_dump_retracts_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    filler = "".join(f"inetnum: 10.{i >> 8}.{i & 255}.0 - 10.{i >> 8}.{i & 255}.255\nnetname: F{i}\nstatus: ASSIGNED PA\n"
                     f"last-modified: 2020-01-01T00:00:00Z\nsource: RIPE\n\n" for i in range(3000))
    (tmp_path / "1").mkdir()
    old = tmp_path / "1" / "ripe.db.inetnum.gz"
    old.write_bytes(gzip.compress((inetnum(GONE, "ORG-GONE", "RIPE") + filler).encode()))
    ingest_consume(state, "rpsl", old, "2025-01-01")
    whole = gzip.compress(filler.encode())
    cut = tmp_path / "ripe.db.inetnum.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    out = ingest_consume(state, "rpsl", cut, "2025-02-01", code=1)
    assert "snapshot incomplete (the file could not be read to its end): nothing retracted" in out
    store = NxStore(state)
    assert (GONE, "ripe") in live(store, "Registration") and not [n for n in store.g if n[0] == "Retracted"]
    store.close()


PORT43 = """NetRange:       192.0.2.0 - 192.0.2.255
NetName:        LESSEE-NET
NetHandle:      NET-192-0-2-0-1
NetType:        Direct Allocation
Organization:   Lessee Ltd (LESS)
RegDate:        2019-05-06
Updated:        2019-05-06
"""


def test_a_newer_arin_bulk_file_retracts_the_nets_it_lacks_not_whois_replies(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    old = tmp_path / "1" / "arin_db.txt"
    old.write_text(bulk_net("NET-KEPT", "KEPT", KEPT) + bulk_net("NET-GONE", "GONE", GONE))
    assert "snapshot registration registry=arin" in ingest_consume(state, "arin", old, "2025-01-01")
    reply = tmp_path / "arin_whois_reply.txt"
    reply.write_text(PORT43)
    assert "snapshot" not in ingest_consume(state, "arin", reply, "2025-01-01")
    new = tmp_path / "2" / "arin_db.txt"
    new.write_text(bulk_net("NET-KEPT", "KEPT", KEPT))
    ingest_consume(state, "arin", new, "2025-02-01")
    store = NxStore(state)
    assert live(store, "Registration") == {(KEPT, "arin"), (REPLY, "arin")}
    assert [h.party_key for h in store.holders_of(GONE)] == []
    assert snapshot(store, str(new), "registration")["retracted"] == 1
    store.close()
    # --snapshot reads a file with any name as a dump; --no-snapshot reads a dump as plain assertions
    forced = tmp_path / "networks.txt"
    forced.write_text(bulk_net("NET-KEPT", "KEPT", KEPT))
    assert "snapshot registration registry=arin" in run(state, "ingest", "arin", str(forced), "--snapshot", "--dry-run")
    assert "snapshot" not in run(state, "ingest", "arin", str(new), "--no-snapshot", "-q")
    assert "exclude each other" in run(state, "ingest", "arin", str(new), "--snapshot", "--no-snapshot", code=2)


def test_an_unchanged_registration_moves_only_its_version_and_changes_nothing_downstream(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from snapshot_files import ingest

    folder = tmp_path / "d"
    folder.mkdir()
    dump = folder / "ripe.db.inetnum"
    dump.write_text(inetnum(KEPT, "ORG-KEPT", "RIPE"))
    store = NxStore(tmp_path / "s", save_interval_s=3600)
    days = [datetime(2025, 1, day, tzinfo=timezone.utc) for day in (1, 2, 3)]
    first = store.apply_batch(ingest("rpsl", [dump], observed_at=days[0])[0], {}, "g", keep_changes=True)
    assert len(first.changes) == 1 and first.unchanged == 0
    again = store.apply_batch(ingest("rpsl", [dump], observed_at=days[1])[0], {}, "g", keep_changes=True)
    assert (again.applied, again.unchanged, again.changes) == (1, 1, [])
    node = next(d for n, d in store.g.nodes(data=True) if n[0] == "Registration")
    assert node["observed_at"] == days[1] and node["netname"] == "NET"
    dump.write_text(inetnum(KEPT, "ORG-NEW", "RIPE"))  # a new holder: a real change
    moved = store.apply_batch(ingest("rpsl", [dump], observed_at=days[2])[0], {}, "g", keep_changes=True)
    assert (moved.applied, moved.unchanged, len(moved.changes)) == (1, 0, 1)
    assert [h.party_key for h in store.holders_of(KEPT)] == ["org-new"]

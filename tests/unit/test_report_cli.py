"""`chainrisk analyze / report / whatif / generate` end to end on the embedded backend: a small
synthetic portfolio goes through the real pipeline (`chainrisk demo`: generate -> ingest -> consume ->
analyse) into a temporary state folder, then each report command reads it back."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainrisk.analysis.blocks import BLOCK_FIELDS
from chainrisk.cli.main import cli

AS_OF = ["--as-of", "2026-11-01"]


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("state")
    result = CliRunner().invoke(cli, ["demo", "--blocks", "120", "--seed", "3", "--state-dir", str(state_dir)])
    assert result.exit_code == 0, result.output
    return state_dir


def run(state: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--backend", "embedded"])
    assert result.exit_code == 0, result.output
    return result.output


def test_analyze_prints_a_summary(state):
    out = run(state, "analyze", *AS_OF)
    assert "analysed 120 leased blocks" in out
    assert "ROV of the lessee's origin: Valid" in out and "largest single points of failure" in out


def test_report_blocks_json_has_the_fixed_fields(state):
    blocks = json.loads(run(state, "report", "blocks", "--format", "json", *AS_OF))
    assert len(blocks) == 120
    assert list(blocks[0])[:8] == ["block", "lessee", "holders", "depth_min", "depth_max", "spofs", "secured_until", "renewal_gaps"]
    assert list(blocks[0]) == [*BLOCK_FIELDS, "chains"]
    good = [b for b in blocks if not b["data_errors"]]
    assert len(good) > 100
    assert all(b["spofs"][0] == b["holders"][0] and b["depth_min"] >= 1 for b in good)  # one holder per synthetic block


def test_report_exposure_csv_and_json_agree(state):
    rows = json.loads(run(state, "report", "exposure", "--format", "json", *AS_OF))
    assert list(rows[0])[:3] == ["party", "spof_blocks", "spof_addresses"]
    assert [r["spof_addresses"] for r in rows] == sorted((r["spof_addresses"] for r in rows), reverse=True)
    table = list(csv.DictReader(io.StringIO(run(state, "report", "exposure", "--format", "csv", *AS_OF))))
    assert [(r["party"], int(r["spof_addresses"])) for r in table] == [(r["party"], r["spof_addresses"]) for r in rows]


def test_report_block_and_lessee(state):
    blocks = json.loads(run(state, "report", "blocks", "--format", "json", *AS_OF))
    some = next(b for b in blocks if not b["data_errors"] and b["path_count"] > 1)
    detail = json.loads(run(state, "report", "block", some["block"], "--format", "json", *AS_OF))
    assert detail["block"] == some["block"] and len(detail["chains"]) == some["path_count"]
    assert all(chain[0] in some["holders"] and chain[-1] == some["lessee"] for chain in detail["chains"])
    leased = json.loads(run(state, "report", "lessee", some["lessee"].upper(), "--format", "json", *AS_OF))
    assert some["block"] in [b["block"] for b in leased] and {b["lessee"] for b in leased} == {some["lessee"]}
    assert "Block " + some["block"] in run(state, "report", "block", some["block"], *AS_OF)


def test_report_errors_are_messages_not_tracebacks(state):
    result = CliRunner().invoke(cli, ["report", "block", "10.1.2.3/24", "--state-dir", str(state)])
    assert result.exit_code == 2 and "host bits set" in result.output
    result = CliRunner().invoke(cli, ["report", "block", "192.0.2.0/24", "--state-dir", str(state)])
    assert result.exit_code == 1 and "is not a leased block" in result.output
    result = CliRunner().invoke(cli, ["report", "lessee", "Nobody At All", "--state-dir", str(state)])
    assert result.exit_code == 1 and "no party named 'Nobody At All'" in result.output
    result = CliRunner().invoke(cli, ["whatif", "--state-dir", str(state)])
    assert result.exit_code == 2 and "give either --remove PARTY or --transfer BLOCK --to PARTY" in result.output


def test_whatif_remove_and_transfer(state):
    exposure = json.loads(run(state, "report", "exposure", "--format", "json", *AS_OF))
    top = exposure[0]
    impact = json.loads(run(state, "whatif", "--remove", top["party"], "--format", "json", *AS_OF))
    assert impact["addresses_cut_off"] == top["spof_addresses"]
    assert impact["blocks_cut_off"] == top["spof_blocks"]
    assert {x["lessee"] for x in impact["lost"]} == set(top["lessees"])
    blocks = json.loads(run(state, "report", "blocks", "--format", "json", *AS_OF))
    block = next(b for b in blocks if not b["data_errors"])
    moved = json.loads(run(state, "whatif", "--transfer", block["block"], "--to", "Newco Holdings 9", "--format", "json", *AS_OF))
    assert moved["blocks"][0]["holders_after"] == ["Newco Holdings 9"]
    assert "What if" in run(state, "whatif", "--remove", top["party"], *AS_OF)


def test_html_report_is_self_contained(state, tmp_path):
    out = tmp_path / "report.html"
    run(state, "report", "exposure", "--format", "html", "--output", str(out), *AS_OF)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "single point of failure" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html and "<script" not in html
    assert html.count("class='block'") == 12


def test_generate_writes_a_seeded_dataset(tmp_path):
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(cli, ["generate", "--blocks", "50", "--seed", "5", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    for file in ("leases.csv", "vrps.json", "routeviews-rv2-20261101-0000.pfx2as", "drop.txt", "asndrop.json", "rib.20261101.0000.txt",
                 "registry.db", "transfers.json", "MANIFEST.json"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file
    manifest = json.loads((tmp_path / "a" / "MANIFEST.json").read_text())
    assert manifest["synthetic"] is True and manifest["blocks"] == 50
    header = (tmp_path / "a" / "leases.csv").read_text().splitlines()[0]
    assert header == ("block,provider,provider_role,recipient,recipient_role,start_date,end_date,lessee_asn,renewal_owner,document_ref,"
                      "provider_id,recipient_id,transit_asns")

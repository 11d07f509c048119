"""The demo portfolio (`chainrisk demo`, its default size and seed) exercises every risk flag, and
`report block` shows each routing-proof and routing-path flag with the evidence its definition
names (docs/analysis.md, Routing proof and Routing paths)."""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner

from chainrisk.analysis.blocks import RISK_POINTS
from chainrisk.cli.main import cli

AS_OF = "2026-11-01"
IDLE_ONLY = {"idle-space-announced"}  # a flag of idle ranges (`report idle`), never of a leased block

# flag code -> what its block's `report block` JSON must show (the fields of its definition)
EVIDENCE = {
    "as-set-origin": lambda b: bool(b["bgp_as_sets"]),
    "roa-lapsing": lambda b: b["roa_lapsing"] is True and bool(b["valid_vrps"]) and b["roa_expires"] is not None,
    "ca-nonfunctional": lambda b: bool(b["nonfunctional_cas"]),
    "roa-loose-maxlength": lambda b: bool(b["loose_maxlength_vrps"]) and b["rov_state"] == "Valid",
    "as0-covered": lambda b: any(" AS0 " in v for v in b["as0_vrps"]),
    "irr-nonauthoritative": lambda b: b["irr_nonauthoritative"] is True and bool(b["irr_registries"]) and b["space_rir"] is not None,
    "announced-after-lease-end": lambda b: (b["announced_after_lease_end"] is True and b["lease_end"] is not None
                                            and b["bgp_observed_at"] is not None and b["lease_end"] < b["bgp_observed_at"][:10]),
    "asn-blocklisted": lambda b: bool(b["asn_listings"]),
    "aspa-unauthorised-upstream": lambda b: (bool(b["aspa_invalid_hops"]) and bool(b["aspa_unauthorised"])
                                             and any(p.endswith("(Invalid)") for p in b["as_paths"])),
}


def run(*args: str) -> str:
    outcome = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    state = str(tmp_path_factory.mktemp("demo-flags") / "state")
    run("demo", "--state-dir", state)
    blocks = json.loads(run("report", "blocks", "--format", "json", "--state-dir", state, "--as-of", AS_OF))
    idle = json.loads(run("report", "idle", "--format", "json", "--state-dir", state, "--as-of", AS_OF))
    return state, blocks, idle


def code(flag: str) -> str:
    return flag.split(":", 1)[0]


def test_every_flag_code_occurs(demo: tuple[str, list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    _, blocks, idle = demo
    counts = Counter(code(f) for b in blocks for f in b["risk_flags"])
    counts.update(code(f) for r in idle for f in r["risk_flags"])
    missing = sorted(c for c in RISK_POINTS if counts[c] == 0)
    assert not missing, f"flags the demo never raises: {missing}; counts {dict(counts)}"
    assert not IDLE_ONLY & {code(f) for b in blocks for f in b["risk_flags"]}


@pytest.mark.parametrize("flag", sorted(EVIDENCE))
def test_report_block_shows_the_flag_with_its_evidence(demo: tuple[str, list[dict[str, Any]], list[dict[str, Any]]], flag: str) -> None:
    state, blocks, _ = demo
    block = next(b["block"] for b in blocks if flag in {code(f) for f in b["risk_flags"]})
    detail = json.loads(run("report", "block", block, "--format", "json", "--state-dir", state, "--as-of", AS_OF))
    assert flag in {code(f) for f in detail["risk_flags"]}
    assert EVIDENCE[flag](detail), (flag, detail)
    # and a block without the flag does not show its evidence: the fields are not always filled
    clean = next(b for b in blocks if flag not in {code(f) for f in b["risk_flags"]} and b["lessee_asn"] is not None)
    assert not EVIDENCE[flag](clean), (flag, clean)
    table = run("report", "block", block, "--state-dir", state, "--as-of", AS_OF)
    assert f"{flag}:" in table

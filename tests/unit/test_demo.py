"""`chainrisk demo` on the embedded default: the README's first command."""
from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from chainrisk.cli.main import cli


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_runs_the_whole_pipeline_and_is_repeatable(tmp_path: Path):
    state = str(tmp_path / "state")
    first = _run("demo", "--blocks", "120", "--state-dir", state)
    assert "Exposure: single points of failure" in first
    assert re.search(r"ALERT \w{8}: transfer of 240\.\d+\.\d+\.\d+/\d+: .+ -> .+ on 2026-", first)
    # the same seed again: the same events (same ids), so nothing changes
    second = _run("demo", "--blocks", "120", "--state-dir", state)
    table = lambda out: out[out.index("Exposure"):]  # noqa: E731 - the stderr progress lines carry timings
    assert table(first) == table(second)
    blocks = json.loads(_run("report", "blocks", "--format", "json", "--state-dir", state, "--as-of", "2026-11-01"))
    assert len(blocks) >= 115 and all({"block", "lessee", "holders", "depth_min", "depth_max", "spofs", "secured_until",
                                       "renewal_gaps"} <= set(b) for b in blocks)
    # the routing-path signals, from the demo's pfx2as, ASN-DROP, ASPA and bgpdump files
    flagged = {f.split(":")[0] for b in blocks for f in b["risk_flags"]}
    assert {"announced-after-lease-end", "asn-blocklisted", "aspa-unauthorised-upstream"} <= flagged
    assert any(b["as_paths"] for b in blocks) and all(b["bgp_observed_at"] in (None, "2026-11-01T00:00:00+00:00") for b in blocks)
    exposure = json.loads(_run("report", "exposure", "--format", "json", "--state-dir", state, "--as-of", "2026-11-01"))
    top = exposure[0]
    assert top["party"] in first and f"{top['spof_addresses']:,}" in first
    alerts = json.loads(_run("alerts", "--format", "json", "--state-dir", state))
    assert [a["type"] for a in alerts] == ["transfer"] and alerts[0]["affected"]

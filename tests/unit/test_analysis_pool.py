"""The full analysis spread over processes (graph/analysis_pool.py) gives exactly the results of one
process: on a generated portfolio and on the demo, with several children sending several chunks."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainrisk import synthetic
from chainrisk.analysis.blocks import (
    PortfolioAnalysis,
    analyse_portfolio,
    analyse_share,
    partition,
    prepare_portfolio,
    share_results,
    share_values,
)
from chainrisk.analysis.exposure import exposure
from chainrisk.analysis.model import Hop, Portfolio
from chainrisk.graph import analysis_pool
from chainrisk.graph.analysis_pool import AnalysisWorkerError, analyse_portfolio_parallel, processes_for
from chainrisk.graph.config import Settings, machine_cpus

AS_OF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def generated() -> Portfolio:
    portfolio = synthetic.generate(3_000, 20261127, broken_rate=0.01)
    return synthetic.to_portfolio(portfolio, synthetic.plan_signals(portfolio, 20261127))


@pytest.fixture
def small_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shares and chunks small enough that a test portfolio takes several of each."""
    monkeypatch.setattr(analysis_pool, "MIN_SHARE_BLOCKS", 100)
    monkeypatch.setattr(analysis_pool, "CHUNK_BLOCKS", 250)


def assert_same(one: PortfolioAnalysis, spread: PortfolioAnalysis) -> None:
    assert len(spread.blocks) == len(one.blocks)
    for a, b in zip(one.blocks, spread.blocks):
        assert a == b, a.block
        assert a.risk_flags == b.risk_flags
    assert spread.basis == one.basis
    assert spread.hops_by_block == one.hops_by_block
    assert [r.as_dict() for r in exposure(spread)] == [r.as_dict() for r in exposure(one)]


@pytest.mark.usefixtures("small_shares")
@pytest.mark.parametrize("processes", [2, 3])
def test_generated_portfolio_same_results_as_one_process(generated: Portfolio, processes: int) -> None:
    one = analyse_portfolio(generated, AS_OF)
    assert sum(1 for r in one.blocks if r.data_errors) > 0  # broken chains travel too
    assert any(r.secured_until for r in one.blocks) and any(r.lease_end for r in one.blocks)
    assert_same(one, analyse_portfolio_parallel(generated, AS_OF, processes=processes))


@pytest.mark.usefixtures("small_shares")
def test_demo_same_results_as_one_process(tmp_path: Path) -> None:
    from chainrisk.cli.main import cli
    from chainrisk.cli.report_cmd import load_portfolio

    state = tmp_path / "state"
    outcome = CliRunner().invoke(cli, ["demo", "--state-dir", str(state)], catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    portfolio = load_portfolio("embedded", state)
    one = analyse_portfolio(portfolio, AS_OF)
    workers = processes_for(len(one.blocks), 3)
    assert workers == 3, len(one.blocks)
    assert_same(one, analyse_portfolio_parallel(portfolio, AS_OF, processes=workers))


def nested_portfolio() -> Portfolio:
    """A leased /15 whose lessee sub-leases each of its 512 /24s, one of them sub-leased again: with
    small shares the covering lease is in this process's share and its sub-leases in the children's."""
    def hop(block: str, provider: str, prole: str, recipient: str, rrole: str, end: date) -> Hop:
        return Hop(block, provider.casefold(), provider, prole, recipient.casefold(), recipient, rrole, date(2024, 1, 1), end,
                   64500 if rrole == "lessee" else None, None, "LOA")

    hops = [hop("198.18.0.0/15", "Holder H", "holder", "Upstream U", "upstream", date(2028, 1, 1)),
            hop("198.18.0.0/15", "Upstream U", "upstream", "Lessee C", "lessee", date(2027, 1, 1))]
    for n in range(512):
        block = f"198.{18 + n // 256}.{n % 256}.0/24"
        hops.append(hop(block, "Lessee C", "upstream", f"Lessee {n}", "lessee", date(2026, 1 + n % 12, 1)))
    hops.append(hop("198.19.255.128/25", "Lessee 511", "upstream", "Lessee Z", "lessee", date(2027, 6, 1)))
    return Portfolio(hops=hops)


@pytest.mark.usefixtures("small_shares")
def test_nested_leases_across_shares_same_results_as_one_process() -> None:
    portfolio = nested_portfolio()
    one = analyse_portfolio(portfolio, AS_OF)
    assert sum(1 for r in one.blocks if r.sublease_of) == 513
    assert one.blocks[0].leased_addresses == 0 and one.total_addresses == 2 ** 17
    assert_same(one, analyse_portfolio_parallel(portfolio, AS_OF, processes=3))


def test_share_values_round_trip(generated: Portfolio) -> None:
    prepared = prepare_portfolio(generated, AS_OF)
    share = analyse_share(prepared, 700, 1_900)
    back = share_results(prepared, 700, share_values(share))
    assert back == share
    dates = {id(r.secured_until) for r in back if r.secured_until}
    assert len(dates) == len({r.secured_until for r in back if r.secured_until})  # each date held once


def test_partition_covers_every_block_in_order() -> None:
    assert partition(10, [1.0]) == [(0, 10)]
    assert partition(10, [1.0, 1.0, 1.0]) == [(0, 3), (3, 7), (7, 10)]
    assert partition(1_000, [0.85, 1.0]) == [(0, 459), (459, 1_000)]
    assert partition(1, [1.0, 1.0]) == [(0, 1)]  # an empty share is left out
    assert partition(0, [1.0, 1.0]) == []
    with pytest.raises(ValueError, match="positive"):
        partition(10, [1.0, 0.0])


def test_small_portfolios_stay_in_one_process(generated: Portfolio, monkeypatch: pytest.MonkeyPatch) -> None:
    assert processes_for(49_999, 2) == 1
    assert processes_for(50_000, 2) == 2
    assert processes_for(1_000_000, 2) == 2
    assert processes_for(1_000_000, 1) == 1
    assert processes_for(0, 4) == 1

    def no_fork(*_: object) -> None:
        raise AssertionError("a child was started for a small portfolio")

    monkeypatch.setattr(analysis_pool._Child, "__init__", no_fork)
    assert analyse_portfolio_parallel(generated, AS_OF, processes=2).blocks == analyse_portfolio(generated, AS_OF).blocks
    assert analyse_portfolio_parallel(Portfolio(), AS_OF, processes=2).blocks == []


@pytest.mark.usefixtures("small_shares")
def test_a_failing_child_is_reported_with_its_traceback(generated: Portfolio, monkeypatch: pytest.MonkeyPatch) -> None:
    real = analysis_pool.analyse_share

    def failing(prepared: object, start: int, stop: int) -> object:
        if start >= 1_500:
            raise RuntimeError(f"cannot analyse block {start}")
        return real(prepared, start, stop)  # type: ignore[arg-type]

    monkeypatch.setattr(analysis_pool, "analyse_share", failing)
    with pytest.raises(AnalysisWorkerError, match=r"(?s)failed in process \d+.*cannot analyse block"):
        analyse_portfolio_parallel(generated, AS_OF, processes=2)


def test_process_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAINRISK_ANALYSIS_PROCESSES", raising=False)
    assert Settings().analysis_processes == machine_cpus() >= 1
    monkeypatch.setenv("CHAINRISK_ANALYSIS_PROCESSES", "1")
    assert Settings().analysis_processes == 1

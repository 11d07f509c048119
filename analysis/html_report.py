"""The risk report as one self-contained HTML file (inline CSS and SVG, no scripts, no external
assets) that a risk team can mail around: headline figures, a concentration chart (share of leased
addresses per single point of failure), the riskiest blocks, and for each of them a diagram of its
chain laid out by depth with single points of failure highlighted.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from chainrisk.analysis.blocks import BlockResult, PortfolioAnalysis, rov_counts
from chainrisk.analysis.chains import HOLDER, LESSEE
from chainrisk.analysis.exposure import ExposureRow
from chainrisk.analysis.model import Hop
from chainrisk.common.formats import cell_text, path_text

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 215, 46, 76, 22, 16
CHART_ROWS = 15
CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2933;margin:24px auto;max-width:1240px;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d9e2ec;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 4px}.muted{color:#627d98}.figs{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.fig{border:1px solid #d9e2ec;border-radius:6px;padding:8px 14px;min-width:120px}.fig b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{background:#f0f4f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.score{font-weight:700;color:#ab091e}.flags{margin:0;padding-left:18px}.flags li{margin:0}
.block{border:1px solid #d9e2ec;border-radius:8px;padding:8px 14px;margin:14px 0;page-break-inside:avoid}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:4px}
svg text{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
"""
COLOURS = {"spof": "#e12d39", "spof_fill": "#ffe3e3", "node": "#486581", "node_fill": "#f0f4f8", "lessee": "#2f8132",
           "lessee_fill": "#e3f9e5", "bar": "#e12d39", "edge": "#829ab1", "gap": "#de911d"}


def render_html(analysis: PortfolioAnalysis, exposure_rows: Sequence[ExposureRow], *, top: int = 12,
                generated_at: datetime | None = None, title: str = "chainrisk: leased IPv4 provider-chain risk") -> str:
    """The whole report as an HTML document (a string)."""
    riskiest = riskiest_blocks(analysis.blocks, top)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<div class='muted'>Analysis as of {analysis.as_of.isoformat()}"
        + (f" &middot; generated {escape(generated_at.strftime('%Y-%m-%d %H:%M UTC'))}" if generated_at else "") + "</div>",
        _headline(analysis, exposure_rows),
        "<h2>Concentration: who the portfolio depends on</h2>",
        "<p class='muted'>Share of all leased addresses for which each party is a single point of failure "
        "(it lies on every contract path from a holder to the lessee).</p>",
        concentration_svg(exposure_rows[:CHART_ROWS]),
        _exposure_table(exposure_rows[:CHART_ROWS]),
        f"<h2>The {len(riskiest)} riskiest blocks</h2>",
        _risk_table(riskiest),
        "<h2>Chains of the riskiest blocks</h2>",
        "<div class='legend'>"
        f"<span><i class='sw' style='background:{COLOURS['spof_fill']};border:2px solid {COLOURS['spof']}'></i>single point of failure</span>"
        f"<span><i class='sw' style='background:{COLOURS['lessee_fill']};border:2px solid {COLOURS['lessee']}'></i>lessee</span>"
        f"<span><i class='sw' style='background:{COLOURS['node_fill']};border:2px solid {COLOURS['node']}'></i>other party</span>"
        f"<span style='color:{COLOURS['gap']}'>- - - renewal gap (contract outlives its supply)</span></div>",
    ]
    for result in riskiest:
        parts.append(_block_section(result, analysis.hops_by_block.get(result.block, [])))
    parts.append("<p class='muted'>Produced by chainrisk. Self-contained: no scripts, no external resources.</p></body></html>")
    return "\n".join(parts)


def riskiest_blocks(blocks: Sequence[BlockResult], top: int) -> list[BlockResult]:
    """The ``top`` blocks by risk score, then by addresses (larger first), then by prefix."""
    return sorted(blocks, key=lambda b: (-b.risk_score, -b.addresses, b.block))[:top]


def _headline(analysis: PortfolioAnalysis, exposure_rows: Sequence[ExposureRow]) -> str:
    blocks = analysis.blocks
    rov = rov_counts(blocks)
    errors = sum(1 for b in blocks if b.data_errors)
    listed = sum(1 for b in blocks if b.listings)
    top = exposure_rows[0] if exposure_rows else None
    figs = [
        ("leased blocks", f"{len(blocks):,}"),
        ("leased addresses", f"{analysis.total_addresses:,}"),
        ("ROV valid / invalid / not found", f"{rov['Valid']:,} / {rov['Invalid']:,} / {rov['NotFound']:,}"),
        ("blocklisted", f"{listed:,}"),
        ("data errors", f"{errors:,}"),
        ("largest SPOF", f"{escape(top.party)} ({top.share:.1%})" if top else "none"),
    ]
    return "<div class='figs'>" + "".join(f"<div class='fig'><b>{v}</b>{escape(k)}</div>" for k, v in figs) + "</div>"


def concentration_svg(rows: Sequence[ExposureRow]) -> str:
    """A horizontal bar chart of ``share`` per party (one bar per row, scaled to the largest)."""
    if not rows:
        return "<p>No party is a single point of failure for any block.</p>"
    label_w, bar_w, row_h = 330, 620, 24
    height = row_h * len(rows) + 30
    peak = max(r.share for r in rows) or 1.0
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 90}' height='{height}' role='img' "
           f"aria-label='share of leased addresses per single point of failure'>"]
    for i, r in enumerate(rows):
        y = 10 + i * row_h
        w = max(1.0, bar_w * r.share / peak)
        out.append(f"<text x='{label_w - 8}' y='{y + 15}' text-anchor='end' font-size='12'>{escape(_clip(r.party, 48))}</text>")
        out.append(f"<rect x='{label_w}' y='{y + 3}' width='{w:.1f}' height='{row_h - 8}' rx='3' fill='{COLOURS['bar']}' opacity='0.85'>"
                   f"<title>{escape(r.party)}: {r.spof_addresses:,} addresses, {r.spof_blocks:,} blocks</title></rect>")
        out.append(f"<text x='{label_w + w + 6:.1f}' y='{y + 15}' font-size='12'>{r.share:.1%}</text>")
    out.append(f"<line x1='{label_w}' y1='6' x2='{label_w}' y2='{height - 14}' stroke='#9fb3c8'/></svg>")
    return "".join(out)


def _exposure_table(rows: Sequence[ExposureRow]) -> str:
    body = "".join(
        f"<tr><td>{escape(r.party)}</td><td class='n'>{r.spof_blocks:,}</td><td class='n'>{r.spof_addresses:,}</td>"
        f"<td class='n'>{r.spof_lessees:,}</td><td class='n'>{r.share:.2%}</td></tr>"
        for r in rows
    )
    return ("<table><tr><th>party</th><th>SPOF blocks</th><th>SPOF addresses</th><th>lessees</th><th>share</th></tr>"
            f"{body}</table>")


def _risk_table(rows: Sequence[BlockResult]) -> str:
    body = "".join(
        f"<tr><td><a href='#b-{_anchor(r.block)}'>{escape(r.block)}</a></td><td>{escape(r.lessee or '-')}</td>"
        f"<td class='n score'>{r.risk_score}</td><td>{_flag_list(r.risk_flags)}</td></tr>"
        for r in rows
    )
    return f"<table><tr><th>block</th><th>lessee</th><th>score</th><th>why</th></tr>{body}</table>"


def _flag_list(flags: Sequence[str]) -> str:
    return "<ul class='flags'>" + "".join(f"<li>{escape(f)}</li>" for f in flags) + "</ul>"


def _anchor(block: str) -> str:
    return block.replace(".", "-").replace("/", "_")


def _block_section(result: BlockResult, hops: Sequence[Hop]) -> str:
    facts = [
        ("lessee", f"{result.lessee or '-'}" + (f" (AS{result.lessee_asn})" if result.lessee_asn is not None else "")),
        ("depth", "-" if result.depth_min is None else f"{result.depth_min}" + (f"-{result.depth_max}" if result.depth_max != result.depth_min else "")),
        ("single points of failure", cell_text(result.spofs) or "-"),
        ("secured until", result.secured_until.isoformat() if result.secured_until else "-"),
        ("ROV", f"{result.rov_state or 'no ASN'}" + (f" ({result.rov_reason})" if result.rov_reason else "")),
    ]
    if result.registry_chain:
        facts.append(("registry chain", path_text(result.registry_chain)))
    if result.sublease_of:
        facts.append(("sub-lease of", result.sublease_of))
    if result.leased_addresses != result.addresses:
        facts.append(("addresses leased on from here", f"{result.addresses - result.leased_addresses:,} (sub-leased inside this block)"))
    rows = "".join(f"<tr><th style='width:210px'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    return (f"<div class='block' id='b-{_anchor(result.block)}'><h3>{escape(result.block)} "
            f"<span class='muted'>&middot; {result.addresses:,} addresses &middot; risk {result.risk_score} "
            f"&middot; basis {escape(result.basis)}</span></h3>"
            f"{chain_svg(hops, set(result.spof_keys), result.renewal_gaps)}<table>{rows}</table>{_flag_list(result.risk_flags)}</div>")


def chain_columns(hops: Sequence[Hop]) -> dict[str, int]:
    """Column of each party in the diagram: holders at 0 (or, with no holder, the parties nothing
    supplies), every other party one right of the furthest party that supplies it (longest
    distance from a root). Relaxation is bounded, so a cycle still draws; unreachable parties go
    to column 0."""
    parties = list(dict.fromkeys([h.provider for h in hops] + [h.recipient for h in hops]))
    supplied = {h.recipient for h in hops}
    roots = [h.provider for h in hops if h.provider_role == HOLDER] or [p for p in parties if p not in supplied] or parties[:1]
    column = {p: 0 for p in dict.fromkeys(roots)}
    for _ in range(len(parties)):  # Bellman-Ford style relaxation, bounded: terminates on cycles
        changed = False
        for h in hops:
            if h.provider in column:
                want = column[h.provider] + 1
                if column.get(h.recipient, -1) < want and want < len(parties):
                    column[h.recipient] = want
                    changed = True
        if not changed:
            break
    for p in parties:
        column.setdefault(p, 0)
    return column


def chain_svg(hops: Sequence[Hop], spofs: set[str], renewal_gaps: Sequence[str]) -> str:
    """The chain of one block as an SVG: parties as boxes in columns by depth (holder left, lessee
    right), hops as arrows labelled with their end date; SPOFs red, the lessee green, renewal-gap
    hops dashed orange."""
    if not hops:
        return "<p class='muted'>No hops.</p>"
    column = chain_columns(hops)
    names: dict[str, str] = {}
    for h in hops:
        names.setdefault(h.provider, h.provider_name)
        names.setdefault(h.recipient, h.recipient_name)
    lessees = {h.recipient for h in hops if h.recipient_role == LESSEE}
    by_column: dict[int, list[str]] = {}
    for p in names:
        by_column.setdefault(column[p], []).append(p)
    rows = max(len(v) for v in by_column.values())
    height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP + 14
    width = PAD * 2 + (max(by_column) + 1) * (NODE_W + COL_GAP) - COL_GAP
    pos: dict[str, tuple[float, float]] = {}
    for col, members in by_column.items():
        span = len(members) * NODE_H + (len(members) - 1) * ROW_GAP
        top = (height - span) / 2
        for i, p in enumerate(members):
            pos[p] = (PAD + col * (NODE_W + COL_GAP), top + i * (NODE_H + ROW_GAP))
    gap_set = set(renewal_gaps)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height:.0f}' role='img' aria-label='chain diagram'>",
           "<defs><marker id='arr' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' markerHeight='7' orient='auto-start-reverse'>"
           f"<path d='M0,0 L10,5 L0,10 z' fill='{COLOURS['edge']}'/></marker></defs>"]
    for h in hops:
        (x1, y1), (x2, y2) = pos[h.provider], pos[h.recipient]
        gap = f"{h.provider_name}->{h.recipient_name}" in gap_set
        colour = COLOURS["gap"] if gap else COLOURS["edge"]
        dash = " stroke-dasharray='6 4'" if gap else ""
        sx, sy = x1 + NODE_W, y1 + NODE_H / 2
        ex, ey = x2, y2 + NODE_H / 2
        if x2 <= x1:  # backwards (a cycle): route below the boxes
            sx, sy, ex, ey = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2 + NODE_H
            path = f"M{sx:.0f},{sy:.0f} C{sx:.0f},{sy + 40:.0f} {ex:.0f},{ey + 40:.0f} {ex:.0f},{ey:.0f}"
        else:
            mid = (sx + ex) / 2
            path = f"M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex:.0f},{ey:.0f}"
        out.append(f"<path d='{path}' fill='none' stroke='{colour}' stroke-width='2'{dash} marker-end='url(#arr)'>"
                   f"<title>{escape(h.provider_name)} -> {escape(h.recipient_name)}: {h.start_date} .. {h.end_date}</title></path>")
        if h.end_date.year < 9999:
            lx, ly = (sx + ex) / 2, (sy + ey) / 2 - 5
            out.append(f"<text x='{lx:.0f}' y='{ly:.0f}' text-anchor='middle' font-size='10' fill='{colour}'>"
                       f"to {h.end_date.isoformat()}</text>")
    for p, (x, y) in pos.items():
        if p in spofs:
            stroke, fill = COLOURS["spof"], COLOURS["spof_fill"]
        elif p in lessees:
            stroke, fill = COLOURS["lessee"], COLOURS["lessee_fill"]
        else:
            stroke, fill = COLOURS["node"], COLOURS["node_fill"]
        role = _role_of(p, hops)
        out.append(f"<g><title>{escape(names[p])} ({role}{', single point of failure' if p in spofs else ''})</title>"
                   f"<rect x='{x:.0f}' y='{y:.0f}' width='{NODE_W}' height='{NODE_H}' rx='7' fill='{fill}' stroke='{stroke}' stroke-width='2'/>"
                   f"<text x='{x + NODE_W / 2:.0f}' y='{y + 19:.0f}' text-anchor='middle' font-size='12' font-weight='600'>{escape(_clip(names[p], 30))}</text>"
                   f"<text x='{x + NODE_W / 2:.0f}' y='{y + 35:.0f}' text-anchor='middle' font-size='10' fill='#627d98'>{escape(role)}"
                   f"{' &#183; SPOF' if p in spofs else ''}</text></g>")
    out.append("</svg>")
    return "".join(out)


def _role_of(party: str, hops: Sequence[Hop]) -> str:
    for h in hops:
        if h.provider == party:
            return str(getattr(h.provider_role, "value", h.provider_role))
    for h in hops:
        if h.recipient == party:
            return str(getattr(h.recipient_role, "value", h.recipient_role))
    return "party"


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "\u2026"

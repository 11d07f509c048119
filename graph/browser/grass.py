"""The Browser style (GraSS) that colours holders, upstreams, brokers, lessees, blocks, registry
objects, VRPs and alerts: the packaged ``browser-style.grass``, and its form for a deep link."""
from __future__ import annotations

import re
from importlib import resources

STYLE_RESOURCE = "browser-style.grass"


def browser_style() -> str:
    """The packaged GraSS text."""
    return resources.files("chainrisk.graph.browser").joinpath(STYLE_RESOURCE).read_text(encoding="utf-8")


_HEX_COLOUR = re.compile(r"#([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})\b")


def grass_for_deep_link(grass: str) -> str:
    """GraSS text with every ``#RRGGBB`` colour written as ``rgb(r, g, b)``: the same style, but
    without the ``#`` a Browser deep link cannot carry."""
    return _HEX_COLOUR.sub(lambda m: "rgb({}, {}, {})".format(*(int(g, 16) for g in m.groups())), grass)

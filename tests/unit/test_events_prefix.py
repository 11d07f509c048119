"""The fast canonical-prefix check agrees with ipaddress on every input."""
from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from chainrisk.ingest.events import is_canonical_ipv4_prefix

octet = st.one_of(st.integers(0, 255).map(str), st.integers(0, 999).map(str), st.sampled_from(["00", "01", "007", "", "x", "١"]))
length = st.one_of(st.integers(0, 32).map(str), st.sampled_from(["33", "08", "-1", "", "2a", "²"]))


def reference(value: str) -> bool:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return net.version == 4 and str(net) == value


@given(st.lists(octet, min_size=3, max_size=5), length)
def test_matches_ipaddress_on_prefix_shaped_text(octets, bits):
    value = ".".join(octets) + "/" + bits
    assert is_canonical_ipv4_prefix(value) == reference(value)


@given(st.text(max_size=24))
def test_matches_ipaddress_on_any_text(value):
    assert is_canonical_ipv4_prefix(value) == reference(value)


def test_examples():
    assert is_canonical_ipv4_prefix("198.51.100.0/24")
    assert not is_canonical_ipv4_prefix("198.51.100.7/24")  # host bits
    assert not is_canonical_ipv4_prefix("2001:db8::/32")

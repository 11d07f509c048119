from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrisk.ingest.prefixes import parse_asn, parse_ipv4_prefix, parse_ipv4_range, range_to_cidrs


def test_valid_prefix_is_returned_as_network() -> None:
    assert parse_ipv4_prefix(" 192.0.2.0/24 ") == IPv4Network("192.0.2.0/24")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("192.0.2.1/24", "host bits set: 192.0.2.1/24 is not a network address (did you mean 192.0.2.0/24?)"),
        ("2001:db8::/32", "IPv6 is out of scope: chainrisk analyses IPv4 leases"),
        ("300.1.1.0/24", "not valid IPv4 prefix: '300.1.1.0/24'"),
        ("192.0.2.0/33", "not valid IPv4 prefix: '192.0.2.0/33'"),
        ("192.0.2.0", "not valid IPv4 prefix: '192.0.2.0' has no /length (write e.g. 192.0.2.0/24)"),
        ("", "not valid IPv4 prefix: the field is empty"),
    ],
)
def test_bad_prefix_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_ipv4_prefix(text)
    assert str(err.value) == reason


def test_range_split_into_cidrs() -> None:
    assert range_to_cidrs("192.0.2.0", "192.0.2.255") == [IPv4Network("192.0.2.0/24")]
    assert [str(n) for n in range_to_cidrs("10.0.0.1", "10.0.0.7")] == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30"]
    with pytest.raises(ValueError, match="range end before start"):
        range_to_cidrs("10.0.0.2", "10.0.0.1")


def test_parse_range_forms() -> None:
    assert parse_ipv4_range("191.96.0.0 - 191.96.255.255") == (IPv4Address("191.96.0.0"), IPv4Address("191.96.255.255"))
    assert parse_ipv4_range("10.0.0.0/30") == (IPv4Address("10.0.0.0"), IPv4Address("10.0.0.3"))
    with pytest.raises(ValueError, match="IPv6 is out of scope"):
        parse_ipv4_range("2001:db8:: - 2001:db8::ff")


@pytest.mark.parametrize(("text", "asn"), [("64500", 64500), ("AS64500", 64500), ("as1", 1), (" 0 ", 0), (4294967295, 4294967295)])
def test_asn_forms(text: str | int, asn: int) -> None:
    assert parse_asn(text) == asn


@pytest.mark.parametrize("text", ["AS", "AS-FOO", "64500x", "-1", "4294967296", True, "٣"])
def test_bad_asn(text: str | int) -> None:
    with pytest.raises(ValueError, match="not an AS number"):
        parse_asn(text)


@given(st.text())
def test_parsers_give_a_checked_value_or_a_value_error_with_a_reason(text: str) -> None:
    def is_prefix(network: IPv4Network) -> bool:
        return network == IPv4Network(text.strip())  # strict: no host bits

    def is_range(ends: tuple[IPv4Address, IPv4Address]) -> bool:
        return ends[0] <= ends[1]

    def is_asn(asn: int) -> bool:
        return 0 <= asn <= 2**32 - 1 and str(asn) in text

    for parser, check in ((parse_ipv4_prefix, is_prefix), (parse_ipv4_range, is_range), (parse_asn, is_asn)):
        try:
            value = parser(text)
        except ValueError as exc:
            # the reject reason, "<kind>: <detail>" (the summary counts rejects by kind)
            kind, colon, detail = str(exc).partition(": ")
            assert kind and colon and detail.strip(), f"{parser.__name__}({text!r}): reason {exc}"
        else:
            assert check(value), f"{parser.__name__}({text!r}) = {value!r}"


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_range_cidrs_cover_exactly(a: int, b: int) -> None:
    first, last = IPv4Address(min(a, b)), IPv4Address(max(a, b))
    cidrs = range_to_cidrs(first, last)
    assert cidrs[0].network_address == first and cidrs[-1].broadcast_address == last
    assert sum(n.num_addresses for n in cidrs) == int(last) - int(first) + 1

"""The shared primitives of ``chainrisk.common``: prefix arithmetic against ``ipaddress``, UTC
timestamps, pausing the cyclic garbage collector, shared values and compact dicts."""
from __future__ import annotations

import gc
import sys
from datetime import datetime, timedelta, timezone
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainrisk.common.memory import SharedValues, compact_dict, without_cyclic_gc
from chainrisk.common.prefixes import (
    MASKS,
    covers,
    int_to_address,
    ints_to_prefix,
    prefix_ints,
    prefix_length,
    prefix_range,
    prefix_size,
)
from chainrisk.common.timestamps import as_utc

networks = st.builds(lambda address, length: IPv4Network((address, length), strict=False),
                     st.integers(0, 2**32 - 1), st.integers(0, 32))


@given(networks)
def test_prefix_conversions_agree_with_ipaddress(net: IPv4Network) -> None:
    text = str(net)
    first, length = prefix_ints(text)
    assert (first, length) == (int(net.network_address), net.prefixlen)
    assert prefix_length(text) == net.prefixlen
    assert prefix_size(length) == net.num_addresses
    assert prefix_range(text) == (int(net.network_address), int(net.broadcast_address), net.prefixlen)
    assert int_to_address(first) == str(net.network_address)
    assert ints_to_prefix(first, length) == text
    assert MASKS[length] == int(net.netmask)


@given(networks, networks)
def test_covers_is_subnet_of(outer: IPv4Network, inner: IPv4Network) -> None:
    assert covers(prefix_ints(str(outer)), prefix_ints(str(inner))) is inner.subnet_of(outer)


def test_prefix_edges() -> None:
    assert prefix_range("0.0.0.0/0") == (0, 2**32 - 1, 0)
    assert prefix_range("255.255.255.255/32") == (2**32 - 1, 2**32 - 1, 32)
    assert int_to_address(int(IPv4Address("10.1.2.3"))) == "10.1.2.3"


def test_as_utc_takes_a_naive_moment_as_utc() -> None:
    moment = as_utc(datetime(2024, 4, 6, 12, 30))
    assert moment.tzinfo is timezone.utc
    assert moment.isoformat() == "2024-04-06T12:30:00+00:00"


def test_as_utc_converts_another_zone_to_the_same_instant_in_utc() -> None:
    eastern = datetime(2012, 2, 24, 9, 44, 34, tzinfo=timezone(timedelta(hours=-5)))
    moment = as_utc(eastern)
    assert moment == eastern
    assert moment.utcoffset() == timedelta(0)
    assert moment.isoformat() == "2012-02-24T14:44:34+00:00"


def test_as_utc_keeps_a_utc_moment() -> None:
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert as_utc(moment) == moment and as_utc(moment).isoformat() == "2026-11-01T00:00:00+00:00"


@pytest.fixture
def collector_state():  # noqa: ANN201
    before = gc.isenabled()
    yield
    (gc.enable if before else gc.disable)()


@pytest.mark.usefixtures("collector_state")
def test_without_cyclic_gc_pauses_and_restores_the_collector() -> None:
    gc.enable()
    with without_cyclic_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), without_cyclic_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_state")
def test_without_cyclic_gc_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with without_cyclic_gc():
        with without_cyclic_gc():
            pass
        assert not gc.isenabled()  # the inner block must not re-enable what the outer one paused
    assert not gc.isenabled()


def test_shared_values_hand_back_the_first_equal_value_of_the_same_type_and_zone() -> None:
    shared = SharedValues()
    text = "".join(["rpki-", "client"])  # built at run time: not the constant below
    assert shared(text) is text
    assert shared("rpki-client") is text
    assert shared(1) == 1 and shared(True) is True  # equal to 1, but a bool stays a bool
    utc = datetime(2025, 7, 20, 9, 31, tzinfo=timezone.utc)
    plus2 = utc.astimezone(timezone(timedelta(hours=2)))
    assert shared(utc) is utc and shared(plus2) is plus2  # the same instant, printed differently
    values = [1.5]
    assert shared(values) is values  # not shareable: handed back as it is
    shared.clear()
    other = "".join(["rpki-", "client"])
    assert shared(other) is other


def test_compact_dicts_are_plain_dicts_in_behaviour_and_smaller() -> None:
    names = [f"name_{i}" for i in range(17)]
    items = {name: i for i, name in enumerate(names)}
    compact = [compact_dict("Probe", items) for _ in range(3)]
    first = compact[0]
    assert type(first) is dict and first == items and list(first) == names
    assert sys.getsizeof(first) < sys.getsizeof(dict(items))
    first["name_3"] = -1
    del first["name_4"]
    first["extra"] = 1  # a name the shared table lacks: still a correct dict
    assert first == {**{k: v for k, v in items.items() if k != "name_4"}, "name_3": -1, "extra": 1}
    assert list(first)[-1] == "extra"
    assert compact[1] == items  # the others are untouched

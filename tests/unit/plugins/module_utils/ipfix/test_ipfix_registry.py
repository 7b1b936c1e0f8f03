"""The element registry: Antrea's elements as ../shared/seeds/001_* lists them, reverse twins, lookups."""

import glob
import os
import re

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError


def seed_elements():
    """(name, enterprise, id, type) rows of the seed's element tables."""
    path = glob.glob(os.path.join(shared_path("seeds"), "001_*"))[0]
    with open(path) as handle:
        text = handle.read()
    return re.findall(r"^(\w+) (0|29305|56506) (\d+) (\w+)$", text, re.M)


def test_every_seed_element_is_registered_with_its_number_and_type():
    rows = seed_elements()
    assert len(rows) == 14 + 4 + 22 + 2 + 16  # the seed's five tables
    for name, enterprise, element_id, data_type in rows:
        element = registry.by_name(name)
        if name == "originalObservationDomainId":
            # Antrea's table says IANA 151, which is flowEndSeconds; IANA assigns 405 (RFC 7119).
            assert (element.enterprise, element.element_id) == (0, 405)
            continue
        assert (element.enterprise, element.element_id, element.data_type) == \
            (int(enterprise), int(element_id), data_type), name


def test_reverse_twins_mirror_the_iana_elements():
    forward = registry.by_name("octetTotalCount")
    reverse = registry.by_name("reverseOctetTotalCount")
    assert (reverse.enterprise, reverse.element_id, reverse.data_type, reverse.length) == (29305, 85, "unsigned64", 8)
    assert registry.by_id(29305, forward.element_id) is reverse
    assert registry.by_name("reverseSourceIPv4Address").data_type == "ipv4Address"
    # RFC 5103 6.1: no reverse twin for identifiers and padding.
    for name in ("reverseObservationDomainId", "reversePaddingOctets", "reverseBiflowDirection", "reverseFlowId"):
        with pytest.raises(IpfixError):
            registry.by_name(name)


def test_lengths_follow_the_types():
    assert registry.by_name("sourcePodName").length == 65535
    assert registry.by_name("sourceIPv6Address").length == 16
    assert registry.by_name("flowStartSeconds").length == 4
    assert registry.by_name("flowEndMilliseconds").length == 8
    assert registry.by_name("destinationServicePort").length == 2


def test_unknown_names_and_ids():
    with pytest.raises(IpfixError, match="unknown IPFIX information element 'sourcePodNme'"):
        registry.by_name("sourcePodNme")
    assert registry.by_id(56506, 9999) is None
    assert registry.by_id(0, 8).name == "sourceIPv4Address"
    # The decoder's names for unknown elements can be encoded again as octet arrays.
    element = registry.by_name("e12345id7")
    assert (element.enterprise, element.element_id, element.data_type, element.length) == \
        (12345, 7, "octetArray", 65535)
    assert registry.by_name("id8").name == "sourceIPv4Address"
    assert registry.unknown_name(0, 999) == "id999"
    assert registry.unknown_name(56506, 999) == "e56506id999"


def test_names_and_ids_are_unique():
    assert len(set(registry.names())) == len(registry.ELEMENTS)
    assert len({(e.enterprise, e.element_id) for e in registry.ELEMENTS}) == len(registry.ELEMENTS)

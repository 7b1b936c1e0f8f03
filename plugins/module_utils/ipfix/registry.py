# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The information elements netdiag.tracekit knows, by name and by (enterprise, id).

Three registries, as Antrea's Flow Exporter and Flow Aggregator use them:

* IANA (enterprise 0): the elements we send and the common ones other exporters (softflowd, nfdump,
  pmacct) send, with their RFC 7012 abstract data types.
* Reverse IANA (RFC 5103, private enterprise 29305): the reverse twin of every reversible IANA element
  above, same id and type, named ``reverse`` + the name with its first letter upper-cased
  (``reverseOctetTotalCount``). RFC 5103 section 6.1 lists the elements that have no reverse twin
  (identifiers, process configuration, padding, biflowDirection): those are left out.
* Antrea (enterprise 56506): every element of the Flow Exporter and the Flow Aggregator.

One correction to Antrea's published table: it gives ``originalObservationDomainId`` as IANA 151, which is
``flowEndSeconds``; IANA assigns 405 (RFC 7119), which is what we register.

``by_name()`` raises ``IpfixError`` for a name we do not know (an encoder input with a typo must fail
clearly); ``by_id()`` returns ``None`` for an element we do not know (the decoder then names the field
``e<enterprise>id<id>``, or ``id<id>`` for IANA, and keeps its raw bytes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError

IANA = 0
REVERSE_PEN = 29305
ANTREA_PEN = 56506

VARIABLE_LENGTH = 65535

Element = collections.namedtuple("Element", "name enterprise element_id data_type length")

# Default (and maximum) encoded length of each abstract data type (RFC 7012 section 3.1, RFC 7011 6.1).
TYPE_LENGTHS = {
    "octetArray": VARIABLE_LENGTH,
    "unsigned8": 1,
    "unsigned16": 2,
    "unsigned32": 4,
    "unsigned64": 8,
    "signed8": 1,
    "signed16": 2,
    "signed32": 4,
    "signed64": 8,
    "float32": 4,
    "float64": 8,
    "boolean": 1,
    "macAddress": 6,
    "string": VARIABLE_LENGTH,
    "dateTimeSeconds": 4,
    "dateTimeMilliseconds": 8,
    "dateTimeMicroseconds": 8,
    "dateTimeNanoseconds": 8,
    "ipv4Address": 4,
    "ipv6Address": 16,
    "basicList": VARIABLE_LENGTH,
    "subTemplateList": VARIABLE_LENGTH,
    "subTemplateMultiList": VARIABLE_LENGTH,
}

# Types that RFC 7011 section 6.2 allows to be sent in fewer octets than their default length.
REDUCIBLE_TYPES = frozenset(("unsigned16", "unsigned32", "unsigned64", "signed16", "signed32", "signed64",
                             "float64"))

# (id, name, type): IANA elements.
_IANA = (
    (1, "octetDeltaCount", "unsigned64"),
    (2, "packetDeltaCount", "unsigned64"),
    (3, "deltaFlowCount", "unsigned64"),
    (4, "protocolIdentifier", "unsigned8"),
    (5, "ipClassOfService", "unsigned8"),
    (6, "tcpControlBits", "unsigned16"),
    (7, "sourceTransportPort", "unsigned16"),
    (8, "sourceIPv4Address", "ipv4Address"),
    (9, "sourceIPv4PrefixLength", "unsigned8"),
    (10, "ingressInterface", "unsigned32"),
    (11, "destinationTransportPort", "unsigned16"),
    (12, "destinationIPv4Address", "ipv4Address"),
    (13, "destinationIPv4PrefixLength", "unsigned8"),
    (14, "egressInterface", "unsigned32"),
    (15, "ipNextHopIPv4Address", "ipv4Address"),
    (16, "bgpSourceAsNumber", "unsigned32"),
    (17, "bgpDestinationAsNumber", "unsigned32"),
    (18, "bgpNextHopIPv4Address", "ipv4Address"),
    (21, "flowEndSysUpTime", "unsigned32"),
    (22, "flowStartSysUpTime", "unsigned32"),
    (27, "sourceIPv6Address", "ipv6Address"),
    (28, "destinationIPv6Address", "ipv6Address"),
    (29, "sourceIPv6PrefixLength", "unsigned8"),
    (30, "destinationIPv6PrefixLength", "unsigned8"),
    (31, "flowLabelIPv6", "unsigned32"),
    (32, "icmpTypeCodeIPv4", "unsigned16"),
    (34, "samplingInterval", "unsigned32"),
    (35, "samplingAlgorithm", "unsigned8"),
    (36, "flowActiveTimeout", "unsigned16"),
    (37, "flowIdleTimeout", "unsigned16"),
    (40, "exportedOctetTotalCount", "unsigned64"),
    (41, "exportedMessageTotalCount", "unsigned64"),
    (42, "exportedFlowRecordTotalCount", "unsigned64"),
    (52, "minimumTTL", "unsigned8"),
    (53, "maximumTTL", "unsigned8"),
    (56, "sourceMacAddress", "macAddress"),
    (58, "vlanId", "unsigned16"),
    (60, "ipVersion", "unsigned8"),
    (61, "flowDirection", "unsigned8"),
    (62, "ipNextHopIPv6Address", "ipv6Address"),
    (80, "destinationMacAddress", "macAddress"),
    (82, "interfaceName", "string"),
    (85, "octetTotalCount", "unsigned64"),
    (86, "packetTotalCount", "unsigned64"),
    (88, "fragmentOffset", "unsigned16"),
    (130, "exporterIPv4Address", "ipv4Address"),
    (131, "exporterIPv6Address", "ipv6Address"),
    (136, "flowEndReason", "unsigned8"),
    (139, "icmpTypeCodeIPv6", "unsigned16"),
    (143, "meteringProcessId", "unsigned32"),
    (144, "exportingProcessId", "unsigned32"),
    (148, "flowId", "unsigned64"),
    (149, "observationDomainId", "unsigned32"),
    (150, "flowStartSeconds", "dateTimeSeconds"),
    (151, "flowEndSeconds", "dateTimeSeconds"),
    (152, "flowStartMilliseconds", "dateTimeMilliseconds"),
    (153, "flowEndMilliseconds", "dateTimeMilliseconds"),
    (154, "flowStartMicroseconds", "dateTimeMicroseconds"),
    (155, "flowEndMicroseconds", "dateTimeMicroseconds"),
    (156, "flowStartNanoseconds", "dateTimeNanoseconds"),
    (157, "flowEndNanoseconds", "dateTimeNanoseconds"),
    (160, "systemInitTimeMilliseconds", "dateTimeMilliseconds"),
    (161, "flowDurationMilliseconds", "unsigned32"),
    (173, "flowKeyIndicator", "unsigned64"),
    (176, "icmpTypeIPv4", "unsigned8"),
    (177, "icmpCodeIPv4", "unsigned8"),
    (178, "icmpTypeIPv6", "unsigned8"),
    (179, "icmpCodeIPv6", "unsigned8"),
    (192, "ipTTL", "unsigned8"),
    (210, "paddingOctets", "octetArray"),
    (225, "postNATSourceIPv4Address", "ipv4Address"),
    (226, "postNATDestinationIPv4Address", "ipv4Address"),
    (227, "postNAPTSourceTransportPort", "unsigned16"),
    (228, "postNAPTDestinationTransportPort", "unsigned16"),
    (230, "natEvent", "unsigned8"),
    (233, "firewallEvent", "unsigned8"),
    (234, "ingressVRFID", "unsigned32"),
    (235, "egressVRFID", "unsigned32"),
    (239, "biflowDirection", "unsigned8"),
    (281, "postNATSourceIPv6Address", "ipv6Address"),
    (282, "postNATDestinationIPv6Address", "ipv6Address"),
    (304, "selectorAlgorithm", "unsigned16"),
    (305, "samplingPacketInterval", "unsigned32"),
    (306, "samplingPacketSpace", "unsigned32"),
    (403, "originalExporterIPv4Address", "ipv4Address"),
    (404, "originalExporterIPv6Address", "ipv6Address"),
    (405, "originalObservationDomainId", "unsigned32"),
)

# RFC 5103 section 6.1: identifiers, exporting-process configuration and padding have no reverse twin.
_NOT_REVERSIBLE = frozenset((34, 35, 36, 37, 40, 41, 42, 130, 131, 143, 144, 148, 149, 160, 173, 210, 239,
                             304, 305, 306, 403, 404, 405))

# (id, name, type): Antrea's Flow Exporter and Flow Aggregator elements (../shared/seeds/001_*).
_ANTREA = (
    (100, "sourcePodNamespace", "string"),
    (101, "sourcePodName", "string"),
    (102, "destinationPodNamespace", "string"),
    (103, "destinationPodName", "string"),
    (104, "sourceNodeName", "string"),
    (105, "destinationNodeName", "string"),
    (106, "destinationClusterIPv4", "ipv4Address"),
    (107, "destinationClusterIPv6", "ipv6Address"),
    (108, "destinationServicePort", "unsigned16"),
    (109, "destinationServicePortName", "string"),
    (110, "ingressNetworkPolicyName", "string"),
    (111, "ingressNetworkPolicyNamespace", "string"),
    (112, "egressNetworkPolicyName", "string"),
    (113, "egressNetworkPolicyNamespace", "string"),
    (115, "ingressNetworkPolicyType", "unsigned8"),
    (118, "egressNetworkPolicyType", "unsigned8"),
    (120, "packetTotalCountFromSourceNode", "unsigned64"),
    (121, "octetTotalCountFromSourceNode", "unsigned64"),
    (122, "packetDeltaCountFromSourceNode", "unsigned64"),
    (123, "octetDeltaCountFromSourceNode", "unsigned64"),
    (124, "reversePacketTotalCountFromSourceNode", "unsigned64"),
    (125, "reverseOctetTotalCountFromSourceNode", "unsigned64"),
    (126, "reversePacketDeltaCountFromSourceNode", "unsigned64"),
    (127, "reverseOctetDeltaCountFromSourceNode", "unsigned64"),
    (128, "packetTotalCountFromDestinationNode", "unsigned64"),
    (129, "octetTotalCountFromDestinationNode", "unsigned64"),
    (130, "packetDeltaCountFromDestinationNode", "unsigned64"),
    (131, "octetDeltaCountFromDestinationNode", "unsigned64"),
    (132, "reversePacketTotalCountFromDestinationNode", "unsigned64"),
    (133, "reverseOctetTotalCountFromDestinationNode", "unsigned64"),
    (134, "reversePacketDeltaCountFromDestinationNode", "unsigned64"),
    (135, "reverseOctetDeltaCountFromDestinationNode", "unsigned64"),
    (136, "tcpState", "string"),
    (137, "flowType", "unsigned8"),
    (139, "ingressNetworkPolicyRuleAction", "unsigned8"),
    (140, "egressNetworkPolicyRuleAction", "unsigned8"),
    (141, "ingressNetworkPolicyRuleName", "string"),
    (142, "egressNetworkPolicyRuleName", "string"),
)


def reverse_name(name):
    """``octetTotalCount`` -> ``reverseOctetTotalCount`` (RFC 5103 section 6)."""
    return "reverse" + name[0].upper() + name[1:]


def _build():
    elements = []
    for element_id, name, data_type in _IANA:
        elements.append(Element(name, IANA, element_id, data_type, TYPE_LENGTHS[data_type]))
    for element_id, name, data_type in _IANA:
        if element_id not in _NOT_REVERSIBLE:
            elements.append(Element(reverse_name(name), REVERSE_PEN, element_id, data_type,
                                    TYPE_LENGTHS[data_type]))
    for element_id, name, data_type in _ANTREA:
        elements.append(Element(name, ANTREA_PEN, element_id, data_type, TYPE_LENGTHS[data_type]))
    return tuple(elements)


ELEMENTS = _build()
_BY_NAME = dict((element.name, element) for element in ELEMENTS)
_BY_ID = dict(((element.enterprise, element.element_id), element) for element in ELEMENTS)
if len(_BY_NAME) != len(ELEMENTS) or len(_BY_ID) != len(ELEMENTS):  # pragma: no cover - a table typo
    raise AssertionError("IPFIX registry has a duplicate name or (enterprise, id)")

_UNKNOWN_NAME = re.compile(r"^(?:e(\d+))?id(\d+)$")


def unknown_name(enterprise, element_id):
    """The name the decoder gives an element we do not know: ``e<enterprise>id<id>`` or ``id<id>``."""
    if enterprise:
        return "e%did%d" % (enterprise, element_id)
    return "id%d" % element_id


def by_name(name):
    """The ``Element`` called ``name``.

    Names of the form ``e<enterprise>id<id>`` / ``id<id>`` (what the decoder gives unknown elements) are
    accepted too and describe a variable-length ``octetArray``, so decoded records can be re-encoded.
    Raises ``IpfixError`` for any other unknown name.
    """
    element = _BY_NAME.get(name)
    if element is not None:
        return element
    match = _UNKNOWN_NAME.match(name) if isinstance(name, str) else None
    if match:
        enterprise = int(match.group(1) or 0)
        element_id = int(match.group(2))
        if enterprise < 2 ** 32 and 0 < element_id < 0x8000:
            known = _BY_ID.get((enterprise, element_id))
            if known is not None:
                return known
            return Element(name, enterprise, element_id, "octetArray", VARIABLE_LENGTH)
    raise IpfixError("unknown IPFIX information element %r: not in the IANA, reverse (29305) or Antrea "
                     "(56506) registry of netdiag.tracekit" % (name,))


def by_id(enterprise, element_id):
    """The ``Element`` with this enterprise number and id, or ``None`` when we do not know it."""
    return _BY_ID.get((enterprise, element_id))


def names():
    """Every registered element name, in registry order."""
    return tuple(element.name for element in ELEMENTS)

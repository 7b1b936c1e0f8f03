"""Every element the exporter (conntrack_export) and the flow aggregator can send has a Logstash definition of
the right type and a field in the index template.

The element list is derived from code - the exporter's record layout (conntrack/records.py IPFIX_ORDER) and
the elements the aggregator itself adds (services/flow_aggregator/table.py) - and looked up in the IPFIX
registry; nothing here is a second hand-written element list. The expected codec type per RFC 7012 abstract
type is written from the netflow codec's definition format (an integer N = unsigned of N bytes by default,
symbols for addresses and strings), and a few elements are checked by hand against Antrea's published table
(../shared/seeds/001_*).
"""

import pytest
import yaml

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.records import IPFIX_ORDER
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows import logstash
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.ilm_policy import (
    RetentionError, flow_index_template, ilm_policy, template_name)
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.index_template import index_template
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.registry import by_name
from ansible_collections.netdiag.tracekit.services.flow_aggregator import merge

EXPECTED_CODEC = {"unsigned8": 1, "unsigned16": 2, "unsigned32": 4, "unsigned64": 8, "ipv4Address": ":ip4_addr",
                  "ipv6Address": ":ip6_addr", "string": ":string", "macAddress": ":mac_addr",
                  "dateTimeSeconds": 4, "dateTimeMilliseconds": 8}
EXPECTED_ES = {"unsigned8": "long", "unsigned16": "long", "unsigned32": "long", "unsigned64": "long",
               "ipv4Address": "ip", "ipv6Address": "ip", "string": "keyword", "macAddress": "keyword",
               "dateTimeSeconds": "date", "dateTimeMilliseconds": "date"}


def exported_elements():
    """What the exporter's records carry plus what the aggregator adds to them."""
    aggregator_adds = set(merge.SOURCE_COUNTERS.values()) | set(merge.DESTINATION_COUNTERS.values())
    aggregator_adds |= set(merge.AGGREGATOR_ELEMENTS)
    names = list(IPFIX_ORDER) + sorted(aggregator_adds)
    return [by_name(name) for name in names]


@pytest.fixture(scope="module")
def definitions():
    # through the YAML text Logstash reads, not the dict, so the file itself is what is checked
    return yaml.safe_load(logstash.ipfix_definitions_yaml())


def test_exported_elements_are_many_and_span_three_registries():
    elements = exported_elements()
    assert len(elements) >= 45
    assert {e.enterprise for e in elements} == {0, 29305, 56506}


@pytest.mark.parametrize("element", exported_elements(), ids=lambda e: e.name)
def test_every_exported_element_has_definition_and_template_field(element, definitions):
    kind, name = definitions[element.enterprise][element.element_id]
    assert name == ":" + element.name
    assert kind == EXPECTED_CODEC[element.data_type]
    properties = index_template(["flows"])["template"]["mappings"]["properties"]
    assert properties[element.name]["type"] == EXPECTED_ES[element.data_type]
    # the pipeline moves the codec's field to the template's top-level name
    assert '"[netflow][%s]" => "%s"' % (element.name, element.name) in logstash.pipeline(["http://es:9200"])


def test_antrea_elements_by_hand(definitions):
    # Antrea's table: sourcePodNamespace 56506/100 string, reverseOctetTotalCount 29305/85 unsigned64,
    # destinationClusterIPv4 56506/106 ipv4Address, flowType 56506/137 unsigned8, flowStartSeconds 0/150
    assert definitions[56506][100] == [":string", ":sourcePodNamespace"]
    assert definitions[29305][85] == [8, ":reverseOctetTotalCount"]
    assert definitions[56506][106] == [":ip4_addr", ":destinationClusterIPv4"]
    assert definitions[56506][137] == [1, ":flowType"]
    assert definitions[0][150] == [4, ":flowStartSeconds"]
    assert definitions[56506][120] == [8, ":packetTotalCountFromSourceNode"]


def test_iana_can_be_left_to_the_codec():
    only = yaml.safe_load(logstash.ipfix_definitions_yaml([29305, 56506]))
    assert sorted(only) == [29305, 56506]
    with pytest.raises(logstash.LogstashConfigError, match="not in the registry"):
        logstash.ipfix_definitions([9])


def test_pipeline_converts_codec_iso_dates_back_to_epoch_units():
    text = logstash.pipeline(["http://es:9200"], index="flows", port=4739)
    assert '"flowStartMilliseconds" => 1000,' in text
    assert 'index => "flows-%{+YYYY.MM.dd}"' in text
    assert text.count("port => 4739") == 2 and "udp {" in text and "tcp {" in text
    with pytest.raises(logstash.LogstashConfigError, match="at least one URL"):
        logstash.pipeline([])
    with pytest.raises(logstash.LogstashConfigError, match="1-65535"):
        logstash.pipeline(["http://es:9200"], port=70000)


def test_template_is_the_aggregators_plus_lifecycle():
    plain = index_template(["flows", "flows-*"])
    assert flow_index_template("flows") == plain
    with_policy = flow_index_template("flows", "flows-retention")
    assert with_policy["template"]["settings"]["index.lifecycle.name"] == "flows-retention"
    assert with_policy["template"]["mappings"] == plain["template"]["mappings"]
    assert template_name("flows") == "flows-flows"


def test_ilm_policy_deletes_after_retention():
    body = ilm_policy("30d")
    assert body["policy"]["phases"]["delete"] == {"min_age": "30d", "actions": {"delete": {}}}
    for bad in ("7", "7 days", "-1d", "0d"):
        with pytest.raises(RetentionError, match="not a duration"):
            ilm_policy(bad)

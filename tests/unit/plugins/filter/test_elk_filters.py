"""The ELK collector's filters: thin wrappers that check their arguments against their DOCUMENTATION and turn
bad values into AnsibleFilterError messages naming what was wrong."""

import json

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.flow_index_template import FilterModule as TemplateFilters
from ansible_collections.netdiag.tracekit.plugins.filter.flow_kibana_objects import FilterModule as KibanaFilters
from ansible_collections.netdiag.tracekit.plugins.filter.logstash_flow_pipeline import FilterModule as PipelineFilters
from ansible_collections.netdiag.tracekit.plugins.filter.logstash_ipfix_definitions import FilterModule as DefFilters

DEFINITIONS = DefFilters().filters()["logstash_ipfix_definitions"]
PIPELINE = PipelineFilters().filters()["logstash_flow_pipeline"]
TEMPLATE = TemplateFilters().filters()["flow_index_template"]
KIBANA = KibanaFilters().filters()["flow_kibana_objects"]


def test_definitions_yaml_and_dict_agree():
    as_yaml = yaml.safe_load(DEFINITIONS(None))
    as_dict = DEFINITIONS(None, output="dict", enterprises=[56506])
    assert list(as_dict) == [56506]
    assert as_yaml[56506] == as_dict[56506]


def test_bad_arguments_fail_clearly():
    with pytest.raises(AnsibleFilterError, match="enterprises"):
        DEFINITIONS(None, enterprises=[12345])
    with pytest.raises(AnsibleFilterError, match="output"):
        DEFINITIONS(None, output="xml")
    with pytest.raises(AnsibleFilterError, match="1-65535"):
        PIPELINE(["http://es:9200"], port=0)
    with pytest.raises(AnsibleFilterError, match="retention"):
        TEMPLATE("flows", kind="ilm_policy", retention="forever")
    with pytest.raises(AnsibleFilterError):
        TEMPLATE("flows", shards="many")


def test_template_and_policy():
    body = TEMPLATE("flows", policy_name="p")
    assert body["index_patterns"] == ["flows", "flows-*"]
    assert body["template"]["settings"]["index.lifecycle.name"] == "p"
    assert TEMPLATE("flows", kind="ilm_policy", retention="36h")["policy"]["phases"]["delete"]["min_age"] == "36h"


def test_kibana_objects_follow_the_index_name():
    lines = [json.loads(line) for line in KIBANA("netflows").splitlines()]
    assert lines[0]["attributes"]["title"] == "netflows*"
    assert KIBANA("netflows", output="list") == lines

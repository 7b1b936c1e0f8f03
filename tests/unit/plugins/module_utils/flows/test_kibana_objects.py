"""The Kibana saved objects: every object parses, uses only fields of the flow index template, and every
dashboard panel references a visualization or saved search that exists; the seven dashboards of Antrea's ELK
flow collector are there (../shared/seeds/001_*)."""

import json

from kibana_queries import fields_of

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows import kibana_objects
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.index_template import index_template

PROPERTIES = index_template(["flows"])["template"]["mappings"]["properties"]


def objects():
    return [json.loads(line) for line in kibana_objects.saved_objects_ndjson("flows").splitlines()]


def test_every_object_parses_and_has_unique_id():
    objs = objects()
    assert len({(o["type"], o["id"]) for o in objs}) == len(objs)
    for obj in objs:
        for key in ("visState", "panelsJSON", "optionsJSON", "uiStateJSON"):
            if key in obj["attributes"]:
                json.loads(obj["attributes"][key])
        source = obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if source:
            json.loads(source)


def test_fields_are_fields_of_the_index_template():
    used = set()
    for obj in objects():
        fields = fields_of(obj)
        assert fields <= set(PROPERTIES), (obj["id"], fields - set(PROPERTIES))
        used |= fields
    # the dashboards' core fields are there (a field the template maps as the aggregation needs)
    assert PROPERTIES["flowEndSeconds"]["type"] == "date"
    for name in ("sourcePodName", "destinationServicePortName", "egressNetworkPolicyName",
                 "ingressNetworkPolicyName", "sourceNodeName"):
        assert name in used and PROPERTIES[name]["type"] == "keyword"
    for name in ("octetTotalCount", "reverseOctetTotalCount", "octetDeltaCount"):
        assert name in used and PROPERTIES[name]["type"] == "long"
    assert PROPERTIES["destinationIPv4Address"]["type"] == "ip"


def test_dashboards_reference_existing_objects():
    objs = objects()
    existing = {(o["type"], o["id"]) for o in objs}
    dashboards = [o for o in objs if o["type"] == "dashboard"]
    assert sorted(d["attributes"]["title"] for d in dashboards) == sorted(
        ["Flows: overview", "Flows: pod-to-pod", "Flows: pod-to-service", "Flows: pod-to-external",
         "Flows: node throughput", "Flows: network policy", "Flows: flow records"])
    for dash in dashboards:
        refs = {r["name"]: (r["type"], r["id"]) for r in dash["references"]}
        panels = json.loads(dash["attributes"]["panelsJSON"])
        assert panels
        for panel in panels:
            assert refs[panel["panelRefName"]] in existing
            assert refs[panel["panelRefName"]][0] in ("visualization", "search")
    for obj in objs:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in existing, (obj["id"], ref)


def test_index_pattern_covers_both_writers():
    pattern = objects()[0]
    assert pattern["type"] == "index-pattern"
    # the aggregator's sink writes "flows", Logstash "flows-YYYY.MM.dd"
    assert pattern["attributes"]["title"] == "flows*"

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kibana saved objects (ndjson) for flow records: an index pattern, visualizations, a saved search, dashboards.

The dashboards are those of Antrea's ELK flow collector: overview, pod-to-pod, pod-to-service, pod-to-external,
node throughput, network policy (flows grouped by egress policy, the source side, and ingress policy, the
destination side) and flow records. Visualizations are Kibana's aggregation-based ones (``visState`` with
``aggs``: terms, sum, count, date_histogram), which Kibana 7.10+ and 8.x import and migrate; every field they
use is a field of the flow index template (flows/index_template.py). A dashboard's filter (pod-to-pod: flow
types 1 and 2; pod-to-external: type 3; pod-to-service: a service port name exists) sits in each of its
visualizations' search source, as Elasticsearch query DSL, so the query behind a panel is fully in the object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

INDEX_PATTERN_ID = "netdiag-tracekit-flows"
TIME_FIELD = "flowEndSeconds"
_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
# Antrea's flowType values (conntrack/records.py, flow_aggregator/table.py)
POD_TO_POD_TYPES = (1, 2)
POD_TO_EXTERNAL_TYPE = 3


def _phrases(field, values):
    return {"meta": {"type": "phrases", "key": field, "params": [str(v) for v in values], "negate": False,
                     "disabled": False, "alias": None},
            "query": {"bool": {"should": [{"match_phrase": {field: v}} for v in values], "minimum_should_match": 1}},
            "$state": {"store": "appState"}}


def _exists(field):
    return {"meta": {"type": "exists", "key": field, "value": "exists", "negate": False, "disabled": False,
                     "alias": None},
            "query": {"exists": {"field": field}}, "$state": {"store": "appState"}}


FILTERS = {
    "all": [],
    "pod_to_pod": [_phrases("flowType", POD_TO_POD_TYPES)],
    "pod_to_service": [_exists("destinationServicePortName")],
    "pod_to_external": [_phrases("flowType", (POD_TO_EXTERNAL_TYPE,))],
}


def _search_source(filters):
    out = []
    refs = [{"name": _INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}]
    for number, item in enumerate(filters):
        item = json.loads(json.dumps(item))
        name = "kibanaSavedObjectMeta.searchSourceJSON.filter[%d].meta.index" % number
        item["meta"]["indexRefName"] = name
        refs.append({"name": name, "type": "index-pattern", "id": INDEX_PATTERN_ID})
        out.append(item)
    source = {"query": {"query": "", "language": "kuery"}, "filter": out, "indexRefName": _INDEX_REF}
    return json.dumps(source, sort_keys=True), refs


def _metric(agg_id, kind, field=None, label=None):
    params = {"field": field} if field else {}
    if label:
        params["customLabel"] = label
    return {"id": agg_id, "enabled": True, "type": kind, "schema": "metric", "params": params}


def _terms(agg_id, field, order_by="1", size=10, schema="bucket"):
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": field, "orderBy": order_by, "order": "desc", "size": size, "otherBucket": False,
                       "missingBucket": False}}


def _histogram(agg_id, interval="h"):
    return {"id": agg_id, "enabled": True, "type": "date_histogram", "schema": "segment",
            "params": {"field": TIME_FIELD, "interval": interval, "min_doc_count": 1, "extended_bounds": {}}}


def _visualization(vis_id, title, vis_type, aggs, filters="all"):
    source, refs = _search_source(FILTERS[filters])
    params = {"perPage": 20, "showTotal": True} if vis_type == "table" else {"addTooltip": True, "addLegend": True}
    state = {"title": title, "type": vis_type, "params": params, "aggs": aggs}
    return {"id": vis_id, "type": "visualization",
            "attributes": {"title": title, "description": "", "version": 1, "uiStateJSON": "{}",
                           "visState": json.dumps(state, sort_keys=True),
                           "kibanaSavedObjectMeta": {"searchSourceJSON": source}},
            "references": refs}


def _bytes(field="octetTotalCount", label=None):
    return _metric("1", "sum", field, label)


VISUALIZATIONS = [
    # overview
    _visualization("flows-overview-by-type", "Flows by flow type", "pie",
                   [_metric("1", "count"), _terms("2", "flowType", schema="segment")]),
    _visualization("flows-overview-bytes-by-source-pod", "Bytes sent by source pod", "table",
                   [_bytes(), _terms("2", "sourcePodName")]),
    _visualization("flows-overview-bytes-over-time", "Bytes over time", "line",
                   [_bytes("octetDeltaCount"), _histogram("2")]),
    # pod-to-pod
    _visualization("flows-pod-to-pod-tx", "Pod-to-pod bytes sent (source pod to destination pod)", "table",
                   [_bytes(), _terms("2", "sourcePodName"), _terms("3", "destinationPodName")], "pod_to_pod"),
    _visualization("flows-pod-to-pod-rx", "Pod-to-pod bytes received (reply direction)", "table",
                   [_bytes("reverseOctetTotalCount"), _terms("2", "sourcePodName"),
                    _terms("3", "destinationPodName")], "pod_to_pod"),
    _visualization("flows-pod-to-pod-throughput", "Pod-to-pod throughput by source pod", "line",
                   [_bytes("octetDeltaCount"), _histogram("2"), _terms("3", "sourcePodName", schema="group")],
                   "pod_to_pod"),
    # pod-to-service
    _visualization("flows-pod-to-service-tx", "Pod-to-service bytes sent (source pod to service)", "table",
                   [_bytes(), _terms("2", "sourcePodName"), _terms("3", "destinationServicePortName")],
                   "pod_to_service"),
    _visualization("flows-pod-to-service-by-service", "Bytes per service (sent and received)", "table",
                   [_bytes(), _metric("4", "sum", "reverseOctetTotalCount"),
                    _terms("2", "destinationServicePortName")], "pod_to_service"),
    # pod-to-external
    _visualization("flows-pod-to-external-tx", "Pod-to-external bytes sent (source pod to address)", "table",
                   [_bytes(), _terms("2", "sourcePodName"), _terms("3", "destinationIPv4Address")],
                   "pod_to_external"),
    _visualization("flows-pod-to-external-rx", "Pod-to-external bytes received (reply direction)", "table",
                   [_bytes("reverseOctetTotalCount"), _terms("2", "sourcePodName"),
                    _terms("3", "destinationIPv4Address")], "pod_to_external"),
    # node throughput
    _visualization("flows-node-throughput-tx", "Bytes from node to node", "table",
                   [_bytes(), _terms("2", "sourceNodeName"), _terms("3", "destinationNodeName")]),
    _visualization("flows-node-throughput-over-time", "Node throughput over time", "line",
                   [_bytes("octetDeltaCount"), _histogram("2"), _terms("3", "sourceNodeName", schema="group")]),
    # network policy: egress policy (source side) to ingress policy (destination side)
    _visualization("flows-network-policy", "Bytes by egress policy and ingress policy", "table",
                   [_bytes(), _terms("2", "egressNetworkPolicyName"), _terms("3", "ingressNetworkPolicyName")]),
    _visualization("flows-network-policy-ingress-namespace", "Flows by ingress policy namespace and name", "table",
                   [_metric("1", "count"), _terms("2", "ingressNetworkPolicyNamespace"),
                    _terms("3", "ingressNetworkPolicyName")]),
]

RECORD_COLUMNS = ["sourcePodNamespace", "sourcePodName", "sourceIPv4Address", "sourceTransportPort",
                  "destinationPodNamespace", "destinationPodName", "destinationIPv4Address",
                  "destinationTransportPort", "destinationServicePortName", "protocolIdentifier", "flowType",
                  "octetTotalCount", "reverseOctetTotalCount", "ingressNetworkPolicyName", "egressNetworkPolicyName"]


def _search():
    source, refs = _search_source([])
    return {"id": "flows-records", "type": "search",
            "attributes": {"title": "Flow records", "description": "", "columns": list(RECORD_COLUMNS),
                           "sort": [[TIME_FIELD, "desc"]], "kibanaSavedObjectMeta": {"searchSourceJSON": source}},
            "references": refs}


DASHBOARDS = [
    ("flows-dashboard-overview", "Flows: overview",
     ["flows-overview-by-type", "flows-overview-bytes-by-source-pod", "flows-overview-bytes-over-time"]),
    ("flows-dashboard-pod-to-pod", "Flows: pod-to-pod",
     ["flows-pod-to-pod-tx", "flows-pod-to-pod-rx", "flows-pod-to-pod-throughput"]),
    ("flows-dashboard-pod-to-service", "Flows: pod-to-service",
     ["flows-pod-to-service-tx", "flows-pod-to-service-by-service"]),
    ("flows-dashboard-pod-to-external", "Flows: pod-to-external",
     ["flows-pod-to-external-tx", "flows-pod-to-external-rx"]),
    ("flows-dashboard-node-throughput", "Flows: node throughput",
     ["flows-node-throughput-tx", "flows-node-throughput-over-time"]),
    ("flows-dashboard-network-policy", "Flows: network policy",
     ["flows-network-policy", "flows-network-policy-ingress-namespace"]),
    ("flows-dashboard-flow-records", "Flows: flow records", ["flows-records"]),
]


def _dashboard(dash_id, title, panels):
    kinds = dict((obj["id"], obj["type"]) for obj in VISUALIZATIONS + [_search()])
    panel_list, refs = [], []
    for number, panel_id in enumerate(panels):
        ref = "panel_%d" % number
        panel_list.append({"panelIndex": str(number + 1), "version": "7.10.0", "type": kinds[panel_id],
                           "embeddableConfig": {}, "panelRefName": ref,
                           "gridData": {"x": 24 * (number % 2), "y": 15 * (number // 2), "w": 48 if kinds[panel_id]
                                        == "search" else 24, "h": 15, "i": str(number + 1)}})
        refs.append({"name": ref, "type": kinds[panel_id], "id": panel_id})
    return {"id": dash_id, "type": "dashboard",
            "attributes": {"title": title, "description": "", "version": 1, "timeRestore": False,
                           "panelsJSON": json.dumps(panel_list, sort_keys=True),
                           "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
                           "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                               {"query": {"query": "", "language": "kuery"}, "filter": []})}},
            "references": refs}


def saved_objects(index="flows"):
    """Every saved object, the index pattern first (``<index>*``: the aggregator's index and Logstash's daily ones)."""
    pattern = {"id": INDEX_PATTERN_ID, "type": "index-pattern",
               "attributes": {"title": "%s*" % index, "timeFieldName": TIME_FIELD}, "references": []}
    return ([pattern] + [json.loads(json.dumps(v)) for v in VISUALIZATIONS] + [_search()]
            + [_dashboard(*d) for d in DASHBOARDS])


def saved_objects_ndjson(index="flows"):
    return "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in saved_objects(index))

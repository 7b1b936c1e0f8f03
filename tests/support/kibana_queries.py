"""The Elasticsearch query behind a Kibana aggregation-based visualization, read from the saved object itself.

Kibana sends, for a visualization: a bool filter of its search source's filters (their ``query`` part, as
stored) and the dashboard's time range, and its ``visState.aggs`` nested in order - bucket aggregations
(terms, date_histogram) one inside the other, the metric aggregations (sum, count) inside each of them (a terms
aggregation ordered by a metric needs it as its own child).
This does the same for the aggregation types the collection's saved objects use, and reads the answer back as
``{(bucket key, ...): {metric id: value}}`` rows.
"""

import json

INTERVALS = {"h": "1h", "d": "1d", "m": "1m", "w": "1w"}


def fields_of(obj):
    """Every index field a saved object uses (aggregation fields, filter keys, columns, sort, time field)."""
    out = set()
    attrs = obj["attributes"]
    if obj["type"] == "index-pattern":
        out.add(attrs["timeFieldName"])
    if "visState" in attrs:
        for agg in json.loads(attrs["visState"])["aggs"]:
            if "field" in agg["params"]:
                out.add(agg["params"]["field"])
    source = json.loads(attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
    for item in source.get("filter", []):
        out.add(item["meta"]["key"])
    out.update(attrs.get("columns", []))
    out.update(name for name, _order in attrs.get("sort", []))
    return out


def search_body(obj, time_field, since=None):
    state = json.loads(obj["attributes"]["visState"])
    source = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    filters = [item["query"] for item in source.get("filter", []) if not item["meta"].get("disabled")]
    if since is not None:
        filters.append({"range": {time_field: {"gte": since, "format": "epoch_second"}}})
    metrics = [a for a in state["aggs"] if a["schema"] == "metric" and a["enabled"]]
    buckets = [a for a in state["aggs"] if a["schema"] != "metric" and a["enabled"]]
    metric_aggs = {}
    for agg in metrics:
        if agg["type"] == "sum":
            metric_aggs[agg["id"]] = {"sum": {"field": agg["params"]["field"]}}
        elif agg["type"] != "count":
            raise ValueError("aggregation type %s is not handled here" % agg["type"])
    inner = metric_aggs
    for agg in reversed(buckets):
        params = agg["params"]
        if agg["type"] == "terms":
            body = {"terms": {"field": params["field"], "size": params["size"]}}
            order_by = params.get("orderBy")
            if order_by in metric_aggs:
                body["terms"]["order"] = {order_by: params["order"]}
            elif order_by == "1":  # count metric
                body["terms"]["order"] = {"_count": params["order"]}
        elif agg["type"] == "date_histogram":
            body = {"date_histogram": {"field": params["field"], "fixed_interval": INTERVALS[params["interval"]],
                                       "min_doc_count": params.get("min_doc_count", 1)}}
        else:
            raise ValueError("bucket aggregation %s is not handled here" % agg["type"])
        # the metrics sit at every level, as Kibana puts them: a terms aggregation orders by its own child
        body["aggs"] = dict(metric_aggs, **inner)
        if not body["aggs"]:
            del body["aggs"]
        inner = {agg["id"]: body}
    return {"size": 0, "query": {"bool": {"filter": filters}}, "aggs": inner}, buckets, metrics


def rows(answer, buckets, metrics):
    """``{(key, ...): {metric id: value}}`` (count metrics as doc_count)."""
    out = {}

    def walk(node, keys, depth):
        if depth == len(buckets):
            values = {}
            for agg in metrics:
                values[agg["id"]] = node["doc_count"] if agg["type"] == "count" else node[agg["id"]]["value"]
            out[tuple(keys)] = values
            return
        for bucket in node[buckets[depth]["id"]]["buckets"]:
            walk(bucket, keys + [bucket.get("key_as_string", bucket["key"])
                                 if buckets[depth]["type"] != "date_histogram" else bucket["key"]], depth + 1)

    walk(dict(answer["aggregations"], doc_count=answer["hits"]["total"]["value"]), [], 0)
    return out

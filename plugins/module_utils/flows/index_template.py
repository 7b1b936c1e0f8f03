# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Elasticsearch/OpenSearch index template for flow records, built from the IPFIX registry.

Every element of ``ipfix.registry.ELEMENTS`` gets a field mapping from its abstract data type: addresses
``ip``, names (strings) ``keyword``, counters and other integers ``long``, times ``date`` (epoch seconds or
milliseconds), booleans ``boolean``. The flow aggregator's Elasticsearch sink installs it; the ELK helper reuses
``index_template()`` for its own pipeline.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.registry import ELEMENTS

_TYPES = {
    "ipv4Address": {"type": "ip"},
    "ipv6Address": {"type": "ip"},
    "string": {"type": "keyword", "ignore_above": 1024},
    "macAddress": {"type": "keyword"},
    "dateTimeSeconds": {"type": "date", "format": "epoch_second"},
    "dateTimeMilliseconds": {"type": "date", "format": "epoch_millis"},
    "dateTimeMicroseconds": {"type": "long"},
    "dateTimeNanoseconds": {"type": "long"},
    "boolean": {"type": "boolean"},
    "float32": {"type": "double"},
    "float64": {"type": "double"},
    "octetArray": {"type": "keyword", "index": False},
}
_INTEGER = ("unsigned8", "unsigned16", "unsigned32", "unsigned64", "signed8", "signed16", "signed32", "signed64")


def field_mapping(data_type):
    """Mapping of one field from its RFC 7012 abstract data type (``long`` for every integer type)."""
    if data_type in _INTEGER:
        return {"type": "long"}
    return dict(_TYPES.get(data_type, {"type": "keyword"}))


def properties(elements=None):
    """``{element name: mapping}`` for every element (default: the whole registry)."""
    return {element.name: field_mapping(element.data_type) for element in (elements or ELEMENTS)}


def index_template(index_patterns, elements=None, shards=1, replicas=0, priority=100):
    """Body of ``PUT _index_template/<name>`` (composable template) for the given index patterns.

    Unknown fields are mapped by a dynamic template as ``keyword`` so a record carrying an element the
    registry does not know cannot turn a later field into the wrong type.
    """
    if isinstance(index_patterns, str):
        index_patterns = [index_patterns]
    return {
        "index_patterns": list(index_patterns),
        "priority": priority,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas},
            "mappings": {
                "dynamic_templates": [{"unknown_as_keyword": {"match_mapping_type": "string",
                                                              "mapping": {"type": "keyword"}}}],
                "properties": properties(elements),
            },
        },
    }

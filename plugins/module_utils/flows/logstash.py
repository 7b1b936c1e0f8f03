# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logstash netflow codec definitions and pipeline for flow records, generated from the IPFIX registry.

``ipfix_definitions()`` gives the codec's ``ipfix_definitions`` file: ``{enterprise: {element id: [type,
name]}}`` for every element of ``ipfix.registry.ELEMENTS`` (IANA 0, reverse IANA 29305, Antrea 56506), so the
codec names each field exactly as the index template (flows/index_template.py) maps it. The codec merges this
file over its own definitions one enterprise at a time (a shallow merge): with ``enterprises`` including 0 our
IANA list replaces the codec's, so every IANA element we send has our name and type, and an IANA element the
registry does not know is no longer decoded; leave 0 out to keep the codec's IANA list.

Types, as the codec reads them: an integer N means "unsigned, N bytes by default, the template's length when
it differs" (reduced-size encoding, RFC 7011 section 6.2); ``:int8``..``:int64``, ``:ip4_addr``, ``:ip6_addr``,
``:mac_addr``, ``:string`` (variable length handled by the codec), ``:float``/``:double``, ``:skip``
(octetArray: not decoded). dateTime elements are unsigned integers of their width; the codec turns
``flow(Start|End)(Milli|Micro|Nano)seconds`` into ISO-8601 strings by name, which the pipeline's filter turns
back into epoch milliseconds for the template's ``epoch_millis`` dates.

``pipeline()`` renders the whole pipeline: UDP and TCP inputs with the codec, a filter that moves every field
from the codec's target to the top level (the names the index template has), and the elasticsearch output.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.registry import ANTREA_PEN, IANA, REVERSE_PEN, ELEMENTS

ENTERPRISES = (IANA, REVERSE_PEN, ANTREA_PEN)

# RFC 7012 abstract data type -> the codec's type (integer = unsigned of that many bytes by default)
CODEC_TYPES = {
    "unsigned8": 1, "unsigned16": 2, "unsigned32": 4, "unsigned64": 8,
    "signed8": ":int8", "signed16": ":int16", "signed32": ":int32", "signed64": ":int64",
    "float32": ":float", "float64": ":double", "boolean": 1,
    "ipv4Address": ":ip4_addr", "ipv6Address": ":ip6_addr", "macAddress": ":mac_addr",
    "string": ":string", "octetArray": ":skip",
    "dateTimeSeconds": 4, "dateTimeMilliseconds": 8, "dateTimeMicroseconds": 8, "dateTimeNanoseconds": 8,
}
# the codec rewrites these (by name) into ISO-8601 strings; back to the unit the index template maps
_CODEC_ISO_DATES = {"flowStartMilliseconds": 1000, "flowEndMilliseconds": 1000,
                    "flowStartMicroseconds": 1000000, "flowEndMicroseconds": 1000000,
                    "flowStartNanoseconds": 1000000000, "flowEndNanoseconds": 1000000000}

DEFAULT_TARGET = "netflow"


class LogstashConfigError(ValueError):
    pass


def codec_type(data_type):
    """The codec's type for an RFC 7012 abstract data type (unknown types are skipped, not guessed)."""
    return CODEC_TYPES.get(data_type, ":skip")


def elements(enterprises=ENTERPRISES):
    wanted = set(enterprises)
    unknown = wanted - set(ENTERPRISES)
    if unknown:
        raise LogstashConfigError("enterprises: %s not in the registry's %s" % (sorted(unknown), list(ENTERPRISES)))
    return [element for element in ELEMENTS if element.enterprise in wanted]


def ipfix_definitions(enterprises=ENTERPRISES):
    """``{enterprise: {element_id: [codec type, ':' + name]}}`` for the registry's elements."""
    out = {}
    for element in elements(enterprises):
        definition = [codec_type(element.data_type), ":" + element.name]
        out.setdefault(element.enterprise, {})[element.element_id] = definition
    return out


def ipfix_definitions_yaml(enterprises=ENTERPRISES):
    """The definitions as the YAML file the codec loads (Ruby symbols written as ``:name``)."""
    lines = ["# Generated from netdiag.tracekit's IPFIX element registry (plugins/module_utils/ipfix/registry.py).",
             "# Do not edit: regenerate with the netdiag.tracekit.logstash_ipfix_definitions filter.", "---"]
    for enterprise, by_id in sorted(ipfix_definitions(enterprises).items()):
        lines.append("%d:" % enterprise)
        for element_id, (kind, name) in sorted(by_id.items()):
            lines.append("  %d:" % element_id)
            lines.append("  - %s" % kind)
            lines.append("  - %s" % name)
    return "\n".join(lines) + "\n"


def field_names(enterprises=ENTERPRISES):
    return [element.name for element in elements(enterprises)]


def iso_date_fields(enterprises=ENTERPRISES):
    """``{field: units per second}`` of the fields the codec turns into ISO strings (the template maps numbers)."""
    return dict((name, _CODEC_ISO_DATES[name]) for name in field_names(enterprises) if name in _CODEC_ISO_DATES)


def _quote(text):
    return json.dumps(str(text))


def pipeline(elasticsearch_hosts, index="flows", definitions_path="/usr/share/logstash/definitions/ipfix.yml",
             port=4739, target=DEFAULT_TARGET, enterprises=ENTERPRISES, user="", password="", cacert="",
             ilm_policy=""):
    """The Logstash pipeline (``.conf`` text) for flow records.

    ``ilm_policy`` is accepted for the callers' symmetry: the index template attaches the policy, so Logstash's
    own ILM handling stays off either way.
    """
    del ilm_policy
    if not elasticsearch_hosts:
        raise LogstashConfigError("elasticsearch_hosts: give at least one URL, e.g. http://elasticsearch:9200")
    if not 0 < int(port) < 65536:
        raise LogstashConfigError("port: %r is not 1-65535" % (port,))
    codec = "netflow {\n      versions => [10]\n      target => %s\n      ipfix_definitions => %s\n    }" % (
        _quote(target), _quote(definitions_path))
    out = ["# Generated by netdiag.tracekit (elk_collector role) from the IPFIX element registry.", "input {"]
    for kind in ("udp", "tcp"):
        out.append("  %s {\n    port => %d\n    type => \"ipfix-%s\"\n    codec => %s\n  }"
                   % (kind, int(port), kind, codec))
    out.append("}")
    out.append("filter {")
    renames = ",\n".join("      %s => %s" % (_quote("[%s][%s]" % (target, name)), _quote(name))
                         for name in field_names(enterprises))
    out.append("  mutate {\n    rename => {\n%s\n    }\n  }" % renames)
    iso = iso_date_fields(enterprises)
    if iso:
        units = ", ".join("%s => %d" % (_quote(name), unit) for name, unit in sorted(iso.items()))
        out.append("  ruby {\n    code => '{ %s }.each { |f, u| v = event.get(f); event.set(f, "
                   "(LogStash::Timestamp.parse_iso8601(v).to_f * u).round) if v.is_a?(String) }'\n  }" % units)
    out.append("  date {\n    match => [\"flowEndSeconds\", \"UNIX\"]\n  }")
    out.append("  mutate {\n    remove_field => [%s]\n  }" % _quote(target))
    out.append("}")
    es = ["    hosts => %s" % json.dumps(list(elasticsearch_hosts)),
          "    index => %s" % _quote(index + "-%{+YYYY.MM.dd}"),
          "    manage_template => false",
          # the role installs the template and the ILM policy itself; plain daily indices, not a data stream
          "    ilm_enabled => false",
          "    data_stream => false"]
    if user:
        es.append("    user => %s" % _quote(user))
        es.append("    password => %s" % _quote(password))
    if cacert:
        es.append("    ssl_certificate_authorities => [%s]" % _quote(cacert))
    out.append("output {\n  elasticsearch {\n%s\n  }\n}" % "\n".join(es))
    return "\n".join(out) + "\n"

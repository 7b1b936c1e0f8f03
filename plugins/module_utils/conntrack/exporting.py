# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send flows as IPFIX records to one collector, or to one of several picked per flow.

With several collectors (aggregator replicas), ``flow_key.pick_collector`` hashes the flow's normalised
5-tuple, so the source node's and the destination node's records of one connection reach the same aggregator.
The exporter itself (templates, sequence numbers, UDP/TCP/TLS) is plugins/module_utils/ipfix.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackFilterError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.records import ipfix_record

try:
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.exporter import IpfixExporter
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import pick_collector
    HAS_IPFIX = True
    IPFIX_IMPORT_ERROR = None
except ImportError as exc:  # the ipfix package is part of the collection; absent only in a partial build
    IpfixExporter = pick_collector = None
    HAS_IPFIX = False
    IPFIX_IMPORT_ERROR = str(exc)

TRANSPORTS = ("udp", "tcp", "tls")
DEFAULT_PORT = 4739


def check_collector(value):
    """``host:port``, ``[v6]:port`` or ``host`` (port 4739) -> normalised ``host:port``."""
    text = str(value).strip()
    if not text:
        raise ConntrackFilterError("collector: an empty collector address; give host:port, e.g. 192.0.2.10:4739")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConntrackFilterError("collector: %r is not host:port or [IPv6]:port" % (value,))
        port = rest[1:] if rest else str(DEFAULT_PORT)
        shown = "[%s]" % host
    elif text.count(":") > 1:
        raise ConntrackFilterError("collector: %r: write an IPv6 collector as [address]:port" % (value,))
    else:
        host, _sep, port = text.partition(":")
        port = port or str(DEFAULT_PORT)
        shown = host
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConntrackFilterError("collector: %r is not host:port with a port 1-65535" % (value,))
    return "%s:%d" % (shown, int(port))


class FlowExporter(object):
    """One IpfixExporter per collector, opened on first use; ``export(flows)`` sends each flow's record."""

    def __init__(self, collectors, transport="udp", observation_domain_id=0, ca=None, certificate=None, key=None,
                 timeout=5):
        if transport not in TRANSPORTS:
            raise ConntrackFilterError("transport: %r is not one of %s" % (transport, ", ".join(TRANSPORTS)))
        if transport != "tls" and (ca or certificate or key):
            raise ConntrackFilterError("ca, certificate and key are for transport tls, not %s" % transport)
        self.collectors = [check_collector(c) for c in collectors]
        if not self.collectors:
            raise ConntrackFilterError("IPFIX output needs a collector (host:port)")
        if not HAS_IPFIX:
            raise ConntrackFilterError("IPFIX output needs plugins/module_utils/ipfix of this collection, which is "
                                       "missing from this build (%s)" % IPFIX_IMPORT_ERROR)
        self.options = dict(transport=transport, observation_domain_id=observation_domain_id, ca=ca,
                            certificate=certificate, key=key, timeout=timeout)
        self.exporters = {}
        self.per_collector = dict((c, 0) for c in self.collectors)

    def _exporter(self, collector):
        exporter = self.exporters.get(collector)
        if exporter is None:
            exporter = IpfixExporter(collector=collector, **self.options)
            self.exporters[collector] = exporter
        return exporter

    def connect(self):
        """Open every collector now (TCP/TLS fail here, clearly, before any flow is read)."""
        for collector in self.collectors:
            self._exporter(collector)

    def export(self, flows, now=None):
        now = time.time() if now is None else now
        batches = {}
        for flow in flows:
            record = ipfix_record(flow, now)
            collector = self.collectors[0] if len(self.collectors) == 1 else pick_collector(record, self.collectors)
            batches.setdefault(collector, []).append(record)
        for collector, records in batches.items():
            self._exporter(collector).export(records)
            self.per_collector[collector] += len(records)
        return sum(len(r) for r in batches.values())

    def close(self):
        """Close every exporter; return ``{collector: counters + records picked}``."""
        out = {}
        for collector in self.collectors:
            exporter = self.exporters.get(collector)
            counters = {}
            if exporter is not None:
                try:
                    exporter.close()
                finally:
                    counters = dict(getattr(exporter, "counters", {}) or {})
            counters["flows"] = self.per_collector.get(collector, 0)
            out[collector] = counters
        return out

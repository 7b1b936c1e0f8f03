# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Select correlated flow records (dicts keyed by IPFIX element names) by endpoint, address, port or a
JMESPath expression; used by the select_flows filter and playbooks/collect_flows.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

_ADDRESSES = ("sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
              "destinationClusterIPv4", "destinationClusterIPv6")
_NAMES = ("sourcePodName", "destinationPodName", "sourceNodeName", "destinationNodeName")


class FlowSelectError(TracekitError):
    """A selection argument is wrong (not an address, a JMESPath syntax error...)."""


def _canonical(address):
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise FlowSelectError("%r is not an IP address" % (address,))


def select_flows(flows, endpoint=None, address=None, port=None, query=None):
    """Flows matching every given criterion, in their order.

    ``endpoint``: an address (either side, or the service ClusterIP) or a pod or node name (either side);
    ``address``: an address on either side; ``port``: a transport port on either side or the service port;
    ``query``: a JMESPath expression applied to the list last (it must give a list).
    """
    if not isinstance(flows, list) or not all(isinstance(flow, dict) for flow in flows):
        raise FlowSelectError("expected a list of flow records (dicts), got %s" % type(flows).__name__)
    out = flows
    if address is not None:
        wanted = _canonical(address)
        out = [f for f in out if any(f.get(name) == wanted for name in _ADDRESSES)]
    if endpoint is not None:
        try:
            wanted = _canonical(endpoint)
        except FlowSelectError:
            out = [f for f in out if any(f.get(name) == endpoint for name in _NAMES)]
        else:
            out = [f for f in out if any(f.get(name) == wanted for name in _ADDRESSES)]
    if port is not None:
        fields = ("sourceTransportPort", "destinationTransportPort", "destinationServicePort")
        out = [f for f in out if port in [f.get(name) for name in fields]]
    if query:
        try:
            import jmespath
        except ImportError:
            raise FlowSelectError("a JMESPath query needs the jmespath Python package on the controller")
        try:
            out = jmespath.search(query, out)
        except jmespath.exceptions.JMESPathError as exc:
            raise FlowSelectError("JMESPath query %r: %s" % (query, exc))
        if out is None:
            out = []
        if not isinstance(out, list):
            raise FlowSelectError("JMESPath query %r gave a %s, not a list of flows" % (query, type(out).__name__))
    return out

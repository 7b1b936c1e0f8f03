# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: kernel_observations
author: netdiag.tracekit developers (@netdiag)
version_added: 0.1.0
short_description: Keep the nettrace events that belong to a probe and turn them into runbook observations
description:
  - Takes the C(events) of M(netdiag.tracekit.nettrace) from one node and the probe that
    M(netdiag.tracekit.packet_inject) sent. Keeps the events of the probe, recognised by its tag (IPv4 ID
    or IPv6 flow label, and DSCP) or by its 5-tuple and the reverse one. Turns them into observations for
    the M(netdiag.tracekit.diagnose) filter. A drop becomes C(Dropped), a reset sent becomes C(Rejected),
    a reset received becomes C(Received), a socket error becomes C(Rejected), and a retransmission
    becomes C(Sent).
  - Leaves out the artifacts of probing. The source's kernel has no socket for the raw probe, so it drops
    the answers and resets a SYN-ACK there.
options:
  _input:
    description: The C(events) list returned by M(netdiag.tracekit.nettrace).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - netdiag.tracekit.observations
  - netdiag.tracekit.observations.endpoints
  - netdiag.tracekit.observations.probe
"""

EXAMPLES = r"""
- name: Observations of the probe on this node
  ansible.builtin.set_fact:
    node_observations: >-
      {{ (capture.events | netdiag.tracekit.kernel_observations(node=inventory_hostname, probe=probe.probe,
          src=src_ep, dst=dst_ep)).observations }}
"""

RETURN = r"""
_value:
  description: The observations and how many events were left out.
  type: dict
  contains:
    observations:
      description: C({node, netns, endpoint, component, action, reason, time, source, detail, direction, event_type}).
      type: list
      elements: dict
    ignored:
      description: Events that were not the probe's, or were artifacts of probing.
      type: int
"""

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.kernel_observations import kernel_observations


def _kernel_observations(events, **kwargs):
    args = validate_filter_args("kernel_observations", DOCUMENTATION, events, kwargs)
    observations, ignored = kernel_observations(args["_input"], args["node"], args["probe"], args["src"], args["dst"],
                                                args["netns_endpoints"] or {}, args["node_netns"],
                                                args["aliases"] or [])
    return {"observations": observations, "ignored": ignored}


class FilterModule(object):
    def filters(self):
        return {"kernel_observations": _kernel_observations}

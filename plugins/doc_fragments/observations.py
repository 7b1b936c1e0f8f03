# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What every observation filter (kernel_observations, conntrack_observations, nftrace_observations) is
    # given besides its input: where the input comes from. The filters check their arguments against these
    # too (plugin_utils/filter_args.py merges the fragments).
    DOCUMENTATION = r"""
options:
  node:
    description: Inventory host the input comes from.
    type: str
    required: true
  netns_endpoints:
    description: Namespace name to endpoint name, to name the pod each observation was made in.
    type: dict
  node_netns:
    description: The namespace that plays this node's root namespace (the lab's C(tracekit_netns)).
    type: str
"""

    # The two endpoints of the runbook: the observation filters and the diagnose filter take them.
    ENDPOINTS = r"""
options:
  src:
    description: The source endpoint, as M(netdiag.tracekit.resolve_endpoint) returns it.
    type: dict
    required: true
  dst:
    description: The destination endpoint, as M(netdiag.tracekit.resolve_endpoint) returns it.
    type: dict
    required: true
"""

    # The observation filters that keep what belongs to one probe.
    PROBE = r"""
options:
  probe:
    description: The C(probe) returned by M(netdiag.tracekit.packet_inject).
    type: dict
    required: true
  aliases:
    description:
      - Addresses the destination may be translated to (service backends), so what is seen of them counts as the
        probe's.
    type: list
    elements: str
"""

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The inventory a probe is planned from (docs/inventory.md): the filters that plan probes (probe_plan,
    # compliance_plan) take it; they check their arguments against it too (plugin_utils/filter_args.py).
    DOCUMENTATION = r"""
options:
  endpoints:
    description: The inventory's C(tracekit_endpoints).
    type: dict
  nodes:
    description: Node host to C({netns, ips}) for every host of C(tracekit_nodes).
    type: dict
    required: true
  services:
    description: The inventory's C(tracekit_services).
    type: dict
"""

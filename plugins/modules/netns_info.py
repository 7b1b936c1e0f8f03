#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netns_info
short_description: Find the network namespaces of this node that hold some addresses (netns auto)
version_added: 0.2.0
description:
  - A pod's network namespace is not in the Kubernetes API, but its address is. This module finds, on the node,
    the namespace whose interfaces carry each address of O(addresses).
  - It looks at the named namespaces (C(/run/netns), C(/var/run/netns)) and at every process's
    C(/proc/PID/ns/net), de-duplicated by inode, and dumps each one's addresses through an rtnetlink socket
    opened inside it; nothing is forked per namespace, so hundreds of namespaces take tens of milliseconds.
  - Each namespace found is given as RV(found[].spec), the value to pass as C(netns) to the other modules
    (M(netdiag.tracekit.packet_inject), M(netdiag.tracekit.nettrace)), that is its C(ip netns) name, or else
    its inode.
  - This is what C(diagnose_drop.yml) runs once per node for the endpoints whose C(netns) is C(auto).
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  addresses:
    description: IPv4 or IPv6 addresses (a prefix length is ignored) whose namespaces to find.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: It only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux only.
notes:
  - Needs root (CAP_SYS_ADMIN to enter namespaces, and to read other processes' C(/proc/PID/ns/net)).
  - On a healthy node an address lives in one namespace. When several hold it (loopback addresses, or copies
    of one lab), every holder is listed and RV(ambiguous) names the address.
requirements:
  - pyroute2 (optional; lists the named namespaces)
seealso:
  - module: netdiag.tracekit.packet_inject
"""

EXAMPLES = r"""
- name: Which namespaces hold these pod addresses?
  netdiag.tracekit.netns_info:
    addresses: [10.244.1.5, "fd00:10:244:1::5"]
  become: true
  register: where

- name: Send a probe from the pod that owns 10.244.1.5
  netdiag.tracekit.packet_inject:
    netns: "{{ where.found['10.244.1.5'][0].spec }}"
    dst: 10.244.2.7
    dst_port: 8080
  become: true
"""

RETURN = r"""
found:
  description: For each address, the namespaces that hold it (an empty list when none does).
  returned: always
  type: dict
  sample:
    10.244.1.5:
      - {spec: cni-6f1e0b2a-9d7c-4d4e-8d1f-3c2b1a0f9e8d, name: cni-6f1e0b2a-9d7c-4d4e-8d1f-3c2b1a0f9e8d,
         path: /run/netns/cni-6f1e0b2a-9d7c-4d4e-8d1f-3c2b1a0f9e8d, inode: 4026532815, pid: null}
  contains:
    spec:
      description: What to pass as C(netns) to the other modules (name, or inode when it has no name).
      type: str
    name:
      description: Its C(ip netns) name, or null.
      type: str
    path:
      description: A path to it (under C(/run/netns), or C(/proc/PID/ns/net)).
      type: str
    inode:
      description: Its inode, the number eBPF events carry.
      type: int
    pid:
      description: The process it was found through, for an unnamed namespace.
      type: int
missing:
  description: Addresses no namespace holds.
  returned: always
  type: list
  elements: str
ambiguous:
  description: Addresses more than one namespace holds.
  returned: always
  type: list
  elements: str
scanned:
  description: How many namespaces were looked at.
  returned: always
  type: int
seconds:
  description: How long the search took.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns_finder


def main():
    module = AnsibleModule(argument_spec=dict(addresses=dict(type="list", elements="str", required=True)),
                           supports_check_mode=True)
    started = time.time()
    try:
        found, scanned = netns_finder.find(module.params["addresses"])
    except netns_utils.NetnsError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot read the namespaces of this node (%s): run it as root" % exc)
    module.exit_json(changed=False, found=found, scanned=scanned, seconds=round(time.time() - started, 4),
                     missing=sorted(a for a, holders in found.items() if not holders),
                     ambiguous=sorted(a for a, holders in found.items() if len(holders) > 1))


if __name__ == "__main__":
    main()

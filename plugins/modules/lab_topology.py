#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: lab_topology
short_description: Build or remove the built-in namespace lab (nodes, pods, services, policy faults)
version_added: 0.1.0
description:
  - Builds a small Kubernetes-like cluster out of network namespaces on the local machine, for demos,
    tests and trying runbooks. A fabric namespace bridges the nodes' uplinks; each node namespace has a
    C(cni0) bridge for its pods, routes to the other nodes' pod CIDRs (IPv4 and IPv6), and an nftables table
    that DNATs service VIPs to backend pods (so traffic has conntrack and NAT) and enforces per-pod policy.
  - Each pod namespace has a veth into its node and a listener on its open ports, so a probe to an open
    port is really answered.
  - Faults are realistic constructs, not flags in a simulator. C(policy_drop) adds a forward rule that
    silently drops a protocol/port to a pod, as a NetworkPolicy would. C(policy_reject) rejects it with a
    TCP reset or an ICMP admin-prohibited error. C(missing_route) leaves a node without its route to a pod
    CIDR. C(default_deny) gives a pod an input chain whose policy is drop. C(no_endpoints) is a Service whose
    pods are gone, rejected by every node as kube-proxy does. A closed port needs no fault, since nothing listens on it.
  - Idempotent. With O(state=absent) everything whose name starts with O(prefix) is removed.
  - The role M(netdiag.tracekit.lab) wraps this module and writes the inventory for the runbooks.
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  state:
    description: Whether the lab should exist.
    type: str
    choices: [present, absent]
    default: present
  prefix:
    description:
      - Prefix of every namespace, interface and file of the lab, so several labs can coexist.
      - 1 to 12 letters, digits or dashes.
    type: str
    default: tklab
  run_dir:
    description: Folder for the lab's state and listener pid files. Default C(/run/netdiag-tracekit-lab/<prefix>).
    type: path
  underlay_cidr:
    description: IPv4 network of the nodes' uplinks; node N gets host address N.
    type: str
    default: 192.168.77.0/24
  underlay_cidr6:
    description: IPv6 network of the nodes' uplinks.
    type: str
    default: fd00:77::/64
  nodes:
    description:
      - The nodes, each with its pod CIDRs and pods. Required with O(state=present).
      - "Each item: C(name), C(pod_cidrs) (list of IPv4/IPv6 CIDRs), C(pods) (list of C(name), C(ips),
        C(listen) with C(tcp) and C(udp) port lists)."
    type: list
    elements: dict
    default: []
  services:
    description:
      - Service VIPs that every node DNATs to backend pods (random choice), like kube-proxy.
      - "Each item: C(name), C(vip), C(protocol) (tcp or udp), C(port), C(target_port), C(backends) (pod names)."
    type: list
    elements: dict
    default: []
  faults:
    description:
      - Faults to build into the lab.
      - "C(policy_drop) and C(policy_reject): C(pod), C(protocol) (tcp/udp), C(port), optional C(name)
        (the policy name reported by diagnostics)."
      - "C(missing_route): C(node), C(cidr) (a pod CIDR of another node)."
      - "C(default_deny): C(pod), optional C(name) - the pod's own input chain has policy drop (commented with
        the policy's name), as a default-deny NetworkPolicy enforced in the pod's namespace."
      - "C(no_endpoints): C(name) (namespace/service), C(vip), C(protocol), C(port), optional C(port_name) - every
        node rejects new connections to it through kube-proxy's nftables-mode shape (table C(kube-proxy), verdict
        map C(no-endpoint-services), chain C(reject-chain)); the inventory lists the service with no backends."
    type: list
    elements: dict
    default: []
  python:
    description: Interpreter written into the inventory for the lab's nodes. Default, the one running this module.
    type: str
  ovn:
    description:
      - Model the lab for OVN too. Endpoints in the inventory get C(ovn_port), C(ovn_switch) and
        C(ovn_gateway_mac), and RV(ovn_mirror) gives the inputs of the role M(netdiag.tracekit.lab_ovn).
      - Pods and node gateways always carry the MACs OVN-Kubernetes would give them (C(0a:58:) and the IPv4
        address in hex), so port security in OVN matches the lab's packets.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs root, iproute2 and nftables. Packets stay inside the lab's namespaces.
"""

EXAMPLES = r"""
- name: Build a two-node lab with a policy that drops TCP/5432 to one pod
  netdiag.tracekit.lab_topology:
    prefix: tklab
    nodes:
      - name: node1
        pod_cidrs: [10.244.1.0/24, "fd00:10:244:1::/64"]
        pods:
          - {name: n1-pod1, ips: [10.244.1.11, "fd00:10:244:1::11"], listen: {tcp: [8080]}}
      - name: node2
        pod_cidrs: [10.244.2.0/24, "fd00:10:244:2::/64"]
        pods:
          - {name: n2-pod1, ips: [10.244.2.11, "fd00:10:244:2::11"], listen: {tcp: [8080, 5432]}}
    faults:
      - {type: policy_drop, pod: n2-pod1, protocol: tcp, port: 5432, name: deny-postgres}
  register: lab

- name: Remove it
  netdiag.tracekit.lab_topology:
    prefix: tklab
    state: absent
"""

RETURN = r"""
changes:
  description: What was created or changed (or would be, in check mode).
  returned: always
  type: list
  elements: str
lab:
  description: The full plan of the lab (namespaces, interfaces, addresses, routes, services, faults).
  returned: when O(state=present)
  type: dict
inventory:
  description: An Ansible inventory for the runbooks (group C(tracekit_nodes), C(tracekit_endpoints)).
  returned: when O(state=present)
  type: dict
ovn_mirror:
  description: The lab as OVN-Kubernetes would model it, as C(pods), C(routers), C(policies) and C(load_balancers)
    in the form of the M(netdiag.tracekit.lab_ovn) role's variables.
  returned: when O(ovn=true)
  type: dict
"""

import os
import sys

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError
from ansible_collections.netdiag.tracekit.plugins.module_utils.lab.topology import (
    RUN_ROOT, Applier, LabError, destroy, inventory, ovn_mirror, plan)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            prefix=dict(type="str", default="tklab"),
            run_dir=dict(type="path"),
            underlay_cidr=dict(type="str", default="192.168.77.0/24"),
            underlay_cidr6=dict(type="str", default="fd00:77::/64"),
            nodes=dict(type="list", elements="dict", default=[]),
            services=dict(type="list", elements="dict", default=[]),
            faults=dict(type="list", elements="dict", default=[]),
            python=dict(type="str"),
            ovn=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if os.geteuid() != 0:
        module.fail_json(msg="the lab needs root: it creates network namespaces and nftables rules")
    run_dir = p["run_dir"] or os.path.join(RUN_ROOT, p["prefix"])
    try:
        if p["state"] == "absent":
            changes = destroy(p["prefix"], run_dir, module.check_mode)
            module.exit_json(changed=bool(changes), changes=changes)
        lab = plan(p)
        changes = Applier(lab, run_dir, module.check_mode).apply()
    except (LabError, CliError, KeyError) as exc:
        module.fail_json(msg="lab %s: %s" % (p["prefix"], exc))
    result = dict(changed=bool(changes), changes=changes, lab=lab,
                  inventory=inventory(lab, p["python"] or sys.executable, ovn=p["ovn"]))
    if p["ovn"]:
        result["ovn_mirror"] = ovn_mirror(lab)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

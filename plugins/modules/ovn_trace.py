# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ovn_trace
short_description: Trace a packet through the OVN logical pipeline and name the ACL that dropped it
version_added: 0.1.0
author:
  - netdiag.tracekit developers (@netdiag)
description:
  - Runs C(ovn-trace) for one packet (a microflow) against the OVN Southbound database, parses its output
    (any format) and says whether the packet is delivered, dropped, rejected or could not be traced, where it
    died (datapath, pipeline, table, stage) and why.
  - When an ACL dropped or rejected the packet, reads the ACL from the Northbound database (name, priority,
    direction, match, action, label, severity, external_ids where OVN-Kubernetes records the NetworkPolicy and
    Neutron the security group rule), found through the logical flow's C(stage-hint) as C(ovn-detrace)
    does, or through the ACL name the trace logs.
  - The packet is given either as a raw O(microflow) expression or as typed fields (O(eth_src), O(ip_dst),
    O(protocol), O(dst_port)...) that are validated and turned into an expression such as
    C(inport == "pod1" && eth.src == 0a:58:0a:f4:00:05 && ... && ip4.src == 10.244.0.5 && ip.ttl == 64 && tcp.dst == 5432).
  - C(ovn-trace) runs with an argument list, never through a shell, and no value can change the
    expression's meaning (MAC and IP addresses are parsed, names are checked against a safe character set and
    quoted, numbers are range-checked).
  - C(ovn-trace) prints its own errors (unknown port, unknown datapath, flow parse error) on standard output
    with exit code 0; the module detects them and fails with their text, returning the raw output.
  - The trace reads the databases only; nothing is changed.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - netdiag.tracekit.ovn_db
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same way in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Runs where C(ovn-trace) can reach the Southbound database (a central node, or any node with a remote O(db)).
options:
  datapath:
    description:
      - The logical switch or router (name or UUID) where the packet enters. ovn-trace infers it from
        O(inport) when omitted.
    type: str
  inport:
    description:
      - The logical port the packet enters from (for OVN-Kubernetes C(namespace_podname), for Neutron the
        port UUID). Letters, digits and the characters C(_.:@/+-) only.
      - Required with the typed fields; with O(microflow) it is prepended as C(inport == "...") when given.
    type: str
  microflow:
    description:
      - A raw OVN microflow expression, passed to ovn-trace as one argument. Mutually exclusive with the typed
        fields O(eth_src) to O(tcp_flags).
    type: str
  eth_src:
    description: Source MAC address. Port security drops the packet unless it is the port's own MAC.
    type: str
  eth_dst:
    description: Destination MAC address (the peer's MAC on the same switch, the router port's MAC when routed).
    type: str
  ip_src:
    description: Source IPv4 or IPv6 address (one address, not a network).
    type: str
  ip_dst:
    description:
      - Destination IPv4 or IPv6 address; IPv4 or IPv6 is decided from O(ip_src) and O(ip_dst), which must agree.
    type: str
  protocol:
    description:
      - Transport protocol. C(icmp) is an ICMP echo request (C(icmp4.type == 8)), or an ICMPv6 echo request
        when the addresses are IPv6; C(icmp6) is an ICMPv6 echo request (C(icmp6.type == 128)).
    type: str
    choices: [tcp, udp, icmp, icmp6]
  src_port:
    description: TCP or UDP source port (needs O(protocol) tcp or udp).
    type: int
  dst_port:
    description: TCP or UDP destination port (needs O(protocol) tcp or udp).
    type: int
  ttl:
    description:
      - IP TTL (hop limit for IPv6). Defaults to 64 whenever the packet is IP, since ovn-trace otherwise
        traces TTL 0, which the first router drops.
    type: int
  tcp_flags:
    description:
      - TCP flags, as names (C(syn), C(ack), C(fin), C(rst), C(psh), C(urg), C(ece), C(cwr), C(ns)) or numbers,
        OR-ed into C(tcp.flags == 0x...). Needs O(protocol=tcp).
    type: list
    elements: str
  ct:
    description:
      - Connection-tracking states ovn-trace assumes, one list item for each C(ct_next)/C(ct_lb) it meets in
        order, each a comma-separated set of C(trk new est rel rpl inv dnat snat) (for example C(new) or
        C(est,rpl)); each item becomes one C(--ct) option. ovn-trace assumes C(est) (a committed connection)
        when omitted.
    type: list
    elements: str
  lb_dst:
    description:
      - The load-balancer backend ovn-trace should pick (C(IP) or C(IP:PORT), C([IPv6]:PORT)); by default it picks
        the first backend.
    type: str
  format:
    description:
      - ovn-trace's output format. C(detailed) shows every logical flow with its UUID, which the ACL lookup
        through the Southbound database needs; C(summary) and C(minimal) allow the lookup by ACL name only.
    type: str
    choices: [detailed, summary, minimal]
    default: detailed
  friendly_names:
    description:
      - C(true) shows ports and datapaths by their friendly names (Neutron's C(neutron:port_name)), C(false)
        by their real names or UUIDs. ovn-trace's default (friendly) when omitted.
    type: bool
  ovs:
    description:
      - Also show the OpenFlow flows ovn-controller installed for each logical flow (C(ovn-trace --ovs)). Needs
        ovn-controller and br-int on the host that runs the module.
    type: bool
    default: false
  ovs_remote:
    description:
      - The br-int OpenFlow management socket for O(ovs), e.g. C(unix:/var/run/openvswitch/br-int.mgmt).
        ovn-trace's default when omitted.
    type: str
  acl_lookup:
    description:
      - Look the ACL up in the Northbound database when an ACL dropped or rejected the packet. A failed
        lookup does not fail the module; it leaves RV(acl) null and says why in RV(acl_notes).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for ovn-trace (and for each database query of the ACL lookup).
    type: int
    default: 30
  ovn_trace_path:
    description:
      - Path to ovn-trace. Searched on the PATH when omitted. C(ovn-sbctl) and C(ovn-nbctl) are taken from the
        same directory when they are there.
    type: path
  node:
    description:
      - The node name recorded in RV(observations) (the inventory name, for diagnose_drop); this host's name
        when omitted.
    type: str
requirements:
  - ovn-trace, ovn-sbctl and ovn-nbctl (OVN 2.7 or later; the C(ovn-central) or C(ovn-common) package)
  - netaddr (Python)
notes:
  - In OVN-Kubernetes the databases run in the C(ovnkube-db)/C(ovnkube-node) pods; run the module where the
    sockets are reachable, or give O(db) and O(nb_db) as C(ssl:) remotes with the client certificates.
seealso:
  - name: ovn-trace(8)
    description: The tool this module runs.
    link: https://docs.ovn.org/en/latest/ref/ovn-trace.8.html
"""

EXAMPLES = r"""
- name: Why can't pod1 reach the database on 5432?
  netdiag.tracekit.ovn_trace:
    db: unix:/var/run/ovn/ovnsb_db.sock
    nb_db: unix:/var/run/ovn/ovnnb_db.sock
    inport: prod_pod1
    eth_src: 0a:58:0a:f4:00:05
    eth_dst: 0a:58:0a:f4:01:07
    ip_src: 10.244.0.5
    ip_dst: 10.244.1.7
    protocol: tcp
    dst_port: 5432
    ct: [new, new]
  register: ovn

- name: Report the NetworkPolicy behind the drop
  ansible.builtin.debug:
    msg: >-
      {{ ovn.trace.verdict }} at {{ ovn.trace.drop.stage | default('-') }} by ACL
      {{ ovn.acl.name | default('-') }} ({{ ovn.acl.external_ids['k8s.ovn.org/name'] | default('-') }})

- name: A raw microflow on a given datapath, over SSL
  netdiag.tracekit.ovn_trace:
    db: ssl:192.0.2.10:6642
    nb_db: ssl:192.0.2.10:6641
    private_key: /etc/ovn/ovnsb-privkey.pem
    certificate: /etc/ovn/ovnsb-cert.pem
    ca_cert: /etc/ovn/cacert.pem
    datapath: sw0
    microflow: 'inport == "sw0-port1" && eth.src == 50:54:00:00:00:01 && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1'
    format: summary

- name: IPv6 ping through a router, choosing the load-balancer backend
  netdiag.tracekit.ovn_trace:
    inport: sw0-port1
    eth_src: 50:54:00:00:00:01
    eth_dst: 00:00:00:00:ff:01
    ip_src: fd00::11
    ip_dst: fd00:1::12
    protocol: icmp6
"""

RETURN = r"""
command:
  description: The ovn-trace command that ran, as an argument list (no shell).
  returned: when ovn-trace ran
  type: list
  elements: str
  sample: [/usr/bin/ovn-trace, --db=unix:/run/ovn/ovnsb_db.sock, --detailed, --, 'inport == "sw0-port1" && tcp.dst == 22']
expression:
  description: The microflow expression that was traced.
  returned: always
  type: str
  sample: inport == "sw0-port1" && eth.src == 50:54:00:00:00:01 && ip4 && ip.ttl == 64 && tcp
stdout:
  description: ovn-trace's raw output (also on failure, when it ran).
  returned: when ovn-trace ran
  type: str
rc:
  description: ovn-trace's exit code (0 also when it printed an error such as an unknown port).
  returned: when ovn-trace ran
  type: int
  sample: 0
stderr:
  description: ovn-trace's standard error.
  returned: when ovn-trace ran
  type: str
verdict:
  description: The trace's verdict, C(delivered), C(dropped), C(rejected), C(error) or C(partial) (the same as C(trace.verdict)).
  returned: when ovn-trace ran
  type: str
  sample: dropped
trace:
  description:
    - The parsed trace (see the C(netdiag.tracekit.parse_ovn_trace) filter) with the keys C(format), C(flow),
      C(verdict), C(outputs), C(hops), C(drop) and C(errors).
  returned: when ovn-trace ran
  type: dict
  sample:
    format: detailed
    verdict: dropped
    outputs: []
    drop: {datapath: sw1, pipeline: egress, table: 4, stage: ls_out_acl, uuid: 3f1637db, reason: drop}
    errors: []
acl:
  description: The Northbound ACL that dropped or rejected the packet, or null (not an ACL, or not found).
  returned: always
  type: dict
  contains:
    uuid: {description: The ACL's Northbound UUID., type: str}
    name: {description: The ACL's name (null when it has none)., type: str}
    priority: {description: ACL priority., type: int}
    direction: {description: C(from-lport) or C(to-lport)., type: str}
    match: {description: The ACL's match expression., type: str}
    action:
      description: The ACL action, C(drop), C(reject), C(allow-related)...
      type: str
    label: {description: The ACL label (0 when unset)., type: int}
    severity:
      description: Log severity, or null.
      type: str
    log: {description: Whether the ACL logs., type: bool}
    tier:
      description: ACL tier (OVN 23.06 and later), or null.
      type: int
    meter:
      description: Log meter, or null.
      type: str
    external_ids:
      description: The ACL's external_ids (OVN-Kubernetes C(k8s.ovn.org/name), Neutron C(neutron:security_group_rule_id)...).
      type: dict
    options: {description: The ACL's options., type: dict}
    port_groups: {description: Port groups the ACL is applied to., type: list, elements: str}
    switches: {description: Logical switches the ACL is applied to directly., type: list, elements: str}
    found_by:
      description: C(stage-hint) (through the logical flow, as ovn-detrace) or C(log-name) (through the logged ACL name).
      type: str
    lflow_uuid: {description: The Southbound logical flow that carried the verdict (with C(stage-hint))., type: str}
  sample:
    name: np-deny-db
    priority: 1001
    direction: to-lport
    match: outport == @pg_db && ip4 && tcp.dst == 5432
    action: drop
    external_ids: {k8s.ovn.org/owner-type: NetworkPolicy, k8s.ovn.org/name: deny-db, k8s.ovn.org/namespace: prod}
    port_groups: [pg_db]
    found_by: stage-hint
acl_notes:
  description: Why the ACL could not be named, or how it was chosen among several.
  returned: always
  type: list
  elements: str
acl_commands:
  description: The ovn-sbctl/ovn-nbctl commands the ACL lookup ran.
  returned: always
  type: list
  elements: list
observations:
  description:
    - The trace as tracekit observations (the records diagnose_drop aggregates), C(component=ovn),
      C(source=ovn-trace), one per step (C(Received), C(Forwarded), C(Delivered), C(Dropped), C(Rejected)); a
      drop's C(reason) names the datapath, stage, logical flow and, when found, the Northbound ACL and the
      policy in its external_ids.
  returned: when ovn-trace ran
  type: list
  elements: dict
  sample:
    - {node: central, component: ovn, action: Dropped, source: ovn-trace, netns: null, endpoint: null, time: null,
       reason: "datapath sw1, stage ls_out_acl, lflow 3f1637db, drop;; ACL np-deny-db (to-lport, priority 1001, drop)
       from NetworkPolicy prod/deny-db"}
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.arg_specs import OVN_DB_ARG_SPEC, with_spec
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError, CliRunner
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.microflow import (
    HAS_NETADDR, FlowError, build_microflow, check_remote, ovn_trace_argv, ssl_args)
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.northbound import AclLookup, describe_acl, find_acl
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import (
    acl_hints, ovn_observations, parse_ovn_trace)

TYPED = ("eth_src", "eth_dst", "ip_src", "ip_dst", "protocol", "src_port", "dst_port", "ttl", "tcp_flags")

ARGUMENT_SPEC = with_spec(
    OVN_DB_ARG_SPEC,
    datapath=dict(type="str"),
    inport=dict(type="str"),
    microflow=dict(type="str"),
    eth_src=dict(type="str"),
    eth_dst=dict(type="str"),
    ip_src=dict(type="str"),
    ip_dst=dict(type="str"),
    protocol=dict(type="str", choices=["tcp", "udp", "icmp", "icmp6"]),
    src_port=dict(type="int"),
    dst_port=dict(type="int"),
    ttl=dict(type="int"),
    tcp_flags=dict(type="list", elements="str"),
    ct=dict(type="list", elements="str"),
    lb_dst=dict(type="str"),
    format=dict(type="str", default="detailed", choices=["detailed", "summary", "minimal"]),
    friendly_names=dict(type="bool"),
    ovs=dict(type="bool", default=False),
    ovs_remote=dict(type="str"),
    acl_lookup=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
    ovn_trace_path=dict(type="path"),
    node=dict(type="str"),
)


class OvnTraceFailed(TracekitError):
    """The trace could not be made or read; ``str()`` is the message for the user."""


def sibling_tool(trace_path, name):
    """ovn-sbctl/ovn-nbctl beside a given ovn-trace, else the name (looked up on the PATH)."""
    if trace_path:
        candidate = os.path.join(os.path.dirname(trace_path), name)
        if os.access(candidate, os.X_OK):
            return candidate
    return name


def check_inputs(params, result):
    """The microflow expression, ovn-trace's arguments, the Northbound remote and the lookup's SSL options."""
    if not HAS_NETADDR:
        raise OvnTraceFailed("the netaddr Python library is required on the host that runs ovn_trace "
                             "(pip install netaddr, or the python3-netaddr package)")
    if params["timeout"] < 1:
        raise OvnTraceFailed("timeout must be at least 1 second, got %d" % params["timeout"])
    try:
        expression = build_microflow(
            inport=params["inport"], microflow=params["microflow"],
            **dict((name, params[name]) for name in TYPED))
        result["expression"] = expression
        args = ovn_trace_argv(params, expression)
        nb_db = check_remote(params["nb_db"], "nb_db")
        lookup_ssl = ssl_args(params, ",".join(r for r in (params["db"], nb_db) if r))
    except FlowError as exc:
        raise OvnTraceFailed("invalid input, ovn-trace not run: %s" % exc)
    return expression, args, nb_db, lookup_ssl


def run_trace(module, params, args, result):
    """Run ovn-trace (also in check mode: it only reads); return its standard output."""
    runner = CliRunner(params["ovn_trace_path"] or "ovn-trace", module=module, timeout=params["timeout"])
    try:
        result["command"] = runner.argv([], tail=args)
    except CliError as exc:
        raise OvnTraceFailed("%s (ovn-trace comes with the ovn-central or ovn-common package)" % exc)
    try:
        rc, out, err = runner.run(tail=args, check_rc=False)
    except CliError as exc:
        result.update(stdout=exc.stdout, stderr=exc.stderr)
        raise OvnTraceFailed(str(exc))
    result.update(rc=rc, stdout=out, stderr=err)
    if rc != 0:
        raise OvnTraceFailed("ovn-trace failed (exit code %d): %s" % (rc, (err or out).strip()[:2000] or "no output"))
    return out


def read_trace(out, expression, result):
    """Parse the trace; ovn-trace prints its own errors on stdout with exit code 0, so check the verdict."""
    try:
        parsed = parse_ovn_trace(out)
    except TracekitError as exc:
        raise OvnTraceFailed("ovn-trace printed output this collection cannot read: %s" % exc)
    result["trace"] = parsed
    result["verdict"] = parsed.get("verdict")
    if parsed.get("verdict") == "error":
        errors = parsed.get("errors") or [out.strip()[:500]]
        raise OvnTraceFailed("ovn-trace could not trace %r: %s" % (expression, "; ".join(errors)))
    return parsed


def name_the_acl(module, params, parsed, out, nb_db, lookup_ssl, result):
    """For a drop or reject, find the Northbound ACL (and the policy in its external_ids) behind it."""
    if not params["acl_lookup"] or parsed.get("verdict") not in ("dropped", "rejected"):
        return
    lookup = AclLookup(sb_db=params["db"], nb_db=nb_db, ssl=lookup_ssl, timeout=params["timeout"],
                       sbctl=sibling_tool(params["ovn_trace_path"], "ovn-sbctl"),
                       nbctl=sibling_tool(params["ovn_trace_path"], "ovn-nbctl"), module=module)
    acl, notes = find_acl(parsed, lookup, stdout=out, acl_hints=acl_hints)
    result.update(acl=acl, acl_notes=notes, acl_commands=lookup.commands)


def trace_observations(params, parsed, acl):
    """The trace as tracekit observations; a drop's reason names the ACL the Northbound database gave."""
    observations = ovn_observations(parsed, node=params["node"] or platform.node())
    if acl:
        # the trace may not name the ACL (unlogged ACLs); the Northbound database does
        for obs in observations:
            if obs["action"] in ("Dropped", "Rejected"):
                obs["reason"] = "%s; %s" % (obs["reason"], describe_acl(acl))
    return observations


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[["microflow", name] for name in TYPED],
        required_one_of=[["inport", "microflow"]],
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, acl=None, acl_notes=[], acl_commands=[])
    try:
        expression, args, nb_db, lookup_ssl = check_inputs(params, result)
        out = run_trace(module, params, args, result)
        parsed = read_trace(out, expression, result)
        name_the_acl(module, params, parsed, out, nb_db, lookup_ssl, result)
    except OvnTraceFailed as exc:
        module.fail_json(msg=str(exc), **result)
    result["observations"] = trace_observations(params, parsed, result["acl"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built-in lab: a small "cluster" of network namespaces on one machine.

A fabric namespace holds a bridge (the underlay switch); each node is a namespace with an uplink to the
fabric, a ``cni0`` bridge for its pods, routes to the other nodes' pod CIDRs and an nftables table that
plays kube-proxy (service DNAT) and the NetworkPolicy enforcer (per-pod forward rules). Each pod is a
namespace with a veth into its node and a small listener on its open ports, so "delivered" is real.

``plan(spec)`` turns the lab description into the objects to create; ``apply(plan, runner)`` creates what
is missing and reports what it changed; ``destroy(prefix)`` removes everything whose name has the prefix.
Every namespace, link and file the lab makes carries the prefix, so several labs can coexist.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import os
import re
import signal
import time
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError, run_argv

NETNS_DIR = "/var/run/netns"
RUN_ROOT = "/run/netdiag-tracekit-lab"
NFT_TABLE = "tracekit_lab"
FAULT_TYPES = ("policy_drop", "policy_reject", "missing_route", "default_deny", "no_endpoints")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9_./:-]{1,63}$")


class LabError(TracekitError):
    pass


# ---------------------------------------------------------------------------------------------------------
# Planning: pure functions from the lab description to the objects it needs.


def _net(value, what):
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise LabError("%s: %r is not a network in CIDR form (%s)" % (what, value, exc))


def _addr(value, what):
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise LabError("%s: %r is not an IP address" % (what, value))


def ovn_k8s_mac(ip):
    """The MAC OVN-Kubernetes gives an address: 0a:58 then the IPv4 address in hex (IPv6: its last 4 bytes)."""
    packed = ipaddress.ip_address(ip).packed[-4:]
    return "0a:58:" + ":".join("%02x" % b for b in packed)


def _ifname(prefix, name):
    """A veth name (at most 15 characters) that is unique for the pod and recognisable."""
    digest = hashlib.sha1(("%s/%s" % (prefix, name)).encode()).hexdigest()[:6]
    return ("v%s" % name.replace("-", ""))[:8] + digest


def plan(spec):
    """Validate the lab description and return the full plan (dict) of what the lab is made of."""
    prefix = _checked_prefix(spec["prefix"])
    nodes = spec.get("nodes") or []
    if not nodes:
        raise LabError("the lab needs at least one node")
    underlay = _net(spec.get("underlay_cidr", "192.168.77.0/24"), "underlay_cidr")
    underlay6 = _net(spec.get("underlay_cidr6", "fd00:77::/64"), "underlay_cidr6")
    out = {"prefix": prefix, "fabric": "%s-fabric" % prefix, "nodes": [], "pods": [], "services": [],
           "faults": []}
    names = set()
    pods_by_name = {}
    for index, node in enumerate(nodes, start=1):
        entry, cidrs = _plan_node(prefix, node, index, underlay, underlay6, names)
        out["nodes"].append(entry)
        for pod in node.get("pods") or []:
            planned = _plan_pod(prefix, pod, entry, cidrs, names)
            out["pods"].append(planned)
            pods_by_name[planned["name"]] = planned
    _plan_routes(out["nodes"])
    for svc in spec.get("services") or []:
        out["services"].append(_plan_service(svc, pods_by_name))
    for fault in spec.get("faults") or []:
        out["faults"].append(_plan_fault(fault, out, pods_by_name))
    _remove_faulted_routes(out)
    return out


def _checked_prefix(prefix):
    """The lab's name prefix, short enough to leave room in namespace and interface names."""
    if not prefix or len(prefix) > 12 or not prefix.replace("-", "").isalnum():
        raise LabError("prefix %r: use 1 to 12 letters, digits or dashes" % prefix)
    return prefix


def _claim_name(names, name, message):
    """Pods and nodes share one name space: refuse a name seen before, else remember it."""
    if name in names:
        raise LabError(message % name)
    names.add(name)


def _plan_node(prefix, node, index, underlay, underlay6, names):
    """A node's namespace, uplink, underlay addresses and pod gateways; returns (entry, pod CIDR networks).
    Its routes to the other nodes are filled in by _plan_routes once every node is known."""
    name = node["name"]
    _claim_name(names, name, "node name %r is used twice")
    cidrs = [_net(c, "node %s pod_cidrs" % name) for c in node.get("pod_cidrs") or []]
    if not cidrs:
        raise LabError("node %s has no pod_cidrs" % name)
    entry = {
        "name": name,
        "netns": "%s-%s" % (prefix, name),
        "uplink": _ifname(prefix, "ul-" + name),
        "underlay_ip": str(underlay.network_address + index),
        "underlay_ip6": str(underlay6.network_address + index),
        "underlay_len": underlay.prefixlen,
        "underlay_len6": underlay6.prefixlen,
        "pod_cidrs": [str(c) for c in cidrs],
        "gateways": ["%s/%d" % (c.network_address + 1, c.prefixlen) for c in cidrs],
        "gateway_mac": ovn_k8s_mac(cidrs[0].network_address + 1),
        "routes": [],
    }
    return entry, cidrs


def _plan_pod(prefix, pod, node, cidrs, names):
    """A pod's namespace, veth, MAC, addresses (each inside one of its node's pod CIDRs) and open ports."""
    pname = pod["name"]
    _claim_name(names, pname, "name %r is used twice (pods and nodes share one name space)")
    ips = [_addr(a, "pod %s" % pname) for a in pod.get("ips") or []]
    if not ips:
        raise LabError("pod %s has no ips" % pname)
    addrs, gws = [], []
    for ip in ips:
        home = [c for c in cidrs if ip in c]
        if not home:
            raise LabError("pod %s address %s is in none of node %s's pod_cidrs %s"
                           % (pname, ip, node["name"], ", ".join(node["pod_cidrs"])))
        addrs.append("%s/%d" % (ip, home[0].prefixlen))
        gws.append(str(home[0].network_address + 1))
    ports = pod.get("listen") or {}
    return {
        "name": pname,
        "node": node["name"],
        "netns": "%s-%s" % (prefix, pname),
        "host_if": _ifname(prefix, pname),
        "mac": ovn_k8s_mac(ips[0]),
        "ips": [str(ip) for ip in ips],
        "addrs": addrs,
        "gateways": gws,
        "tcp": sorted(int(x) for x in ports.get("tcp") or []),
        "udp": sorted(int(x) for x in ports.get("udp") or []),
    }


def _plan_routes(nodes):
    """Every node routes every other node's pod CIDRs via that node's underlay address (same family)."""
    for node in nodes:
        for other in nodes:
            if other is node:
                continue
            for cidr in other["pod_cidrs"]:
                via = other["underlay_ip6"] if ":" in cidr else other["underlay_ip"]
                node["routes"].append({"dst": cidr, "via": via, "node": other["name"]})


def _plan_service(svc, pods_by_name):
    """A service: its VIP and, per backend pod, that pod's address in the VIP's family."""
    vip = _addr(svc["vip"], "service %s" % svc.get("name"))
    backends = []
    for b in svc.get("backends") or []:
        pod = pods_by_name.get(b)
        if pod is None:
            raise LabError("service %s: backend %r is not a pod of the lab" % (svc.get("name"), b))
        ip = [a for a in pod["ips"] if _addr(a, b).version == vip.version]
        if not ip:
            raise LabError("service %s: backend %s has no IPv%d address" % (svc.get("name"), b, vip.version))
        backends.append({"pod": b, "ip": ip[0]})
    if not backends:
        raise LabError("service %s has no backends" % svc.get("name"))
    return {"name": svc["name"], "vip": str(vip), "protocol": svc.get("protocol", "tcp"),
            "port": int(svc["port"]), "target_port": int(svc.get("target_port", svc["port"])),
            "backends": backends}


def _remove_faulted_routes(lab):
    """A missing_route fault takes its route out of the node's planned routes."""
    for fault in lab["faults"]:
        if fault["type"] == "missing_route":
            node = [n for n in lab["nodes"] if n["name"] == fault["node"]][0]
            node["routes"] = [r for r in node["routes"] if r["dst"] != fault["cidr"]]


def _plan_fault(fault, lab, pods_by_name):
    ftype = fault.get("type")
    if ftype not in FAULT_TYPES:
        raise LabError("fault type %r is not one of %s" % (ftype, ", ".join(FAULT_TYPES)))
    if ftype == "missing_route":
        nodes = [n for n in lab["nodes"] if n["name"] == fault.get("node")]
        if not nodes:
            raise LabError("missing_route fault: node %r is not a node of the lab" % fault.get("node"))
        cidr = str(_net(fault.get("cidr"), "missing_route fault cidr"))
        if not any(r["dst"] == cidr for r in nodes[0]["routes"]):
            raise LabError("missing_route fault: node %s has no route to %s to remove" % (fault["node"], cidr))
        return {"type": ftype, "node": fault["node"], "cidr": cidr,
                "description": "node %s has no route to %s" % (fault["node"], cidr)}
    if ftype == "no_endpoints":
        return _plan_no_endpoints(fault)
    pod = pods_by_name.get(fault.get("pod"))
    if pod is None:
        raise LabError("%s fault: pod %r is not a pod of the lab" % (ftype, fault.get("pod")))
    if ftype == "default_deny":
        name = _policy_name(ftype, fault.get("name") or "default/default-deny")
        return {"type": ftype, "pod": pod["name"], "node": pod["node"], "name": name, "ips": pod["ips"],
                "description": "NetworkPolicy %s denies all ingress to pod %s (its input chain's policy is drop)"
                               % (name, pod["name"])}
    proto = fault.get("protocol", "tcp")
    if proto not in ("tcp", "udp"):
        raise LabError("%s fault: protocol must be tcp or udp, not %r" % (ftype, proto))
    port = int(fault.get("port", 0))
    if not 0 < port < 65536:
        raise LabError("%s fault: port %r is out of range" % (ftype, fault.get("port")))
    name = _policy_name(ftype, fault.get("name") or "deny-%s-%s-%d" % (pod["name"], proto, port))
    return {"type": ftype, "pod": pod["name"], "node": pod["node"], "protocol": proto, "port": port,
            "name": name, "host_if": pod["host_if"], "ips": pod["ips"],
            "description": "NetworkPolicy %s %ss %s/%d to pod %s"
                           % (name, "drop" if ftype == "policy_drop" else "reject", proto, port, pod["name"])}


def _policy_name(ftype, name):
    if not _POLICY_NAME.match(str(name)):
        # The name goes into an nftables comment and an OVN port group: keep it to a safe alphabet.
        raise LabError("%s fault: name %r: use 1 to 63 letters, digits or _ . / : -" % (ftype, name))
    return str(name)


def _plan_no_endpoints(fault):
    """A Service without endpoints, rejected by every node as kube-proxy (nftables mode) does."""
    name = _policy_name("no_endpoints", fault.get("name") or "default/no-endpoints")
    if "/" not in name:
        raise LabError("no_endpoints fault: name %r must be namespace/service" % name)
    vip = _addr(fault.get("vip"), "no_endpoints fault vip")
    proto = fault.get("protocol", "tcp")
    if proto not in ("tcp", "udp"):
        raise LabError("no_endpoints fault: protocol must be tcp or udp, not %r" % proto)
    port = int(fault.get("port", 0))
    if not 0 < port < 65536:
        raise LabError("no_endpoints fault: port %r is out of range" % fault.get("port"))
    port_name = str(fault.get("port_name") or proto)
    if not re.match(r"^[a-z0-9-]{1,15}$", port_name):
        raise LabError("no_endpoints fault: port_name %r: use up to 15 lower-case letters, digits or -" % port_name)
    return {"type": "no_endpoints", "name": name, "node": None, "vip": str(vip), "protocol": proto, "port": port,
            "port_name": port_name,
            "description": "Service %s has no endpoints: every node rejects %s/%d to %s, as kube-proxy does"
                           % (name, proto, port, vip)}


def kube_proxy_ruleset(lab):
    """kube-proxy's nftables-mode shape for the no_endpoints faults: a ``no-endpoint-services`` verdict map
    whose elements (commented ``ns/svc:port``) send new connections to ``reject-chain``."""
    out = []
    for fam, version in (("ip", 4), ("ip6", 6)):
        faults = [f for f in lab["faults"] if f["type"] == "no_endpoints"
                  and ipaddress.ip_address(f["vip"]).version == version]
        if not faults:
            continue
        elems = ", ".join('%s . %s . %d comment "%s:%s" : goto reject-chain'
                          % (f["vip"], f["protocol"], f["port"], f["name"], f["port_name"]) for f in faults)
        out.append("table %s kube-proxy\ndelete table %s kube-proxy\n"
                   "table %s kube-proxy {\n  comment \"rules for kube-proxy\"\n"
                   "  map no-endpoint-services {\n    type %s . inet_proto . inet_service : verdict\n"
                   "    comment \"vmap to drop or reject packets to services with no endpoints\"\n"
                   "    elements = { %s }\n  }\n"
                   "  chain reject-chain {\n    comment \"helper for @no-endpoint-services / @no-endpoint-nodeports\"\n"
                   "    reject\n  }\n"
                   "  chain service-endpoints-check {\n    %s daddr . meta l4proto . th dport vmap @no-endpoint-services\n  }\n"
                   "  chain filter-prerouting {\n    type filter hook prerouting priority -110; policy accept;\n"
                   "    ct state new jump service-endpoints-check\n  }\n"
                   "  chain filter-output {\n    type filter hook output priority -110; policy accept;\n"
                   "    ct state new jump service-endpoints-check\n  }\n}\n"
                   % (fam, fam, fam, "ipv4_addr" if version == 4 else "ipv6_addr", elems, fam))
    return "".join(out)


def pod_ruleset(lab, pod):
    """(digest, text) of a pod's own table when a default_deny fault names it (its input chain's policy is
    drop, as a default-deny NetworkPolicy enforced in the pod's namespace), else None."""
    faults = [f for f in lab["faults"] if f["type"] == "default_deny" and f["pod"] == pod["name"]]
    if not faults:
        return None
    body = ("  chain input {\n    type filter hook input priority filter; policy drop;\n    comment \"%s\"\n"
            "    ct state established,related accept\n    iif \"lo\" accept\n"
            "    meta l4proto { icmp, ipv6-icmp } accept\n  }" % faults[0]["name"])
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return digest, 'table inet %s {\n  comment "tracekit-lab %s"\n%s\n}\n' % (NFT_TABLE, digest, body)


def nft_ruleset(lab, node):
    """The node's nftables table: service DNAT (kube-proxy) and per-pod policy (the CNI's enforcer)."""
    lines = []
    for svc in lab["services"]:
        fam = "ip6" if ":" in svc["vip"] else "ip"
        targets = ", ".join("%d : %s . %d" % (i, b["ip"], svc["target_port"]) for i, b in enumerate(svc["backends"]))
        lines.append('    %s daddr %s %s dport %d dnat %s to numgen random mod %d map { %s } comment "service %s"'
                     % (fam, svc["vip"], svc["protocol"], svc["port"], fam, len(svc["backends"]), targets, svc["name"]))
    policy = []
    for fault in lab["faults"]:
        if fault.get("node") != node["name"] or fault["type"] not in ("policy_drop", "policy_reject"):
            continue
        if fault["type"] == "policy_drop":
            verdict = "drop"
        elif fault["protocol"] == "tcp":
            verdict = "reject with tcp reset"
        else:
            verdict = "reject with icmpx admin-prohibited"
        for ip in fault["ips"]:
            policy.append('    %s daddr %s meta l4proto %s %s dport %d counter %s comment "%s"'
                          % ("ip6" if ":" in ip else "ip", ip, fault["protocol"], fault["protocol"], fault["port"],
                             verdict, fault["name"]))
    body = (["  chain svc_dnat {", "    type nat hook prerouting priority dstnat; policy accept;"] + lines
            + ["  }", "  chain pod_policy {", "    type filter hook forward priority filter; policy accept;"]
            + policy + ["  }"])
    text = "\n".join(body)
    kube_proxy = kube_proxy_ruleset(lab)
    digest = hashlib.sha256((text + kube_proxy).encode()).hexdigest()[:16]
    return digest, 'table inet %s {\n  comment "tracekit-lab %s"\n%s\n}\n%s' % (NFT_TABLE, digest, text, kube_proxy)


def inventory(lab, python, ovn=None):
    """The inventory the runbooks use, in the contract of docs/inventory.md."""
    hosts = {}
    for node in lab["nodes"]:
        # A node answers from its uplink and from its pod gateways (ICMP errors to pods come from those).
        node_ips = [node["underlay_ip"], node["underlay_ip6"]] + [gw.split("/")[0] for gw in node["gateways"]]
        hosts[node["name"]] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": python,
            "tracekit_netns": node["netns"],
            "tracekit_node_ip": node["underlay_ip"],
            "tracekit_node_ips": node_ips,
            "tracekit_pod_cidrs": node["pod_cidrs"],
        }
    endpoints = {}
    for pod in lab["pods"]:
        endpoints[pod["name"]] = {"node": pod["node"], "netns": pod["netns"], "ip": pod["ips"][0],
                                  "ips": pod["ips"], "kind": "pod", "interface": "eth0",
                                  "host_interface": pod["host_if"], "mac": pod["mac"]}
        if ovn:
            node = [n for n in lab["nodes"] if n["name"] == pod["node"]][0]
            endpoints[pod["name"]].update(ovn_port=pod["name"], ovn_switch=pod["node"],
                                          ovn_gateway_mac=node["gateway_mac"])
    for node in lab["nodes"]:
        endpoints[node["name"]] = {"node": node["name"], "netns": node["netns"], "ip": node["underlay_ip"],
                                   "ips": hosts[node["name"]]["tracekit_node_ips"], "kind": "node"}
    services = {}
    for svc in lab["services"]:
        services[svc["name"]] = {"ip": svc["vip"], "protocol": svc["protocol"], "port": svc["port"],
                                 "target_port": svc["target_port"], "backends": [b["pod"] for b in svc["backends"]]}
    for fault in lab["faults"]:
        if fault["type"] == "no_endpoints":
            services[fault["name"].split("/", 1)[1]] = {"ip": fault["vip"], "protocol": fault["protocol"],
                                                        "port": fault["port"], "target_port": fault["port"],
                                                        "backends": []}
    group_vars = {"tracekit_endpoints": endpoints, "tracekit_services": services, "tracekit_lab": {
        "prefix": lab["prefix"], "faults": lab["faults"]}}
    if isinstance(ovn, dict):
        group_vars["tracekit_ovn"] = ovn
    return {"all": {"children": {"tracekit_nodes": {"hosts": hosts}}, "vars": group_vars}}


def ovn_mirror(lab, router="ovn_cluster_router"):
    """The lab as OVN-Kubernetes would model it, in the inputs of the lab_ovn role: a logical switch per node,
    a port per pod (with port security), one cluster router, a port group and ACL per policy fault (the
    NetworkPolicy recorded in external_ids), and a load balancer per service."""
    pods = []
    for pod in lab["pods"]:
        v6 = [a for a in pod["ips"] if ":" in a]
        entry = {"name": pod["name"], "switch": pod["node"], "mac": pod["mac"],
                 "ip": [a for a in pod["ips"] if ":" not in a][0] if any(":" not in a for a in pod["ips"]) else v6[0]}
        if v6 and entry["ip"] != v6[0]:
            entry["ip6"] = v6[0]
        pods.append(entry)
    ports = [{"switch": n["name"], "mac": n["gateway_mac"], "networks": n["gateways"]} for n in lab["nodes"]]
    policies = []
    for fault in lab["faults"]:
        if fault["type"] not in ("policy_drop", "policy_reject"):
            continue
        namespace, _sep, name = fault["name"].rpartition("/")
        policies.append({
            "name": fault["name"].replace("/", "_"), "ports": [fault["pod"]], "protocol": fault["protocol"],
            "port": fault["port"], "action": "drop" if fault["type"] == "policy_drop" else "reject",
            "external_ids": {"k8s.ovn.org/owner-type": "NetworkPolicy", "k8s.ovn.org/name": name,
                             "k8s.ovn.org/namespace": namespace or "default"}})
    balancers = []
    for svc in lab["services"]:
        fmt = "[%s]:%d" if ":" in svc["vip"] else "%s:%d"
        balancers.append({"name": svc["name"], "vip": svc["vip"], "port": svc["port"], "protocol": svc["protocol"],
                          "backends": [fmt % (b["ip"], svc["target_port"]) for b in svc["backends"]],
                          "switches": [n["name"] for n in lab["nodes"]], "routers": [router]})
    return {"pods": pods, "routers": [{"name": router, "ports": ports}], "policies": policies,
            "load_balancers": balancers}


# ---------------------------------------------------------------------------------------------------------
# Applying: create what is missing, through `ip`, `nft` and /proc/sys inside each namespace.


class Applier(object):
    def __init__(self, lab, run_dir, check_mode=False):
        self.lab = lab
        self.run_dir = run_dir
        self.check_mode = check_mode
        self.changes = []

    def _ip(self, *args, **kwargs):
        ns = kwargs.get("ns")
        cmd = ["ip"] + (["-n", ns] if ns else []) + list(args)
        return run_argv(cmd, check_rc=kwargs.get("check_rc", True), timeout=20)

    def _do(self, what, *args, **kwargs):
        self.changes.append(what)
        if not self.check_mode:
            self._ip(*args, **kwargs)

    def _links(self, ns):
        rc, out, _err = self._ip("-j", "link", "show", ns=ns, check_rc=False)
        return {} if rc else dict((link["ifname"], link) for link in json.loads(out or "[]"))

    def _addrs(self, ns, ifname):
        rc, out, _err = self._ip("-j", "addr", "show", "dev", ifname, ns=ns, check_rc=False)
        if rc:
            return set()
        found = set()
        for link in json.loads(out or "[]"):
            for a in link.get("addr_info", []):
                found.add("%s/%s" % (a["local"], a["prefixlen"]))
        return found

    def _routes(self, ns, family):
        rc, out, _err = self._ip("-j", family, "route", "show", ns=ns, check_rc=False)
        return [] if rc else json.loads(out or "[]")

    def netns(self, name):
        if not os.path.exists(os.path.join(NETNS_DIR, name)):
            self._do("netns %s" % name, "netns", "add", name)
            if not self.check_mode:
                # No IPv6 duplicate address detection: addresses are usable at once, as on a real node.
                self.sysctl(name, {"net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"})

    def sysctl(self, ns, values):
        if self.check_mode and not os.path.exists(os.path.join(NETNS_DIR, ns)):
            return
        with netns_utils.entered(os.path.join(NETNS_DIR, ns)):
            for key, value in sorted(values.items()):
                path = "/proc/sys/" + key
                with open(path) as handle:
                    current = handle.read().strip()
                if current != value:
                    self.changes.append("sysctl %s %s=%s" % (ns, key, value))
                    if not self.check_mode:
                        with open(path, "w") as handle:
                            handle.write(value)

    def veth(self, ns_a, if_a, ns_b, if_b):
        """A veth pair with one end in each namespace (created in ns_a, the far end moved to ns_b)."""
        if if_a in self._links(ns_a) and if_b in self._links(ns_b):
            return
        if if_a in self._links(ns_a):
            self._do("delete half veth %s" % if_a, "link", "del", if_a, ns=ns_a)
        self._do("veth %s:%s <-> %s:%s" % (ns_a, if_a, ns_b, if_b), "link", "add", if_a, "type", "veth",
                 "peer", "name", if_b, "netns", ns_b, ns=ns_a)

    def bridge(self, ns, name):
        if name not in self._links(ns):
            self._do("bridge %s:%s" % (ns, name), "link", "add", name, "type", "bridge", ns=ns)

    def master(self, ns, ifname, bridge):
        link = self._links(ns).get(ifname, {})
        if link.get("master") != bridge:
            self._do("%s:%s in %s" % (ns, ifname, bridge), "link", "set", ifname, "master", bridge, ns=ns)

    def mac(self, ns, ifname, address):
        link = self._links(ns).get(ifname, {})
        if link.get("address") != address:
            self._do("%s:%s mac %s" % (ns, ifname, address), "link", "set", ifname, "address", address, ns=ns)

    def up(self, ns, ifname):
        link = self._links(ns).get(ifname, {})
        if "UP" not in link.get("flags", []):
            self._do("%s:%s up" % (ns, ifname), "link", "set", ifname, "up", ns=ns)

    def addr(self, ns, ifname, cidr):
        if cidr not in self._addrs(ns, ifname):
            flags = ["nodad"] if ":" in cidr else []
            self._do("%s:%s %s" % (ns, ifname, cidr), "addr", "add", cidr, "dev", ifname, *flags, ns=ns)

    def route(self, ns, dst, via):
        family = "-6" if ":" in dst or ":" in via else "-4"
        for r in self._routes(ns, family):
            if r.get("dst") == dst and r.get("gateway") == via:
                return
        self._do("%s route %s via %s" % (ns, dst, via), family, "route", "replace", dst, "via", via, ns=ns)

    def drop_routes_not_in(self, ns, keep, family, managed):
        """Remove routes via the underlay to pod CIDRs the plan no longer wants (a fault turned on)."""
        for r in self._routes(ns, family):
            if r.get("gateway") and r.get("dst") in managed and r.get("dst") not in keep:
                self._do("%s no route %s" % (ns, r["dst"]), family, "route", "del", r["dst"], ns=ns)

    def nft(self, ns, digest, text):
        rc, out, _err = run_argv(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", NFT_TABLE],
                                 check_rc=False, timeout=20) if not self.check_mode or os.path.exists(
            os.path.join(NETNS_DIR, ns)) else (1, "", "")
        if rc == 0 and ("tracekit-lab %s" % digest) in out:
            return
        self.changes.append("%s nftables table %s" % (ns, NFT_TABLE))
        if self.check_mode:
            return
        if rc == 0:
            text = "delete table inet %s\n%s" % (NFT_TABLE, text)
        run_argv(["ip", "netns", "exec", ns, "nft", "-f", "-"], data=text, timeout=20)

    def listener(self, pod):
        if not pod["tcp"] and not pod["udp"]:
            return
        pidfile = os.path.join(self.run_dir, "%s.listener.pid" % pod["name"])
        want = {"tcp": pod["tcp"], "udp": pod["udp"]}
        if _listener_running(pidfile, os.path.join(NETNS_DIR, pod["netns"]), want):
            return
        self.changes.append("listener in %s on tcp %s udp %s" % (pod["netns"], pod["tcp"], pod["udp"]))
        if not self.check_mode:
            _stop_pid(pidfile)
            start_listener(os.path.join(NETNS_DIR, pod["netns"]), pod, pidfile)

    def apply(self):
        lab = self.lab
        if not self.check_mode and not os.path.isdir(self.run_dir):
            os.makedirs(self.run_dir)
        fabric = lab["fabric"]
        self.netns(fabric)
        self.bridge(fabric, "br0")
        self.up(fabric, "br0")
        fwd = {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"}
        pod_cidrs = set(c for n in lab["nodes"] for c in n["pod_cidrs"])
        for node in lab["nodes"]:
            ns = node["netns"]
            self.netns(ns)
            self.sysctl(ns, fwd)
            self.veth(fabric, node["uplink"], ns, "eth0")
            self.master(fabric, node["uplink"], "br0")
            self.up(fabric, node["uplink"])
            self.up(ns, "lo")
            self.up(ns, "eth0")
            self.addr(ns, "eth0", "%s/%d" % (node["underlay_ip"], node["underlay_len"]))
            self.addr(ns, "eth0", "%s/%d" % (node["underlay_ip6"], node["underlay_len6"]))
            self.bridge(ns, "cni0")
            self.mac(ns, "cni0", node["gateway_mac"])
            self.up(ns, "cni0")
            for gw in node["gateways"]:
                self.addr(ns, "cni0", gw)
            for family in ("-4", "-6"):
                self.drop_routes_not_in(ns, set(r["dst"] for r in node["routes"]), family, pod_cidrs)
            for r in node["routes"]:
                self.route(ns, r["dst"], r["via"])
            digest, text = nft_ruleset(lab, node)
            self.nft(ns, digest, text)
        for pod in lab["pods"]:
            node = [n for n in lab["nodes"] if n["name"] == pod["node"]][0]
            self.netns(pod["netns"])
            self.veth(node["netns"], pod["host_if"], pod["netns"], "eth0")
            self.master(node["netns"], pod["host_if"], "cni0")
            self.up(node["netns"], pod["host_if"])
            self.up(pod["netns"], "lo")
            self.mac(pod["netns"], "eth0", pod["mac"])
            self.up(pod["netns"], "eth0")
            for cidr in pod["addrs"]:
                self.addr(pod["netns"], "eth0", cidr)
            for gw in sorted(set(pod["gateways"])):
                self.route(pod["netns"], "default", gw)
            found = pod_ruleset(lab, pod)
            if found:
                self.nft(pod["netns"], *found)
            self.listener(pod)
        if not self.check_mode:
            with open(os.path.join(self.run_dir, "lab.json"), "w") as handle:
                json.dump(lab, handle, indent=1, sort_keys=True)
        return self.changes


def destroy(prefix, run_dir, check_mode=False):
    """Stop the listeners and delete every namespace whose name starts with ``prefix-``."""
    changes = []
    if os.path.isdir(run_dir):
        for name in sorted(os.listdir(run_dir)):
            if name.endswith(".pid"):
                changes.append("stop %s" % name)
                if not check_mode:
                    _stop_pid(os.path.join(run_dir, name))
    names = sorted(n for n in (os.listdir(NETNS_DIR) if os.path.isdir(NETNS_DIR) else [])
                   if n.startswith(prefix + "-"))
    for name in names:
        changes.append("delete netns %s" % name)
        if not check_mode:
            _kill_netns_processes(name)
            try:
                run_argv(["ip", "netns", "del", name], timeout=20)
            except CliError as exc:
                raise LabError("cannot delete namespace %s: %s" % (name, exc))
    if os.path.isdir(run_dir):
        changes.append("remove %s" % run_dir)
        if not check_mode:
            for name in os.listdir(run_dir):
                os.unlink(os.path.join(run_dir, name))
            os.rmdir(run_dir)
    return changes


def _kill_netns_processes(name):
    try:
        rc, out, _err = run_argv(["ip", "netns", "pids", name], check_rc=False, timeout=20)
    except CliError:
        return
    if rc == 0:
        for pid in out.split():
            try:
                os.kill(int(pid), signal.SIGTERM)
            except (OSError, ValueError):
                continue


# ---------------------------------------------------------------------------------------------------------
# Listeners: a daemon per pod that accepts TCP and echoes UDP on the pod's open ports.


def _listener_running(pidfile, ns_path, want):
    try:
        with open(pidfile) as handle:
            info = json.load(handle)
        pid = int(info["pid"])
        if os.stat("/proc/%d/ns/net" % pid).st_ino != os.stat(ns_path).st_ino:
            return False
        return info.get("ports") == want
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _stop_pid(pidfile):
    try:
        with open(pidfile) as handle:
            pid = int(json.load(handle)["pid"])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        os.unlink(pidfile)
    except OSError:
        pass


def start_listener(ns_path, pod, pidfile):
    """Fork a daemon inside the pod namespace; return once its sockets are bound and its pidfile written."""
    import socket  # pylint: disable=import-outside-toplevel
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        with os.fdopen(ready_r) as ready:
            msg = ready.read()
        os.waitpid(pid, 0)
        if not msg.startswith("ok"):
            raise LabError("listener in %s did not start: %s" % (pod["netns"], msg.strip() or "no answer"))
        return
    # First child: detach, enter the pod namespace, bind, then fork the daemon itself.
    os.close(ready_r)
    try:
        os.setsid()
        with open(ns_path) as handle:
            netns_utils._setns(handle.fileno())  # pylint: disable=protected-access
        socks = []
        for proto in ("tcp", "udp"):
            for port in pod[proto]:
                for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
                    s = socket.socket(family, kind)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((host, port))
                    if proto == "tcp":
                        s.listen(128)
                    s.setblocking(False)
                    socks.append((proto, s))
        daemon = os.fork()
        if daemon:
            with open(pidfile, "w") as handle:
                json.dump({"pid": daemon, "ports": {"tcp": pod["tcp"], "udp": pod["udp"]}}, handle)
            os.write(ready_w, b"ok")
            os._exit(0)  # pylint: disable=protected-access
        os.close(ready_w)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        _serve(socks)
    except Exception as exc:  # pylint: disable=broad-except
        try:
            os.write(ready_w, ("error: %s" % exc).encode())
        except OSError:
            pass
    os._exit(1)  # pylint: disable=protected-access


def _serve(socks):
    """Accept and close TCP connections (the handshake is what probes need); echo UDP datagrams."""
    import select  # pylint: disable=import-outside-toplevel
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # pylint: disable=protected-access
    by_fd = dict((s.fileno(), (proto, s)) for proto, s in socks)
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    while True:
        for fd, _event in poller.poll(1000):
            proto, s = by_fd[fd]
            try:
                if proto == "tcp":
                    conn, _peer = s.accept()
                    conn.close()
                else:
                    data, peer = s.recvfrom(65535)
                    s.sendto(data, peer)
            except OSError:
                time.sleep(0.001)

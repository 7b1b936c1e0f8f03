# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the Kubernetes API's objects (plain JSON dicts) to the runbooks' inventory (docs/inventory.md).

Hosts are the nodes; pods, services and NetworkPolicies are data. ``build(objects, ...)`` is pure: it takes
the lists the API returned and gives ``{hosts, groups, vars}``, so it is tested without a server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"
ZONE_LABEL = "topology.kubernetes.io/zone"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
OVN_NODE_SUBNETS = "k8s.ovn.org/node-subnets"
OVN_NODE_CHASSIS = "k8s.ovn.org/node-chassis-id"
OVN_ZONE = "k8s.ovn.org/zone-name"
OVN_POD_NETWORKS = "k8s.ovn.org/pod-networks"
OVN_DEFAULTS = {"sb_db": "unix:/var/run/ovn/ovnsb_db.sock", "nb_db": "unix:/var/run/ovn/ovnnb_db.sock"}
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


class K8sModelError(TracekitError):
    pass


def _meta(obj):
    return obj.get("metadata") or {}


def _labels(obj):
    return dict(_meta(obj).get("labels") or {})


def _annotations(obj):
    return dict(_meta(obj).get("annotations") or {})


def _ip_text(value):
    """The address without a prefix length, or None when it is not an address."""
    try:
        return str(ipaddress.ip_interface(str(value).strip()).ip)
    except ValueError:
        return None


def _unique(items):
    out = []
    for item in items:
        if item is not None and item not in out:
            out.append(item)
    return out


def group_name(prefix, value):
    """An Ansible-safe group name: tracekit_role_control_plane, tracekit_zone_eu_west_1a."""
    return "%s_%s" % (prefix, _GROUP_UNSAFE.sub("_", str(value)).strip("_").lower() or "none")


def ovn_k8s_mac(ip):
    """The MAC OVN-Kubernetes derives from an address: 0a:58 then its last four bytes in hex."""
    packed = ipaddress.ip_address(ip).packed[-4:]
    return "0a:58:" + ":".join("%02x" % b for b in bytearray(packed))


def _json_annotation(obj, key):
    raw = _annotations(obj).get(key)
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise K8sModelError("%s %s: annotation %s is not JSON: %r"
                            % (obj.get("kind") or "object", _meta(obj).get("name"), key, raw[:120]))


def is_ovn_kubernetes(nodes):
    return any(OVN_NODE_SUBNETS in _annotations(n) or OVN_NODE_CHASSIS in _annotations(n) for n in nodes)


def node_vars(node, ovn=False):
    """(name, hostvars, groups) of one Node."""
    name = _meta(node).get("name")
    status = node.get("status") or {}
    spec = node.get("spec") or {}
    addresses = status.get("addresses") or []
    internal = [a.get("address") for a in addresses if a.get("type") == "InternalIP" and _ip_text(a.get("address"))]
    external = [a.get("address") for a in addresses if a.get("type") == "ExternalIP" and _ip_text(a.get("address"))]
    hostnames = [a.get("address") for a in addresses if a.get("type") == "Hostname"]
    v4 = [a for a in internal if ":" not in a]
    ansible_host = (v4 or internal or external or hostnames or [name])[0]
    cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    gateways = []
    if ovn:
        subnets = _json_annotation(node, OVN_NODE_SUBNETS) or {}
        default = subnets.get("default") or []
        if isinstance(default, str):
            default = [default]
        if not cidrs:
            cidrs = list(default)
        # OVN-Kubernetes' cluster router owns the first address of each node subnet: ICMP errors come from it.
        for cidr in default:
            try:
                gateways.append(str(ipaddress.ip_network(cidr, strict=False).network_address + 1))
            except ValueError:
                continue
    labels = _labels(node)
    hostvars = {
        "ansible_host": ansible_host,
        "tracekit_node_ips": _unique(internal + external + gateways),
        "tracekit_pod_cidrs": cidrs,
        "tracekit_node_labels": labels,
    }
    groups = ["tracekit_nodes"]
    roles = sorted(key[len(ROLE_LABEL_PREFIX):] for key in labels if key.startswith(ROLE_LABEL_PREFIX))
    if labels.get(ROLE_LABEL):
        roles.append(labels[ROLE_LABEL])
    for role in _unique(roles):
        if role:
            groups.append(group_name("tracekit_role", role))
    if labels.get(ZONE_LABEL):
        groups.append(group_name("tracekit_zone", labels[ZONE_LABEL]))
    return name, hostvars, groups


def _pod_ips(pod):
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or []]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return _unique(_ip_text(ip) for ip in ips)


def pod_endpoint(pod, ovn=False):
    """(key, endpoint) of a running Pod, or (key, None) when it has no node or no address yet."""
    meta = _meta(pod)
    key = "%s/%s" % (meta.get("namespace") or "default", meta.get("name"))
    spec = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    ips = _pod_ips(pod)
    if not spec.get("nodeName") or not ips or phase in ("Succeeded", "Failed"):
        return key, None
    ep = {"node": spec["nodeName"], "ip": ips[0], "ips": ips, "kind": "pod", "netns": "auto",
          "namespace": meta.get("namespace") or "default", "pod": meta.get("name"), "labels": _labels(pod)}
    if spec.get("hostNetwork"):
        # It shares its node's namespace: netns auto finds the node's, by the node address it carries.
        ep["host_network"] = True
        return key, ep
    if ovn:
        networks = _json_annotation(pod, OVN_POD_NETWORKS) or {}
        default = networks.get("default") or {}
        if default:
            ep["ovn_port"] = "%s_%s" % (ep["namespace"], meta.get("name"))
            ep["ovn_switch"] = spec["nodeName"]
            if default.get("mac_address"):
                ep["mac"] = default["mac_address"]
            gws = default.get("gateway_ips") or ([default["gateway_ip"]] if default.get("gateway_ip") else [])
            if gws and _ip_text(gws[0]):
                ep["ovn_gateway_mac"] = ovn_k8s_mac(_ip_text(gws[0]))
    return key, ep


def _slice_backends(slices, namespace, name, endpoints):
    """(backend endpoint names, every backend address, {port name: number}) of a service's EndpointSlices."""
    backends, addresses, ports = [], [], {}
    for sl in slices:
        meta = _meta(sl)
        if (meta.get("namespace") or "default") != namespace or _labels(sl).get(SERVICE_NAME_LABEL) != name:
            continue
        for port in sl.get("ports") or []:
            if port.get("port") is not None:
                ports[port.get("name") or ""] = int(port["port"])
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            addresses.extend(_ip_text(a) for a in ep.get("addresses") or [])
            ref = ep.get("targetRef") or {}
            if ref.get("kind") == "Pod":
                key = "%s/%s" % (ref.get("namespace") or namespace, ref.get("name"))
                if key in endpoints:
                    backends.append(key)
    return sorted(_unique(backends)), _unique(addresses), ports


def service_entry(svc, slices, endpoints):
    """(key, service) of a Service with a cluster IP, or (key, None) for headless and ExternalName ones."""
    meta = _meta(svc)
    namespace = meta.get("namespace") or "default"
    key = "%s/%s" % (namespace, meta.get("name"))
    spec = svc.get("spec") or {}
    ips = _unique(_ip_text(a) for a in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if a and a != "None")
    if not ips or spec.get("type") == "ExternalName":
        return key, None
    backends, addresses, slice_ports = _slice_backends(slices, namespace, meta.get("name"), endpoints)
    ports = []
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            # A named port: the EndpointSlice carries its number under the service port's name.
            target = slice_ports.get(port.get("name") or "", target)
        ports.append({"name": port.get("name"), "protocol": (port.get("protocol") or "TCP").lower(),
                      "port": int(port["port"]), "target_port": int(target) if str(target).isdigit() else target})
    entry = {"ip": ips[0], "ips": ips, "type": spec.get("type") or "ClusterIP", "namespace": namespace,
             "ports": ports, "backends": backends, "backend_ips": addresses, "selector": spec.get("selector") or {}}
    if ports:
        entry.update(protocol=ports[0]["protocol"], port=ports[0]["port"], target_port=ports[0]["target_port"])
    return key, entry


def policies_by_namespace(policies):
    out = {}
    for pol in policies:
        meta = _meta(pol)
        out.setdefault(meta.get("namespace") or "default", {})[meta.get("name")] = {
            "spec": pol.get("spec") or {}, "labels": _labels(pol)}
    return out


def ovn_settings(nodes, host=None, sb_db=None, nb_db=None):
    """tracekit_ovn for an OVN-Kubernetes cluster: where ovn-trace runs and the databases it reads."""
    names = sorted(_meta(n).get("name") for n in nodes)
    if host is None:
        control = sorted(_meta(n).get("name") for n in nodes
                         if any(k in (ROLE_LABEL_PREFIX + "control-plane", ROLE_LABEL_PREFIX + "master")
                                for k in _labels(n)))
        host = (control or names)[0]
    zones = set(_annotations(n).get(OVN_ZONE) for n in nodes if _annotations(n).get(OVN_ZONE))
    return {"host": host, "sb_db": sb_db or OVN_DEFAULTS["sb_db"], "nb_db": nb_db or OVN_DEFAULTS["nb_db"],
            "interconnect": len(zones) > 1}


def build(objects, ovn_host=None, ovn_sb_db=None, ovn_nb_db=None):
    """The inventory from the API's lists: ``objects`` has nodes, pods, services, endpointslices and
    networkpolicies (each a list of object dicts). Returns ``{hosts, groups, vars}``.

    An object of an unexpected shape (which no API server sends) is a K8sModelError naming it, not a crash.
    """
    try:
        return _build(objects, ovn_host, ovn_sb_db, ovn_nb_db)
    except K8sModelError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise K8sModelError("the API server sent an object the inventory cannot read (%s: %s)"
                            % (type(exc).__name__, exc))


def _build(objects, ovn_host, ovn_sb_db, ovn_nb_db):
    nodes = objects.get("nodes") or []
    ovn = is_ovn_kubernetes(nodes)
    hosts, groups = {}, {"tracekit_nodes": []}
    for node in sorted(nodes, key=lambda n: _meta(n).get("name") or ""):
        name, hostvars, node_groups = node_vars(node, ovn=ovn)
        hosts[name] = hostvars
        for group in node_groups:
            groups.setdefault(group, []).append(name)
    endpoints = {}
    for pod in objects.get("pods") or []:
        key, ep = pod_endpoint(pod, ovn=ovn)
        if ep is not None:
            endpoints[key] = ep
    for name, hostvars in hosts.items():
        # Nodes are endpoints too (src=node1): their namespace is found by their own address.
        if name not in endpoints and _ip_text(hostvars["ansible_host"]):
            endpoints[name] = {"node": name, "ip": hostvars["ansible_host"], "ips": hostvars["tracekit_node_ips"]
                               or [hostvars["ansible_host"]], "kind": "node", "netns": "auto"}
    services = {}
    slices = objects.get("endpointslices") or []
    for svc in objects.get("services") or []:
        key, entry = service_entry(svc, slices, endpoints)
        if entry is not None:
            services[key] = entry
    group_vars = {"tracekit_endpoints": endpoints, "tracekit_services": services,
                  "tracekit_network_policies": policies_by_namespace(objects.get("networkpolicies") or [])}
    if ovn and nodes:
        group_vars["tracekit_ovn"] = ovn_settings(nodes, ovn_host, ovn_sb_db, ovn_nb_db)
    return {"hosts": hosts, "groups": groups, "vars": group_vars}

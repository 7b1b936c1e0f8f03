# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: k8s
short_description: The runbooks' inventory from a Kubernetes cluster (nodes as hosts, pods and services as data)
version_added: 0.2.0
description:
  - Reads nodes, pods, services, EndpointSlices and NetworkPolicies from the Kubernetes API and writes the
    inventory contract of the runbooks (docs/inventory.md), so C(diagnose_drop.yml) runs against a cluster with
    no hand-written inventory.
  - Hosts are the nodes, in group C(tracekit_nodes) and in groups by label (C(tracekit_role_<role>) from the
    C(node-role.kubernetes.io/<role>) labels, C(tracekit_zone_<zone>) from C(topology.kubernetes.io/zone)), with
    C(ansible_host) (the InternalIP, IPv4 first), C(tracekit_node_ips), C(tracekit_pod_cidrs) and
    C(tracekit_node_labels).
  - C(tracekit_endpoints) (a variable of C(all)) has every pod as C(namespace/name) with C(node), C(ip), C(ips)
    (both families), C(kind=pod), C(labels) and C(netns=auto), so the runbook finds the pod's network namespace
    on its node by address. Host-network pods carry C(host_network=true) and their node's addresses. Nodes are
    endpoints too, under their names, with C(kind=node).
  - C(tracekit_services) has every service with a cluster IP as C(namespace/name) with C(ip), C(ips), C(ports),
    C(protocol), C(port), C(target_port) (named target ports resolved through the EndpointSlices) and
    C(backends), the ready pods of its EndpointSlices.
  - C(tracekit_network_policies) has the NetworkPolicies by namespace, then name, with their spec.
  - On an OVN-Kubernetes cluster (node annotations C(k8s.ovn.org/node-subnets)), each pod gets C(ovn_port)
    (C(namespace_name)), C(ovn_switch) (its node), C(mac) and C(ovn_gateway_mac) from its
    C(k8s.ovn.org/pod-networks) annotation, and C(tracekit_ovn) says where C(ovn-trace) runs.
  - Needs only C(list) on those five resources; docs/kubernetes/rbac.yml is the ClusterRole.
author:
  - netdiag.tracekit developers (@netdiag)
requirements:
  - kubernetes (the Python client) on the controller
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    type: str
    choices: [netdiag.tracekit.k8s]
  kubeconfig:
    description:
      - Path of the kubeconfig. Default, the first file of E(KUBECONFIG), else C(~/.kube/config); inside a pod
        with neither, the service account.
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description: The kubeconfig context to use. Default, its current context.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
  in_cluster:
    description: Use the service account of the pod this runs in (its token and CA under C(/var/run/secrets)).
    type: bool
    default: false
  namespaces:
    description: Read pods, services, EndpointSlices and NetworkPolicies of these namespaces only. Default, all.
    type: list
    elements: str
    default: []
  pod_selector:
    description: A label selector for the pods (for example V(app in (web,db\))); the API server applies it.
    type: str
  node_selector:
    description: A label selector for the nodes that become hosts (for example V(kubernetes.io/os=linux)).
    type: str
  request_timeout:
    description: Seconds to wait for each answer of the API server.
    type: int
    default: 20
  ovn_host:
    description:
      - The inventory host (node) that runs C(ovn-trace), on an OVN-Kubernetes cluster.
      - Default, the first control-plane node, else the first node.
    type: str
  ovn_sb_db:
    description: The OVN Southbound database remote as seen from O(ovn_host).
    type: str
    default: unix:/var/run/ovn/ovnsb_db.sock
  ovn_nb_db:
    description: The OVN Northbound database remote as seen from O(ovn_host).
    type: str
    default: unix:/var/run/ovn/ovnnb_db.sock
notes:
  - The file must end in C(k8s.yml) or C(k8s.yaml).
  - Pods that are not scheduled or have no address yet, completed pods, headless and ExternalName services
    are left out.
  - A service's backends are the C(tracekit_endpoints) keys of its ready endpoints; every ready address is in
    C(backend_ips).
seealso:
  - name: docs/kubernetes.md
    description: RBAC, how to run the runbook against a cluster, what the plugin reads.
    link: https://github.com/netdiag/tracekit/blob/main/docs/kubernetes.md
"""

EXAMPLES = r"""
# prod.k8s.yml: one context, two namespaces, cached for an hour, nodes also grouped by instance type.
# The smallest file is the first line alone (the current context of ~/.kube/config, every namespace);
# in a pod (an AWX execution environment in the cluster), "in_cluster: true" uses its service account.
plugin: netdiag.tracekit.k8s
kubeconfig: ~/.kube/prod
context: prod-admin
namespaces: [shop, payments]
pod_selector: tier in (frontend,backend)
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/tracekit-k8s
cache_timeout: 3600
keyed_groups:
  - key: tracekit_node_labels['node.kubernetes.io/instance-type']
    prefix: type
compose:
  ansible_user: "'core'"
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.k8s import cluster, model


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "netdiag.tracekit.k8s"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("k8s.yml", "k8s.yaml"))

    def _read_cluster(self):
        api = cluster.connect(kubeconfig=self.get_option("kubeconfig"), context=self.get_option("context"),
                              in_cluster=self.get_option("in_cluster"), timeout=self.get_option("request_timeout"))
        objects = cluster.fetch(api, namespaces=self.get_option("namespaces"),
                                pod_selector=self.get_option("pod_selector"),
                                node_selector=self.get_option("node_selector"))
        data = model.build(objects, ovn_host=self.get_option("ovn_host"), ovn_sb_db=self.get_option("ovn_sb_db"),
                           ovn_nb_db=self.get_option("ovn_nb_db"))
        data["vars"]["tracekit_k8s"] = {"server": api.tracekit_server, "context": self.get_option("context"),
                                        "namespaces": self.get_option("namespaces"),
                                        "unavailable": objects["missing"]}
        return data

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        data = None
        if use_cache and cache:
            try:
                data = self._cache[cache_key]
            except KeyError:
                data = None
        if data is None:
            try:
                data = self._read_cluster()
            except (cluster.K8sClientError, model.K8sModelError) as exc:
                raise AnsibleParserError("netdiag.tracekit.k8s: %s" % exc)
            if use_cache:
                self._cache[cache_key] = data
        self._populate(data)

    def _populate(self, data):
        strict = self.get_option("strict")
        for group in sorted(data["groups"]):
            self.inventory.add_group(group)
        for key, value in sorted(data["vars"].items()):
            self.inventory.set_variable("all", key, value)
        for group, hosts in sorted(data["groups"].items()):
            for host in hosts:
                self.inventory.add_host(host, group=group)
        for host, hostvars in sorted(data["hosts"].items()):
            for key, value in sorted(hostvars.items()):
                self.inventory.set_variable(host, key, value)
            known = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), known, host, strict=strict)
            known = self.inventory.get_host(host).get_vars()
            self._add_host_to_composed_groups(self.get_option("groups"), known, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), known, host, strict=strict)

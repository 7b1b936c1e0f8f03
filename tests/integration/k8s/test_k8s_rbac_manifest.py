"""docs/kubernetes/: valid manifests (kubernetes-validate --strict, offline against the Kubernetes schemas);
the ClusterRole of rbac.yml grants exactly what the inventory plugin asks the API server for, and the
binding ties it to the service account."""

import os
import subprocess
import sys

import yaml

from conftest import REPO

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.k8s import cluster

FOLDER = os.path.join(REPO, "docs", "kubernetes")
MANIFESTS = [os.path.join(FOLDER, name) for name in ("rbac.yml", "serviceaccount.yml", "clusterrolebinding.yml")]
GROUPS = {"CoreV1Api": "", "DiscoveryV1Api": "discovery.k8s.io", "NetworkingV1Api": "networking.k8s.io"}


def test_manifest_is_valid_kubernetes_strictly():
    tool = os.path.join(os.path.dirname(sys.executable), "kubernetes-validate")
    proc = subprocess.run([tool, "--strict"] + MANIFESTS, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count(" passed for resource ") == 3


def test_cluster_role_grants_list_on_what_the_plugin_lists_and_nothing_more():
    docs = []
    for path in MANIFESTS:
        with open(path) as handle:
            docs.append(yaml.safe_load(handle))
    role = [d for d in docs if d["kind"] == "ClusterRole"][0]
    granted = set()
    for rule in role["rules"]:
        assert rule["verbs"] == ["list"]
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                granted.add((group, res))
    needed = set((GROUPS[api], kind) for kind, (api, _method), _ns in cluster.RESOURCES)
    assert granted == needed
    binding = [d for d in docs if d["kind"] == "ClusterRoleBinding"][0]
    account = [d for d in docs if d["kind"] == "ServiceAccount"][0]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]

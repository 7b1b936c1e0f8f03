"""The netdiag.tracekit.k8s inventory plugin against a Kubernetes API server, through ansible-inventory.

kmock (PyPI) stands in for the API server: no real kube-apiserver can run here. It is a real HTTP server on
127.0.0.1 that keeps the objects of tests/support/k8s_objects.py in memory and answers the list calls of the
`kubernetes` client as an API server does (tests/support/kmock_cluster.py). Expected values were read by hand
from those objects, not from the plugin's output.
"""

import json
import os
import subprocess
import sys

import pytest
from kmock._internal import k8s as kmock_k8s
from kmock import resource

from k8s_objects import cluster
from kmock_cluster import KmockCluster, kubeconfig

from conftest import COLLECTIONS, REPO

INVENTORY = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")


def plain(value):
    """ansible-inventory marks strings from an inventory source as unsafe: take the values out."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory(tmp_path, config, *args, env=None):
    """Run ansible-inventory on a plugin configuration; return (rc, parsed JSON or None, stderr)."""
    path = tmp_path / "cluster.k8s.yml"
    path.write_text("plugin: netdiag.tracekit.k8s\n" + config)
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
                    ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_INVENTORY_ENABLED="netdiag.tracekit.k8s")
    full_env.update(env or {})
    proc = subprocess.run([INVENTORY, "-i", str(path), "--list"] + list(args), env=full_env, capture_output=True,
                          text=True, timeout=120, check=False)
    try:
        data = plain(json.loads(proc.stdout))
    except ValueError:
        data = None
    return proc.returncode, data, proc.stderr


@pytest.fixture(scope="module")
def api():
    with KmockCluster(cluster()) as server:
        yield server


def test_list_prints_the_nodes_pods_services_and_policies(api, tmp_path):
    conf = kubeconfig(tmp_path / "kubeconfig", api.url)
    rc, data, err = inventory(tmp_path, "kubeconfig: %s\n" % conf, "--export")
    assert rc == 0, err
    assert sorted(data["tracekit_nodes"]["hosts"]) == ["cp1", "w1", "w2"]
    assert data["tracekit_role_control_plane"]["hosts"] == ["cp1"]
    assert sorted(data["tracekit_role_worker"]["hosts"]) == ["w1", "w2"]
    assert data["tracekit_zone_eu_west_1b"]["hosts"] == ["w2"]
    w2 = data["_meta"]["hostvars"]["w2"]
    assert w2["ansible_host"] == "172.18.0.4"
    assert w2["tracekit_pod_cidrs"] == ["10.244.2.0/24", "fd00:10:244:2::/64"]
    assert w2["tracekit_node_ips"][:2] == ["172.18.0.4", "fc00:f853:ccd:e793::4"]
    top = data["all"]["vars"]
    eps = top["tracekit_endpoints"]
    assert sorted(k for k, v in eps.items() if v["kind"] == "pod") == [
        "kube-system/kube-proxy-8xv2d", "shop/db-0", "shop/web-7d4b9c-q9zl2", "shop/web-7d4b9c-x2x7k"]
    web2 = eps["shop/web-7d4b9c-q9zl2"]
    assert (web2["node"], web2["ips"], web2["netns"]) == ("w2", ["10.244.2.7", "fd00:10:244:2::7"], "auto")
    assert (web2["ovn_port"], web2["ovn_switch"], web2["mac"]) == ("shop_web-7d4b9c-q9zl2", "w2", "0a:58:0a:f4:02:07")
    assert eps["kube-system/kube-proxy-8xv2d"]["host_network"] is True
    assert eps["kube-system/kube-proxy-8xv2d"]["node"] == "w1"
    web = top["tracekit_services"]["shop/web"]
    assert (web["ip"], web["port"], web["target_port"]) == ("10.96.12.34", 80, 8080)
    assert web["ips"] == ["10.96.12.34", "fd00:10:96::c22"]
    assert web["backends"] == ["shop/web-7d4b9c-q9zl2", "shop/web-7d4b9c-x2x7k"]
    assert top["tracekit_network_policies"]["shop"]["db-from-web-only"]["spec"]["policyTypes"] == ["Ingress"]
    assert top["tracekit_ovn"]["host"] == "cp1"
    assert top["tracekit_k8s"]["server"] == api.url


def test_every_node_sees_the_endpoints_as_the_runbook_reads_them(api, tmp_path):
    """diagnose_drop.yml reads hostvars[first node].tracekit_endpoints: without --export they are there."""
    conf = kubeconfig(tmp_path / "kubeconfig", api.url)
    rc, data, err = inventory(tmp_path, "kubeconfig: %s\n" % conf)
    assert rc == 0, err
    assert data["_meta"]["hostvars"]["cp1"]["tracekit_endpoints"]["shop/db-0"]["node"] == "w2"


def test_namespaces_and_selectors_go_to_the_api_server(tmp_path):
    """kmock does not evaluate selectors: the test checks the plugin asks for them, and that objects of other
    namespaces are not read."""
    with KmockCluster(cluster()) as server:
        conf = kubeconfig(tmp_path / "kubeconfig", server.url)
        rc, data, err = inventory(tmp_path, "kubeconfig: %s\nnamespaces: [shop]\npod_selector: app=web\n"
                                            "node_selector: node-role.kubernetes.io/worker\n" % conf, "--export")
        seen = server.seen()
    assert rc == 0, err
    assert ("GET", "/api/v1/namespaces/shop/pods", {"limit": "500", "labelSelector": "app=web"}) in seen
    assert ("GET", "/api/v1/nodes", {"limit": "500", "labelSelector": "node-role.kubernetes.io/worker"}) in seen
    assert ("GET", "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", {"limit": "500"}) in seen
    assert not [s for s in seen if s[1] in ("/api/v1/pods", "/api/v1/services")]
    eps = data["all"]["vars"]["tracekit_endpoints"]
    assert "kube-system/kube-proxy-8xv2d" not in eps
    assert "kube-system" not in data["all"]["vars"]["tracekit_network_policies"]


def test_context_and_cache(api, tmp_path):
    """A named context of a kubeconfig with two; the second run answers from the cache with the server gone."""
    with KmockCluster(cluster()) as server:
        conf = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", context="broken")
        import yaml
        with open(conf) as handle:
            doc = yaml.safe_load(handle)
        doc["clusters"].append({"name": "good", "cluster": {"server": server.url}})
        doc["contexts"].append({"name": "good", "context": {"cluster": "good", "user": "tracekit"}})
        with open(conf, "w") as handle:
            yaml.safe_dump(doc, handle)
        config = ("kubeconfig: %s\ncontext: good\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
                  "cache_connection: %s\n" % (conf, tmp_path / "cache"))
        rc, first, err = inventory(tmp_path, config)
        assert rc == 0, err
    rc, second, err = inventory(tmp_path, config)
    assert rc == 0, err
    assert second == first
    assert sorted(second["tracekit_nodes"]["hosts"]) == ["cp1", "w1", "w2"]


def failure(tmp_path, config):
    rc, _data, err = inventory(tmp_path, config)
    assert rc != 0
    assert "Traceback" not in err
    return " ".join(err.split())


def test_bad_kubeconfig_is_a_clear_error(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [unterminated\n  - {")
    assert "not a valid kubeconfig" in failure(tmp_path, "kubeconfig: %s\n" % garbage)
    assert "does not exist" in failure(tmp_path, "kubeconfig: %s\n" % (tmp_path / "missing"))
    conf = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    assert "context" in failure(tmp_path, "kubeconfig: %s\ncontext: nope\n" % conf)


def test_unreachable_api_server_is_a_clear_error(tmp_path):
    conf = kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")     # discard port: nothing listens
    msg = failure(tmp_path, "kubeconfig: %s\nrequest_timeout: 5\n" % conf)
    assert "cannot reach the API server http://127.0.0.1:9" in msg


def test_forbidden_answer_names_the_resource_and_the_rbac(tmp_path):
    def deny_pods(km):
        km[resource("v1/pods")] << kmock_k8s.KubernetesError(
            status=403, reason="Forbidden",
            message='pods is forbidden: User "system:serviceaccount:ops:tracekit" cannot list resource "pods" '
                    'in API group "" at the cluster scope')
    with KmockCluster(cluster(), setup=deny_pods) as server:
        conf = kubeconfig(tmp_path / "kubeconfig", server.url)
        msg = failure(tmp_path, "kubeconfig: %s\n" % conf)
    assert "refused to list pods cluster-wide (403 Forbidden)" in msg
    assert 'cannot list resource "pods"' in msg
    assert "docs/kubernetes/rbac.yml" in msg


def test_plugin_documentation_renders():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-t", "inventory",
                           "netdiag.tracekit.k8s"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "tracekit_endpoints" in proc.stdout and "pod_selector" in proc.stdout

"""What the API server answers is read defensively: any body on a list call gives objects or a clear
K8sClientError, never another exception. A stdlib HTTP server on 127.0.0.1 plays the API server and answers
each list call with the body the fuzzer drew (status 200 or an error status)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kmock_cluster import kubeconfig

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.k8s import cluster

ANSWER = {"status": 200, "body": b"{}"}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(ANSWER["status"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER["body"])))
        self.end_headers()
        self.wfile.write(ANSWER["body"])

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conf = kubeconfig(tmp_path_factory.mktemp("kc") / "kubeconfig", "http://127.0.0.1:%d" % server.server_port)
    yield cluster.connect(kubeconfig=conf, timeout=5)
    server.shutdown()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=10)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(_json, max_size=3).map(lambda items: json.dumps({"items": items, "metadata": {}}).encode()),
)


@settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, status=st.sampled_from([200, 200, 200, 401, 403, 404, 500, 503]))
def test_any_answer_gives_objects_or_a_clear_error(api, body, status):
    ANSWER.update(status=status, body=body)
    try:
        items = cluster.list_objects(api, "pods", ("CoreV1Api", "list_pod_for_all_namespaces"))
    except cluster.K8sClientError as exc:
        assert str(exc)
        return
    assert items is None or all(isinstance(i, dict) for i in items)


def test_a_continue_token_that_never_ends_is_bounded(api, monkeypatch):
    ANSWER.update(status=200, body=json.dumps({"items": [], "metadata": {"continue": "again"}}).encode())
    monkeypatch.setattr(cluster, "MAX_PAGES", 3)
    with pytest.raises(cluster.K8sClientError, match="did not end after 3 pages"):
        cluster.list_objects(api, "pods", ("CoreV1Api", "list_pod_for_all_namespaces"))


def test_in_cluster_outside_a_pod_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(cluster.K8sClientError, match="cannot use the in-cluster service account"):
        cluster.connect(in_cluster=True)

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a cluster through the ``kubernetes`` client: the connection (kubeconfig, context or the in-cluster
service account) and the lists the inventory needs, as plain JSON dicts.

Every failure becomes a ``K8sClientError`` that says what was wrong and what to do: a bad kubeconfig, an API
server that cannot be reached, an identity the server refuses (401/403, with the RBAC to grant).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import yaml

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the plugin
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = _exc

    class ApiException(Exception):
        pass

    class ConfigException(Exception):
        pass

try:
    import urllib3
    URLLIB3_ERRORS = (urllib3.exceptions.HTTPError,)
except ImportError:  # pragma: no cover
    URLLIB3_ERRORS = ()

RBAC_HINT = ("grant it the ClusterRole of docs/kubernetes/rbac.yml (list on nodes, pods, services, "
             "endpointslices and networkpolicies)")
# (kind, how to list it cluster-wide, how to list it in one namespace); (api, method) pairs.
RESOURCES = (
    ("nodes", ("CoreV1Api", "list_node"), None),
    ("pods", ("CoreV1Api", "list_pod_for_all_namespaces"), ("CoreV1Api", "list_namespaced_pod")),
    ("services", ("CoreV1Api", "list_service_for_all_namespaces"), ("CoreV1Api", "list_namespaced_service")),
    ("endpointslices", ("DiscoveryV1Api", "list_endpoint_slice_for_all_namespaces"),
     ("DiscoveryV1Api", "list_namespaced_endpoint_slice")),
    ("networkpolicies", ("NetworkingV1Api", "list_network_policy_for_all_namespaces"),
     ("NetworkingV1Api", "list_namespaced_network_policy")),
)
PAGE_SIZE = 500
MAX_PAGES = 1000


class K8sClientError(TracekitError):
    pass


def _status_message(exc):
    """The message of the API server's Status object, or the HTTP reason."""
    try:
        body = json.loads(exc.body)
        return body.get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return getattr(exc, "reason", None) or str(exc)


def connect(kubeconfig=None, context=None, in_cluster=False, timeout=20):
    """A ``kubernetes.client.ApiClient`` for the kubeconfig (and context), or the in-cluster service account."""
    if not HAS_KUBERNETES:
        raise K8sClientError("the kubernetes Python package is required on the controller (pip install "
                             "kubernetes): %s" % KUBERNETES_IMPORT_ERROR)
    configuration = k8s_client.Configuration()
    source = None
    try:
        if in_cluster:
            source = "the in-cluster service account"
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser(
                "~/.kube/config")
            if not kubeconfig and not os.path.exists(path) and os.environ.get("KUBERNETES_SERVICE_HOST"):
                source = "the in-cluster service account"
                k8s_config.load_incluster_config(client_configuration=configuration)
            else:
                source = "kubeconfig %s" % path
                if not os.path.isfile(path):
                    raise K8sClientError("kubeconfig %s does not exist: set kubeconfig (or K8S_AUTH_KUBECONFIG), "
                                         "or in_cluster: true inside a pod" % path)
                k8s_config.load_kube_config(config_file=path, context=context or None,
                                            client_configuration=configuration, persist_config=False)
    except K8sClientError:
        raise
    except ConfigException as exc:
        raise K8sClientError("cannot use %s%s: %s" % (source, " (context %s)" % context if context else "", exc))
    except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        # The client parses YAML and base64 itself and lets those errors through: a malformed file.
        raise K8sClientError("cannot use %s: it is not a valid kubeconfig (%s: %s)"
                             % (source, type(exc).__name__, exc))
    configuration.retries = 1
    api = k8s_client.ApiClient(configuration)
    api.tracekit_timeout = timeout
    api.tracekit_server = configuration.host
    return api


def list_objects(api, kind, method, namespace=None, label_selector=None):
    """Every object of one list call, following ``continue`` tokens; plain dicts."""
    api_name, func = method
    caller = getattr(getattr(k8s_client, api_name)(api), func)
    items, token = [], None
    where = "in namespace %s" % namespace if namespace else "cluster-wide"
    for _page in range(MAX_PAGES):
        kwargs = {"limit": PAGE_SIZE, "_preload_content": False, "_request_timeout": api.tracekit_timeout}
        if token:
            kwargs["_continue"] = token
        if label_selector:
            kwargs["label_selector"] = label_selector
        args = (namespace,) if namespace else ()
        try:
            response = caller(*args, **kwargs)
            data = json.loads(response.data)
        except ApiException as exc:
            if exc.status in (401, 403):
                raise K8sClientError(
                    "the API server %s refused to list %s %s (%s %s): %s. The identity of the kubeconfig or "
                    "service account needs read access: %s."
                    % (api.tracekit_server, kind, where, exc.status, exc.reason, _status_message(exc), RBAC_HINT))
            if exc.status == 404 and kind in ("networkpolicies", "endpointslices"):
                return None
            if exc.status == 0 or exc.status is None:
                raise K8sClientError("cannot reach the API server %s: %s" % (api.tracekit_server, exc.reason))
            raise K8sClientError("the API server %s answered %s %s to the list of %s %s: %s"
                                 % (api.tracekit_server, exc.status, exc.reason, kind, where, _status_message(exc)))
        except URLLIB3_ERRORS as exc:
            raise K8sClientError("cannot reach the API server %s (%s): check the server address of the "
                                 "kubeconfig, the network and the certificates" % (api.tracekit_server, _reason(exc)))
        except ValueError as exc:
            raise K8sClientError("the API server %s answered the list of %s %s with something that is not "
                                 "JSON (%s): is it a Kubernetes API server?" % (api.tracekit_server, kind, where, exc))
        if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
            raise K8sClientError("the API server %s answered the list of %s with no items list"
                                 % (api.tracekit_server, kind))
        items.extend(i for i in data.get("items") or [] if isinstance(i, dict))
        token = (data.get("metadata") or {}).get("continue")
        if not token:
            return items
    raise K8sClientError("the list of %s %s did not end after %d pages" % (kind, where, MAX_PAGES))


def _reason(exc):
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def fetch(api, namespaces=None, pod_selector=None, node_selector=None):
    """The objects the inventory needs: ``{nodes, pods, services, endpointslices, networkpolicies, missing}``."""
    out = {"missing": []}
    for kind, cluster_wide, namespaced in RESOURCES:
        selector = node_selector if kind == "nodes" else pod_selector if kind == "pods" else None
        if namespaces and namespaced is not None:
            found = []
            for namespace in namespaces:
                items = list_objects(api, kind, namespaced, namespace=namespace, label_selector=selector)
                if items is None:
                    found = None
                    break
                found.extend(items)
        else:
            found = list_objects(api, kind, cluster_wide, label_selector=selector)
        if found is None:
            out["missing"].append(kind)
            found = []
        out[kind] = found
    return out

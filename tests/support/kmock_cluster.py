"""kmock (a Kubernetes API emulator from PyPI) as a stand-in for a real API server, on loopback.

No real kube-apiserver can run here, so the tests talk to kmock's KubernetesEmulator: a real HTTP server
that keeps objects in memory and answers discovery, /version, list and get as an API server does. It runs on
its own asyncio loop in a thread, so the code under test (ansible-inventory, a separate process) reaches
it like any API server. kmock does not evaluate label selectors; tests that need one install a reaction that
does (see ``selector_reaction``).
"""

import asyncio
import threading

import yaml
from kmock._internal import apps, k8s

RESOURCES = {
    "nodes": "v1/nodes",
    "pods": "v1/pods",
    "services": "v1/services",
    "endpointslices": "discovery.k8s.io/v1/endpointslices",
    "networkpolicies": "networking.k8s.io/v1/networkpolicies",
}


class KmockCluster(object):
    """``with KmockCluster(objects, setup=fn) as api: api.url`` serves ``objects`` ({kind: [obj, ...]})."""

    def __init__(self, objects, setup=None):
        self.objects = objects
        self.setup = setup
        self.url = None
        self.requests = []
        self._loop = None
        self._stop = None
        self._thread = None
        self._error = None
        self._km = None

    def __enter__(self):
        ready = threading.Event()

        async def main():
            try:
                async with k8s.KubernetesEmulator() as km, apps.Server(km, host="127.0.0.1") as server:
                    self._km = km
                    for kind, resource in RESOURCES.items():
                        km.resources[resource] = {}
                        for obj in self.objects.get(kind, []):
                            meta = obj["metadata"]
                            km.objects[resource, meta.get("namespace"), meta["name"]] = obj
                    if self.setup:
                        self.setup(km)
                    self._loop = asyncio.get_running_loop()
                    self._stop = asyncio.Event()
                    self.url = str(server.url).rstrip("/")
                    ready.set()
                    await self._stop.wait()
            except Exception as exc:  # pylint: disable=broad-except
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self._thread.start()
        if not ready.wait(20) or self._error:
            raise RuntimeError("kmock did not start: %s" % (self._error or "timeout"))
        return self

    def seen(self):
        """(method, path, query) of every request the emulator answered so far."""
        async def collect():
            return [(r.method.value if hasattr(r.method, "value") else str(r.method), r.url.path,
                     dict(r.params)) for r in list(self._km)]
        return asyncio.run_coroutine_threadsafe(collect(), self._loop).result(10)

    def __exit__(self, *exc):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def kubeconfig(path, server, context="tracekit-test", token="tracekit-test-token"):
    """Write a kubeconfig for ``server`` (plain HTTP on loopback, a bearer token) and return its path."""
    conf = {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "tracekit", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": "kmock", "user": "tracekit"}}],
    }
    with open(str(path), "w") as handle:
        yaml.safe_dump(conf, handle)
    return str(path)

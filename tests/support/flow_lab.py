"""Two "nodes" (network namespaces routing between them), a "pod" behind each, and one TCP exchange.

Used by the tests that need a real inter-node connection in conntrack on both nodes (collect_flows.yml, the
ELK collector's lab run). Every name starts with the prefix and the addresses are 10.<octet>.0-2.x, so two
tests with different prefixes and octets never meet. Conntrack accounting is on in both nodes, and a ruleset
that tracks connections makes them keep entries.
"""

import json
import subprocess
import sys
import time

SETUP = """
ip link add {p}-a type veth peer name {p}-b
ip link set {p}-a netns {p}-p1; ip link set {p}-b netns {p}-n1
ip link add {p}-c type veth peer name {p}-d
ip link set {p}-c netns {p}-n1; ip link set {p}-d netns {p}-n2
ip link add {p}-e type veth peer name {p}-f
ip link set {p}-e netns {p}-n2; ip link set {p}-f netns {p}-p2
ip -n {p}-p1 addr add {net}.1.2/24 dev {p}-a; ip -n {p}-n1 addr add {net}.1.1/24 dev {p}-b
ip -n {p}-n1 addr add {net}.0.1/30 dev {p}-c; ip -n {p}-n2 addr add {net}.0.2/30 dev {p}-d
ip -n {p}-n2 addr add {net}.2.1/24 dev {p}-e; ip -n {p}-p2 addr add {net}.2.2/24 dev {p}-f
for ns in {p}-p1 {p}-n1 {p}-n2 {p}-p2; do ip -n $ns link set lo up; done
ip -n {p}-p1 link set {p}-a up; ip -n {p}-n1 link set {p}-b up; ip -n {p}-n1 link set {p}-c up
ip -n {p}-n2 link set {p}-d up; ip -n {p}-n2 link set {p}-e up; ip -n {p}-p2 link set {p}-f up
ip -n {p}-p1 route add default via {net}.1.1; ip -n {p}-p2 route add default via {net}.2.1
ip -n {p}-n1 route add {net}.2.0/24 via {net}.0.2; ip -n {p}-n2 route add {net}.1.0/24 via {net}.0.1
for ns in {p}-n1 {p}-n2; do
  ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1
  ip netns exec $ns nft add table inet {p}
  ip netns exec $ns nft add chain inet {p} {p}_fwd '{{ type filter hook forward priority 0; policy accept; }}'
  ip netns exec $ns nft add rule inet {p} {p}_fwd ct state new,established counter accept
done
"""
# The pod on node2 reads 3000 bytes and answers 500; the pod on node1 sends them (bounded by timeouts).
SERVER = ("import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('%s', 8080)); s.listen(); s.settimeout(20); c, _ = s.accept(); "
          "n = 0\nwhile n < 3000:\n d = c.recv(65536)\n if not d: break\n n += len(d)\nc.sendall(b'y' * 500); c.close()")
CLIENT = ("import socket, time; c=socket.create_connection(('%s', 8080), timeout=10); "
          "c.sendall(b'x' * 3000); c.recv(1000); time.sleep(0.2); c.close()")


class FlowLab(object):
    """``with FlowLab("tkfa", 251) as lab:`` builds it; leaving the block removes every namespace."""

    def __init__(self, prefix, octet):
        self.prefix = prefix
        self.net = "10.%d" % octet
        self.namespaces = ["%s-%s" % (prefix, name) for name in ("p1", "n1", "n2", "p2")]
        self.pod1_ip = "%s.1.2" % self.net
        self.pod2_ip = "%s.2.2" % self.net

    def __enter__(self):
        self.remove()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            subprocess.run(["bash", "-ec", SETUP.format(p=self.prefix, net=self.net)], check=True,
                           capture_output=True, timeout=60)
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def remove(self):
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

    def inventory(self):
        """The runbooks' inventory of this lab (docs/inventory.md), as JSON text."""
        p = self.prefix
        return json.dumps({"all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "tracekit_endpoints": {"pod1": {"node": "node1", "netns": p + "-p1", "ip": self.pod1_ip},
                                            "pod2": {"node": "node2", "netns": p + "-p2", "ip": self.pod2_ip}}},
            "children": {"tracekit_nodes": {"hosts": {"node1": {"tracekit_netns": p + "-n1"},
                                                      "node2": {"tracekit_netns": p + "-n2"}}}}}})

    def exchange(self):
        """pod1 opens a TCP connection to pod2:8080, sends 3000 bytes, reads 500 and closes."""
        server = subprocess.Popen(["ip", "netns", "exec", self.prefix + "-p2", sys.executable, "-c",
                                   SERVER % self.pod2_ip])
        try:
            time.sleep(0.5)
            subprocess.run(["ip", "netns", "exec", self.prefix + "-p1", sys.executable, "-c",
                            CLIENT % self.pod2_ip], timeout=20, check=True)
            server.wait(20)
        finally:
            if server.poll() is None:
                server.kill()

"""A real, user-space OVN for the integration tests and the benchmark (no stand-in).

``OvnSandbox(run_dir)`` starts the Northbound and Southbound ovsdb-servers on unix sockets in ``run_dir``
and ovn-northd (LAB-NOTES: about 0.2 s), optionally ovs-vswitchd with the dummy datapath and
ovn-controller for ``ovn-trace --ovs``. ``build_topology()`` creates the scenarios the tests trace:

- ``sw0`` 10.0.0.0/24 fd00::/64: ``sw0-p1`` (web, in pg_web), ``sw0-p2`` (client, in pg_admin);
- ``sw1`` 10.0.1.0/24 fd00:1::/64: ``sw1-p1`` (db, in pg_db), ``sw1-p2``;
- router ``lr0`` between them and a ``public`` switch 172.16.0.0/24 (localnet, gateway port on hv1)
  with SNAT 10.0.0.0/24 -> 172.16.0.1 and dnat_and_snat 172.16.0.110 <-> 10.0.1.11;
- port security on every pod port (MAC + IPv4 + IPv6);
- ACLs like NetworkPolicies / security groups, on port groups, with external_ids as OVN-Kubernetes
  and Neutron write them: drop tcp/5432 to pg_db (``np-deny-db``), reject tcp/23 to pg_web
  (``sg-reject-telnet``), drop udp/53 from pg_admin (``np-deny-dns-egress``);
- load balancer ``lb-web`` 10.0.0.100:80 -> 10.0.1.12:8080 on sw0 and lr0.
"""

import os
import re
import shutil
import signal
import subprocess
import time

NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
SB_SCHEMA = "/usr/share/ovn/ovn-sb.ovsschema"
VSWITCH_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"

PODS = {
    # name: (switch, mac, ipv4, ipv6)
    "sw0-p1": ("sw0", "50:54:00:00:00:01", "10.0.0.11", "fd00::11"),
    "sw0-p2": ("sw0", "50:54:00:00:00:02", "10.0.0.12", "fd00::12"),
    "sw1-p1": ("sw1", "50:54:00:00:01:01", "10.0.1.11", "fd00:1::11"),
    "sw1-p2": ("sw1", "50:54:00:00:01:02", "10.0.1.12", "fd00:1::12"),
}
ROUTER_PORTS = {
    # switch: (router port, mac, networks)
    "sw0": ("lr0-sw0", "00:00:00:00:ff:01", ["10.0.0.1/24", "fd00::1/64"]),
    "sw1": ("lr0-sw1", "00:00:00:00:ff:02", ["10.0.1.1/24", "fd00:1::1/64"]),
}
# ACLs: name -> (port group, direction, priority, match, action, external_ids)
ACLS = {
    "np-deny-db": ("pg_db", "to-lport", 1001, "outport == @pg_db && ip4 && tcp.dst == 5432", "drop",
                   {"k8s.ovn.org/owner-type": "NetworkPolicy", "k8s.ovn.org/name": "deny-db",
                    "k8s.ovn.org/owner-controller": "default-network-controller",
                    "k8s.ovn.org/namespace": "prod"}),
    "sg-reject-telnet": ("pg_web", "to-lport", 1001, "outport == @pg_web && ip4 && tcp.dst == 23", "reject",
                         {"neutron:security_group_rule_id": "5f1d0c1e-8f5a-4b7e-9d21-3c3f0e1a2b44"}),
    "np-deny-dns-egress": ("pg_admin", "from-lport", 1001, "inport == @pg_admin && udp.dst == 53", "drop",
                           {"k8s.ovn.org/owner-type": "NetworkPolicy", "k8s.ovn.org/name": "no-dns",
                            "k8s.ovn.org/namespace": "tools"}),
    "allow-all-ingress": ("pg_web", "to-lport", 1000, "outport == @pg_web && ip", "allow-related", {}),
}
PORT_GROUPS = {"pg_web": ["sw0-p1"], "pg_db": ["sw1-p1"], "pg_admin": ["sw0-p2"]}


class SandboxError(Exception):
    pass


def make_pki(directory):
    """A CA and a server and a client certificate made with ovs-pki (about 3 s): {server: {...}, client: {...}}."""
    pki = os.path.join(directory, "pki")
    for argv in (["ovs-pki", "--dir=" + pki, "--force", "init"],
                 ["ovs-pki", "--dir=" + pki, "req+sign", "server", "switch"],
                 ["ovs-pki", "--dir=" + pki, "req+sign", "client", "switch"]):
        # req+sign writes NAME-privkey.pem and NAME-cert.pem in the current folder
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=directory)
        if proc.returncode != 0:
            raise SandboxError("%s failed: %s" % (" ".join(argv), (proc.stderr or proc.stdout).strip()))
    ca_cert = os.path.join(pki, "switchca", "cacert.pem")
    return dict((who, {"private_key": os.path.join(directory, who + "-privkey.pem"),
                       "certificate": os.path.join(directory, who + "-cert.pem"), "ca_cert": ca_cert})
                for who in ("server", "client"))


def have_ovn():
    return all(shutil.which(p) for p in ("ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-nbctl", "ovn-sbctl",
                                         "ovn-trace"))


class OvnSandbox(object):
    def __init__(self, run_dir):
        self.run_dir = os.path.abspath(run_dir)
        self.nb_sock = os.path.join(self.run_dir, "ovnnb_db.sock")
        self.sb_sock = os.path.join(self.run_dir, "ovnsb_db.sock")
        self.ovs_sock = os.path.join(self.run_dir, "db.sock")
        self.pids = []
        self.ovs = False
        self.ssl_remotes = {}

    @property
    def nb(self):
        return "unix:" + self.nb_sock

    @property
    def sb(self):
        return "unix:" + self.sb_sock

    @property
    def br_int_mgmt(self):
        return "unix:" + os.path.join(self.run_dir, "br-int.mgmt")

    def _run(self, argv, timeout=30):
        env = dict(os.environ, OVS_RUNDIR=self.run_dir, OVS_LOGDIR=self.run_dir, OVS_DBDIR=self.run_dir,
                   OVN_RUNDIR=self.run_dir, OVN_LOGDIR=self.run_dir, LC_ALL="C")
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise SandboxError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
        return proc.stdout

    def nbctl(self, *args):
        return self._run(["ovn-nbctl", "--db=" + self.nb] + list(args))

    def sbctl(self, *args):
        return self._run(["ovn-sbctl", "--db=" + self.sb] + list(args))

    def _daemon(self, name, argv):
        pidfile = os.path.join(self.run_dir, name + ".pid")
        logfile = os.path.join(self.run_dir, name + ".log")
        self._run(argv + ["--detach", "--no-chdir", "--pidfile=" + pidfile, "--log-file=" + logfile])
        self.pids.append(pidfile)

    def start(self, ovs=False, ssl=None):
        """Start OVN; ``ssl={private_key, certificate, ca_cert}`` also listens on ssl: at 127.0.0.1 (see ssl_remotes)."""
        os.makedirs(self.run_dir, exist_ok=True)
        for db, schema, sock in (("ovnnb", NB_SCHEMA, self.nb_sock), ("ovnsb", SB_SCHEMA, self.sb_sock)):
            path = os.path.join(self.run_dir, db + ".db")
            self._run(["ovsdb-tool", "create", path, schema])
            extra = []
            if ssl:
                extra = ["--remote=pssl:0:127.0.0.1", "--private-key=" + ssl["private_key"],
                         "--certificate=" + ssl["certificate"], "--ca-cert=" + ssl["ca_cert"]]
            self._daemon(db + "-server", ["ovsdb-server", "--remote=punix:" + sock, "--no-self-confinement",
                                          "--unixctl=" + os.path.join(self.run_dir, db + ".ctl")] + extra + [path])
            if ssl:
                self.ssl_remotes[db] = "ssl:127.0.0.1:%d" % self._listening_port(db + "-server.log")
        self._daemon("ovn-northd", ["ovn-northd", "--ovnnb-db=" + self.nb, "--ovnsb-db=" + self.sb,
                                    "--unixctl=" + os.path.join(self.run_dir, "ovn-northd.ctl")])
        self.nbctl("init")
        self.nbctl("--wait=sb", "sync")
        if ovs:
            self.ovs = True
            path = os.path.join(self.run_dir, "conf.db")
            self._run(["ovsdb-tool", "create", path, VSWITCH_SCHEMA])
            self._daemon("ovs-db", ["ovsdb-server", "--remote=punix:" + self.ovs_sock, "--no-self-confinement",
                                    "--unixctl=" + os.path.join(self.run_dir, "ovs-db.ctl"), path])
            vsctl = ["ovs-vsctl", "--db=unix:" + self.ovs_sock]
            self._run(vsctl + ["--no-wait", "init"])
            self._daemon("ovs-vswitchd", ["ovs-vswitchd", "unix:" + self.ovs_sock, "--enable-dummy=override",
                                          "--disable-system", "--disable-system-route",
                                          "--unixctl=" + os.path.join(self.run_dir, "ovs-vswitchd.ctl")])
            self._run(vsctl + ["set", "Open_vSwitch", ".", "external_ids:system-id=hv1",
                               "external_ids:ovn-remote=" + self.sb, "external_ids:ovn-encap-type=geneve",
                               "external_ids:ovn-encap-ip=127.0.0.1", "external_ids:hostname=hv1"])
            self._run(vsctl + ["--may-exist", "add-br", "br-int", "--", "set", "bridge", "br-int",
                               "datapath_type=dummy", "fail-mode=secure"])
            # ovn-controller has no --unixctl: its socket is OVN_RUNDIR/ovn-controller.<pid>.ctl
            self._daemon("ovn-controller", ["ovn-controller", "unix:" + self.ovs_sock])
        return self

    def stop(self):
        for pidfile in reversed(self.pids):
            try:
                with open(pidfile) as handle:
                    pid = int(handle.read().strip())
                os.kill(pid, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            for _attempt in range(50):
                try:
                    os.kill(pid, 0)
                except OSError:
                    break
                time.sleep(0.02)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.pids = []

    def wait_sb(self):
        self.nbctl("--wait=sb", "sync")

    def build_topology(self):
        nb = self.nbctl
        for switch in ("sw0", "sw1"):
            nb("ls-add", switch)
        for name, (switch, mac, ip4, ip6) in sorted(PODS.items()):
            addresses = "%s %s %s" % (mac, ip4, ip6)
            nb("lsp-add", switch, name, "--", "lsp-set-addresses", name, addresses,
               "--", "lsp-set-port-security", name, addresses)
        nb("lr-add", "lr0")
        for switch, (lrp, mac, networks) in sorted(ROUTER_PORTS.items()):
            nb(*(["lrp-add", "lr0", lrp, mac] + networks))
            peer = switch + "-lr0"
            nb("lsp-add", switch, peer, "--", "lsp-set-type", peer, "router", "--", "lsp-set-addresses", peer,
               "router", "--", "lsp-set-options", peer, "router-port=" + lrp)
        # external network with a distributed gateway port and NAT
        nb("ls-add", "public")
        nb("lsp-add", "public", "public-ln", "--", "lsp-set-type", "public-ln", "localnet", "--",
           "lsp-set-addresses", "public-ln", "unknown", "--", "lsp-set-options", "public-ln", "network_name=physnet1")
        nb("lrp-add", "lr0", "lr0-public", "00:00:00:00:ff:ee", "172.16.0.1/24")
        nb("lsp-add", "public", "public-lr0", "--", "lsp-set-type", "public-lr0", "router", "--",
           "lsp-set-addresses", "public-lr0", "router", "--", "lsp-set-options", "public-lr0", "router-port=lr0-public")
        nb("lrp-set-gateway-chassis", "lr0-public", "hv1", "20")
        nb("lr-nat-add", "lr0", "snat", "172.16.0.1", "10.0.0.0/24")
        nb("lr-nat-add", "lr0", "dnat_and_snat", "172.16.0.110", "10.0.1.11")
        for group, ports in sorted(PORT_GROUPS.items()):
            nb(*(["pg-add", group] + ports))
        for name, (group, direction, prio, match, action, ext) in sorted(ACLS.items()):
            args = ["--type=port-group", "--name=" + name]
            if action in ("drop", "reject"):
                args += ["--log", "--severity=warning"]
            nb(*(args + ["acl-add", group, direction, str(prio), match, action]))
            uuid = nb("--bare", "--columns=_uuid", "find", "ACL", "name=" + name).strip()
            if ext:
                nb(*(["set", "ACL", uuid] + ['external_ids:"%s"="%s"' % item for item in sorted(ext.items())]))
            if name == "np-deny-db":
                # OVN-Kubernetes does not log unless asked: the ACL must be found through the flow's uuid
                nb("set", "ACL", uuid, "log=false")
        nb("lb-add", "lb-web", "10.0.0.100:80", "10.0.1.12:8080", "tcp")
        nb("ls-lb-add", "sw0", "lb-web")
        nb("lr-lb-add", "lr0", "lb-web")
        # a chassis with the feature flags of a 23.03 ovn-controller, and every pod port bound and up
        if not self.ovs:
            self.sbctl("chassis-add", "hv1", "geneve", "127.0.0.1")
        else:
            self._wait_chassis()
        self.sbctl("set", "Chassis", "hv1", "hostname=hv1", "other_config:ct-no-masked-label=true",
                   "other_config:mac-binding-timestamp=true", "other_config:ovn-ct-lb-related=true",
                   "other_config:port-up-notif=true")
        self.wait_sb()
        for name in sorted(PODS):
            if self.ovs:
                self._run(["ovs-vsctl", "--db=unix:" + self.ovs_sock, "add-port", "br-int", "vif-" + name, "--",
                           "set", "Interface", "vif-" + name, "type=dummy", "external_ids:iface-id=" + name])
            else:
                self.sbctl("lsp-bind", name, "hv1")
                self.sbctl("set", "Port_Binding", name, "up=true")
        self.wait_sb()
        # next hop on the external network, as ovn-controller would have learned it
        dp = self.sbctl("--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lr0").strip()
        self.sbctl("create", "MAC_Binding", "datapath=" + dp, "logical_port=lr0-public", "ip=172.16.0.50",
                   'mac="52:54:00:aa:bb:cc"')
        self.wait_sb()
        return self

    def _wait_chassis(self):
        for _attempt in range(100):
            if self.sbctl("--bare", "--columns=name", "list", "Chassis").strip():
                return
            time.sleep(0.05)
        raise SandboxError("ovn-controller did not register chassis hv1 within 5 s")

    def _listening_port(self, log_name):
        """The port the kernel chose for pssl:0 (ovsdb-server logs 'listening on port N')."""
        for _attempt in range(50):
            with open(os.path.join(self.run_dir, log_name)) as handle:
                match = re.search(r"listening on port (\d+)", handle.read())
            if match:
                return int(match.group(1))
            time.sleep(0.05)
        raise SandboxError("%s does not say which port it listens on" % log_name)

    def wait_ports_up(self, ports, timeout=10.0):
        """With ovn-controller, wait until it has bound the ports (Port_Binding up=true)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = [self.sbctl("--bare", "--columns=up", "list", "Port_Binding", port).strip() for port in ports]
            if all(state == "true" for state in states):
                return
            time.sleep(0.1)
        raise SandboxError("ovn-controller did not bind %s within %ss" % (", ".join(ports), timeout))

    def acl_uuid(self, name):
        return self.nbctl("--bare", "--columns=_uuid", "find", "ACL", "name=" + name).strip()

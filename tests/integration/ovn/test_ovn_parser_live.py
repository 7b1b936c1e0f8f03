"""parse_ovn_trace on output of the real ovn-trace, against a real user-space OVN built by topology.sh.

OVN runs in user space (two ovsdb-servers and ovn-northd in a private folder, no kernel datapath, no
packets), with the topology of ../shared/fixtures/ovn/ovn-23.03-local/topology.sh. Each scenario's
expected meaning is the one commands.txt gives for it, written by hand below.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import acl_hints, parse_ovn_trace

ENV = dict(os.environ, LC_ALL="C")


def _run(argv, timeout=60, env=None, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env=env or ENV, cwd=cwd)


@pytest.fixture(scope="module")
def sb():
    for prog in ("ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-trace", "ovn-nbctl", "ovn-sbctl"):
        if shutil.which(prog) is None:
            pytest.skip("%s is not installed (apt-get install ovn-central)" % prog)
    topology = shared_path("fixtures", "ovn", "ovn-23.03-local", "topology.sh")
    run = tempfile.mkdtemp(prefix="tkt-ovnp-%d-" % os.getpid())
    try:
        for name in ("nb", "sb"):
            db = os.path.join(run, "ovn%s_db.db" % name)
            _run(["ovsdb-tool", "create", db, "/usr/share/ovn/ovn-%s.ovsschema" % name]).check_returncode()
            _run(["ovsdb-server", "--detach", "--no-chdir", "--no-self-confinement",
                  "--pidfile=%s/ovsdb-%s.pid" % (run, name), "--log-file=%s/ovsdb-%s.log" % (run, name),
                  "--remote=punix:%s/ovn%s_db.sock" % (run, name), "--unixctl=%s/ovsdb-%s.ctl" % (run, name),
                  db]).check_returncode()
        _run(["ovn-northd", "--detach", "--no-chdir", "--pidfile=%s/northd.pid" % run,
              "--log-file=%s/northd.log" % run, "--unixctl=%s/northd.ctl" % run,
              "--ovnnb-db=unix:%s/ovnnb_db.sock" % run, "--ovnsb-db=unix:%s/ovnsb_db.sock" % run]).check_returncode()
        _run(["ovn-nbctl", "--db=unix:%s/ovnnb_db.sock" % run, "init"]).check_returncode()
        topo = _run(["bash", topology], timeout=180, cwd=run, env=dict(ENV, R=run))
        assert topo.returncode == 0, topo.stderr[-2000:]
        yield "unix:%s/ovnsb_db.sock" % run
    finally:
        for pid_file in ("northd.pid", "ovsdb-sb.pid", "ovsdb-nb.pid"):
            try:
                with open(os.path.join(run, pid_file)) as handle:
                    os.kill(int(handle.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
        shutil.rmtree(run, ignore_errors=True)


def _flow(inport, src_mac, dst_mac, src, dst, proto="tcp", sport=33333, dport=22):
    return ('inport == "%s" && eth.src == %s && eth.dst == %s && ip4.src == %s && ip4.dst == %s && ip.ttl == 64'
            ' && %s.src == %d && %s.dst == %d' % (inport, src_mac, dst_mac, src, dst, proto, sport, proto, dport))


def _trace(sb, flow, *opts):
    proc = _run(["ovn-trace", "--db=" + sb] + list(opts) + [flow])
    assert proc.returncode == 0, proc.stderr
    return parse_ovn_trace(proc.stdout)


def test_live_acl_drop_egress_names_the_acl(sb):
    flow = _flow("sw0-port1", "50:54:00:00:00:01", "50:54:00:00:00:02", "10.0.0.11", "10.0.0.12")
    for opts in ((), ("--summary",), ("--minimal",), ("--ct=new",)):
        parsed = _trace(sb, flow, *opts)
        assert parsed["verdict"] == "dropped", opts
        assert parsed["drop"]["acl"]["name"] == "deny-ssh-egress", opts
    detailed = _trace(sb, flow)
    assert detailed["drop"]["stage"] == "ls_in_acl" and detailed["drop"]["datapath"] == "sw0"
    hints = acl_hints(detailed)
    assert len(hints["lflow_uuid_prefix"]) == 8 and hints["direction"] == "from-lport"


def test_live_acl_drop_ingress_and_reject(sb):
    drop = _trace(sb, _flow("sw1-port2", "50:54:00:00:01:02", "50:54:00:00:01:01", "10.0.1.12", "10.0.1.11"),
                  "--ct=new", "--ct=new")
    assert drop["verdict"] == "dropped"
    assert (drop["drop"]["stage"], drop["drop"]["pipeline"], drop["drop"]["datapath"]) == (
        "ls_out_acl", "egress", "backend-net")
    reject = _trace(sb, _flow("sw1-port2", "50:54:00:00:01:02", "50:54:00:00:01:01", "10.0.1.12", "10.0.1.11",
                              dport=23), "--ct=new", "--ct=new")
    assert reject["verdict"] == "rejected"
    assert reject["drop"]["acl"]["name"] == "reject-telnet"
    assert reject["generated"][0]["kind"] == "tcp_reset"
    assert reject["generated"][0]["outputs"][0]["port"] == "sw1-port2"


def test_live_routed_lb_and_no_route(sb):
    routed = _trace(sb, _flow("sw0-port1", "50:54:00:00:00:01", "00:00:00:00:ff:01", "10.0.0.11", "10.0.1.12",
                              dport=80))
    assert routed["verdict"] == "delivered"
    assert routed["outputs"] == [{"datapath": "backend-net", "port": "sw1-port2", "type": ""}]
    lb = _trace(sb, _flow("sw0-port2", "50:54:00:00:00:02", "00:00:00:00:ff:01", "10.0.0.12", "10.0.0.100",
                          dport=80), "--lb-dst=10.0.1.11:8080")
    assert lb["verdict"] == "delivered" and lb["outputs"][0]["port"] == "sw1-port1"
    none = _trace(sb, _flow("sw0-port1", "50:54:00:00:00:01", "00:00:00:00:ff:01", "10.0.0.11", "192.168.99.1",
                            dport=80))
    assert none["verdict"] == "dropped" and none["drop"]["stage"] == "lr_in_ip_routing"


def test_live_errors(sb):
    assert _trace(sb, 'inport == "nope" && eth.src == 50:54:00:00:00:01')["verdict"] == "error"
    parsed = _trace(sb, 'inport == "sw0-port1" && ip4.src == 10.0.0.300')
    assert parsed["verdict"] == "error" and parsed["errors"][0].startswith("error parsing flow:")

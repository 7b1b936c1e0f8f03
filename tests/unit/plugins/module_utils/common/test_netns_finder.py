"""netns auto: the namespace holding an address, among named namespaces and processes' namespaces.

Builds its own namespaces (prefix tkk8su-): two named ones with addresses on their loopback, a third holding
the same address as the first (ambiguity), and an unnamed one that only a process (unshare -n) keeps alive.
"""

import os
import subprocess
import time

import pytest

from conftest import need_root, run_module

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns_finder
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import nettrace

PREFIX = "tkk8su%d" % (os.getpid() % 10000)


def ip(*args, **kw):
    return subprocess.run(["ip"] + list(args), check=True, capture_output=True, text=True, timeout=20, **kw)


@pytest.fixture(scope="module")
def spaces():
    need_root()
    made = []
    proc = None
    try:
        for name, addrs in (("a", ["10.252.0.1/32", "fd00:252::1/128"]), ("b", ["10.252.0.2/32"]),
                            ("dup", ["10.252.0.9/32"]), ("dup2", ["10.252.0.9/32"])):
            full = "%s-%s" % (PREFIX, name)
            ip("netns", "add", full)
            made.append(full)
            ip("-n", full, "link", "set", "lo", "up")
            for addr in addrs:
                ip("-n", full, "addr", "add", addr, "dev", "lo", *(["nodad"] if ":" in addr else []))
        # An unnamed namespace, kept alive by a process only (as a container's is, without a CNI name).
        proc = subprocess.Popen(["unshare", "-n", "sh", "-c",
                                 "ip link set lo up && ip addr add 10.252.0.3/32 dev lo && exec sleep 120"])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if os.stat("/proc/%d/ns/net" % proc.pid).st_ino != os.stat("/proc/self/ns/net").st_ino:
                    out = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "ip", "-o", "addr"],
                                         capture_output=True, text=True, check=False).stdout
                    if "10.252.0.3" in out:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        yield {"names": made, "pid": proc.pid}
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(10)
        for name in made:
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=20)


def test_named_and_unnamed_namespaces_are_found_by_address(spaces):
    found, scanned = netns_finder.find(["10.252.0.1", "fd00:252::1/128", "10.252.0.2", "10.252.0.3", "10.252.0.77"])
    assert [h["name"] for h in found["10.252.0.1"]] == [PREFIX + "-a"]
    assert [h["name"] for h in found["fd00:252::1"]] == [PREFIX + "-a"]          # prefix length ignored
    assert found["10.252.0.2"][0]["spec"] == PREFIX + "-b"
    unnamed = found["10.252.0.3"]
    assert len(unnamed) == 1 and unnamed[0]["name"] is None
    assert unnamed[0]["inode"] == os.stat("/proc/%d/ns/net" % spaces["pid"]).st_ino
    assert unnamed[0]["spec"] == str(unnamed[0]["inode"])
    assert found["10.252.0.77"] == []
    assert scanned >= 5
    inodes = [ns["inode"] for ns in netns_finder.namespaces()]
    assert len(inodes) == len(set(inodes))                                          # de-duplicated by inode


def test_resolve_auto_and_inode(spaces):
    ns = netns_finder.resolve("auto", address="10.252.0.2")
    assert ns["name"] == PREFIX + "-b" and ns["inode"] == os.stat("/run/netns/%s-b" % PREFIX).st_ino
    inode = os.stat("/proc/%d/ns/net" % spaces["pid"]).st_ino
    by_inode = netns_finder.resolve(str(inode))
    assert by_inode["inode"] == inode and by_inode["path"].startswith("/proc/")
    with pytest.raises(netns_utils.NetnsError, match="held by 2 namespaces"):
        netns_finder.resolve("auto", address="10.252.0.9")
    with pytest.raises(netns_utils.NetnsError, match="no network namespace of this node holds 10.252.0.77"):
        netns_finder.resolve("auto", address="10.252.0.77")
    with pytest.raises(netns_utils.NetnsError, match="give the source address"):
        netns_finder.resolve("auto")
    with pytest.raises(netns_utils.NetnsError, match="not an IPv4 or IPv6 address"):
        netns_finder.resolve("auto", address="10.252.0")


def test_nettrace_netns_auto_keeps_the_namespaces_of_the_filter_addresses(spaces):
    got = nettrace.resolve_netns(["auto", "host"], addresses=["10.252.0.1", "10.252.0.3"])
    assert got[os.stat("/run/netns/%s-a" % PREFIX).st_ino] == PREFIX + "-a"
    assert os.stat("/proc/%d/ns/net" % spaces["pid"]).st_ino in got
    assert os.stat("/proc/self/ns/net").st_ino in got
    with pytest.raises(nettrace.NettraceError, match="give filter_ip"):
        nettrace.resolve_netns(["auto"])


def test_netns_info_module_and_packet_inject_auto(spaces):
    res = run_module("netdiag.tracekit.netns_info", {"addresses": ["10.252.0.2", "10.252.0.9", "10.252.0.88"]})
    assert res["changed"] is False
    assert res["found"]["10.252.0.2"][0]["spec"] == PREFIX + "-b"
    assert res["ambiguous"] == ["10.252.0.9"] and res["missing"] == ["10.252.0.88"]
    # check mode: the namespace is found and the packet built, nothing is sent
    res = run_module("netdiag.tracekit.packet_inject", {"netns": "auto", "src": "10.252.0.1", "dst": "10.252.0.1",
                                                        "protocol": "icmp"}, check=True)
    assert res["netns"]["name"] == PREFIX + "-a" and res["outcome"] == "not_sent"
    res = run_module("netdiag.tracekit.packet_inject", {"netns": "auto", "dst": "10.252.0.1", "protocol": "icmp"})
    assert res["failed"] and "give the source address" in res["msg"]

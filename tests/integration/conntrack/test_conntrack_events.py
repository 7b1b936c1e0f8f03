"""Events (NEW/UPDATE/DESTROY) read by the module's reader, checked against ``conntrack -E -o extended,id``
listening to the same namespace at the same time; DESTROY carries the final counters that ``conntrack -L``
printed just before the entry was deleted.
"""

import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import need_root, run_module

from conntrack_lab import B4, B6, ConntrackLab, conntrack_text, sh

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import netlink
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = ConntrackLab("tkct-e%d" % os.getpid()).create()
    try:
        yield lab
    finally:
        lab.destroy()


def test_events_match_conntrack_e_and_destroy_has_final_counters(lab):
    tool = subprocess.Popen(["ip", "netns", "exec", lab.a, "stdbuf", "-oL", "conntrack", "-E", "-o", "extended,id"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    got = {}
    ready = threading.Event()

    def listen():
        got["flows"], got["lost"] = netlink.events(6, lab.path(lab.a), ready=ready.set)

    reader = threading.Thread(target=listen)
    reader.start()
    try:
        assert ready.wait(5)
        time.sleep(0.7)     # conntrack -E subscribes too
        client = lab.tcp(B4, 8080)
        lab.udp(B6, 5353)
        before = parse_conntrack(conntrack_text(lab.a, "-L", "-o", "extended,id", "-p", "tcp", "--dport", "8080"))
        sh(["ip", "netns", "exec", lab.a, "conntrack", "-D", "-p", "tcp", "--dport", "8080"])
        client.close()
        reader.join(10)
    finally:
        tool.send_signal(signal.SIGINT)
        out = tool.communicate(timeout=10)[0]
    theirs = parse_conntrack(out)
    ours = got["flows"]
    assert got["lost"] == 0
    # both listen to the same multicast groups: the same events in the same order
    assert [(f["event"], f["id"]) for f in ours] == [(f["event"], f["id"]) for f in theirs]
    assert {"NEW", "UPDATE", "DESTROY"} <= set(f["event"] for f in ours)
    (listed,) = before
    (destroy,) = [f for f in ours if f["event"] == "DESTROY" and f["original"].get("dst_port") == 8080]
    assert destroy["id"] == listed["id"] and destroy["original"] == listed["original"]
    for key in ("packetTotalCount", "octetTotalCount", "reversePacketTotalCount", "reverseOctetTotalCount"):
        assert destroy[key] == listed[key] and destroy[key] > 0
    for flow, text in zip(ours, theirs):
        for key in ("original", "reply", "tcpState", "packetTotalCount", "reverseOctetTotalCount"):
            assert flow[key] == text[key], (key, flow, text)


def test_module_events_mode_with_filters(lab):
    result = {}

    def run():
        result.update(run_module("netdiag.tracekit.conntrack_export",
                                 {"netns": lab.a, "mode": "events", "duration": 5, "event_types": ["NEW"],
                                  "protocol": "udp", "dst_port": 5353}))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 12
    while thread.is_alive() and time.monotonic() < deadline:
        lab.udp(B4, 5353)
        lab.tcp(B4, 8080, close=True)
        time.sleep(0.4)
    thread.join(30)
    assert not result.get("failed"), result
    assert result["flows"], "no NEW event of udp/5353 in 5 s while sending one every 0.4 s"
    assert all(f["event"] == "NEW" and f["original"]["dst_port"] == 5353 for f in result["flows"])
    assert result["events_lost"] == 0

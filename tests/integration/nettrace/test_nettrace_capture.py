"""nettrace with real traffic in namespaces this test creates (see nettrace_lab.py for the topology).

One capture through ansible-playbook (async + ready_file + wait_for + async_status, the runbook's flow)
checks every event kind for IPv4 and IPv6; one capture through the Python API checks the namespace and
address filters. Expected reason names and codes come from the kernel's tracefs format file, read here with
a separate regular expression, not from the module's table.
"""

import json
import os
import re
import sys
import textwrap

import pytest

from conftest import SUPPORT, need_root, run_module, run_playbook

from nettrace_lab import Lab, V4_DSCP, V4_ID, V6_DSCP, V6_FLOW  # noqa: E402


def kernel_drop_code(name):
    """The code of a drop reason on this kernel, read straight from the tracepoint's format file."""
    for base in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        path = os.path.join(base, "events/skb/kfree_skb/format")
        if os.path.exists(path):
            with open(path) as handle:
                match = re.search(r'\{\s*(\d+),\s*"%s"\s*\}' % name, handle.read())
            return int(match.group(1))
    pytest.skip("tracefs is not mounted")
    return None


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = Lab("tkt-nt-%d" % os.getpid()).create()
    try:
        yield lab
    finally:
        lab.destroy()


def find(events, **want):
    return [e for e in events if all(e.get(k) == v for k, v in want.items())]


def one(events, **want):
    found = find(events, **want)
    assert found, "no event with %s among:\n%s" % (want, "\n".join(json.dumps(e) for e in events))
    return found[0]


@pytest.fixture(scope="module")
def playbook_capture(lab, tmp_path_factory):
    """Run the runbook's flow: start nettrace async, wait for ready_file, inject, collect with async_status."""
    tmp = tmp_path_factory.mktemp("nettrace")
    ready = str(tmp / "ready.json")
    result = str(tmp / "result.json")
    playbook = tmp / "capture.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
            ansible_python_interpreter: %(python)s
          tasks:
            - name: Forget an old ready file
              ansible.builtin.file:
                path: %(ready)s
                state: absent
            - name: Start the capture
              netdiag.tracekit.nettrace:
                duration: 10
                filter_cidr: [10.99.0.0/24, "fd99::/64", 10.98.0.0/16, "fd98::/64"]
                ready_file: %(ready)s
              async: 90
              poll: 0
              register: job
            - name: Wait until attached
              ansible.builtin.wait_for:
                path: %(ready)s
                timeout: 60
            - name: Keep the ready file as it was when the wait ended
              ansible.builtin.command: cat %(ready)s
              register: ready_content
              changed_when: false
            - name: Inject the traffic
              ansible.builtin.command: %(python)s %(lab)s %(prefix)s traffic
              changed_when: false
            - name: Collect
              ansible.builtin.async_status:
                jid: "{{ job.ansible_job_id }}"
              register: trace
              until: trace.finished
              retries: 60
              delay: 1
            - name: Save
              ansible.builtin.copy:
                content: "{{ {'trace': trace, 'ready': ready_content.stdout | from_json} | to_json }}"
                dest: %(result)s
                mode: "0600"
        """ % {"python": sys.executable, "ready": ready, "lab": os.path.join(SUPPORT, "nettrace_lab.py"),
               "prefix": lab.prefix, "result": result}))
    rc, out, err = run_playbook(str(playbook), inventory="localhost,", timeout=240)
    assert rc == 0, "playbook failed:\n%s\n%s" % (out[-4000:], err[-2000:])
    with open(result) as handle:
        return json.load(handle)


def test_capture_every_event_type_ipv4_ipv6(lab, playbook_capture):
    trace = playbook_capture["trace"]
    events = trace["events"]
    b, a = lab.inode("b"), lab.inode("a")
    netfilter = kernel_drop_code("NETFILTER_DROP")
    no_socket = kernel_drop_code("NO_SOCKET")

    # DROP by the nftables rule in b, with the probe tags read from the packet headers.
    drop4 = one(events, type="DROP", src_ip="10.99.0.1", src_port=40000, dst_ip="10.99.0.2", dst_port=9)
    assert (drop4["reason"], drop4["reason_code"]) == ("NETFILTER_DROP", netfilter)
    assert (drop4["netns"], drop4["netns_name"], drop4["protocol"]) == (b, lab.ns["b"], "udp")
    assert (drop4["ip_id"], drop4["dscp"], drop4["flow_label"]) == (V4_ID, V4_DSCP, None)
    assert drop4["location"].startswith("nf"), drop4["location"]  # nft_do_chain / nf_hook_slow
    drop6 = one(events, type="DROP", src_ip="fd99::1", dst_ip="fd99::2", dst_port=9)
    assert (drop6["reason"], drop6["netns"], drop6["family"]) == ("NETFILTER_DROP", b, "ipv6")
    assert (drop6["flow_label"], drop6["dscp"], drop6["ip_id"]) == (V6_FLOW, V6_DSCP, None)

    for remote, local in (("10.99.0.2", "10.99.0.1"), ("fd99::2", "fd99::1")):
        # Closed port: b answers with a RST without a socket (namespace from the skb) and drops the SYN.
        rst = one(events, type="RST_SENT", src_ip=remote, src_port=81, dst_ip=local)
        assert (rst["reason"], rst["netns"], rst["netns_name"]) == ("NO_SOCKET", b, lab.ns["b"])
        syn = one(events, type="DROP", dst_ip=remote, dst_port=81, src_port=rst["dst_port"])
        assert (syn["reason"], syn["reason_code"], syn["netns"]) == ("NO_SOCKET", no_socket, b)
        # the RST's tie fields are the SYN's (the packet that caused it), as the dropped SYN shows them
        tie = "ip_id" if "." in remote else "flow_label"
        assert rst[tie] is not None and (rst[tie], rst["dscp"]) == (syn[tie], syn["dscp"])
        # a receives the RST and the application gets ECONNREFUSED, with the source port after tcp_done.
        recv = one(events, type="RST_RECV", src_ip=local, src_port=rst["dst_port"], dst_ip=remote, dst_port=81)
        assert (recv["netns"], recv["netns_name"]) == (a, lab.ns["a"])
        err = one(events, type="SOCK_ERR", src_ip=local, src_port=rst["dst_port"], dst_ip=remote, dst_port=81)
        assert (err["reason"], err["errno"], err["reason_code"], err["netns"]) == ("ECONNREFUSED", "ECONNREFUSED", 111, a)
        # SYN to a port b drops: a retransmits in SYN_SENT.
        retrans = one(events, type="RETRANS", src_ip=local, dst_ip=remote, dst_port=5432)
        assert (retrans["state"], retrans["reason"], retrans["netns"]) == ("TCP_SYN_SENT", "TCP_SYN_SENT", a)

    # No route in the forwarding namespace b.
    for dst in ("10.98.0.7", "fd98::7"):
        noroute = one(events, type="DROP", dst_ip=dst, dst_port=53)
        assert (noroute["reason"], noroute["netns"]) == ("IP_INNOROUTES", b)

    # The unrelated c/d traffic was filtered in the kernel, and nothing was lost.
    assert not [e for e in events if str(e.get("src_ip")).startswith(("10.97.", "fd97:"))]
    counters = trace["counters"]
    assert counters["filtered_ip"] >= 7
    assert counters["lost"] == 0 and counters["emitted"] == counters["received"] == len(events)
    assert trace["counts"]["DROP"] == len(find(events, type="DROP"))
    assert trace["drop_reasons"][str(netfilter)] == "NETFILTER_DROP"


def test_ready_file_written_before_events(playbook_capture):
    trace, ready = playbook_capture["trace"], playbook_capture["ready"]
    assert ready["pid"] > 0 and ready["attach_seconds"] == trace["attach_seconds"]
    assert ready["events"] == ["DROP", "RST_SENT", "RST_RECV", "SOCK_ERR", "RETRANS"]
    assert min(e["timestamp"] for e in trace["events"]) > ready["attached_at"]
    assert trace["stopped_by"] == "duration" and trace["changed"] is False
    assert trace["capture_seconds"] >= 10 and trace["event_types"] == ready["events"]
    assert trace["filters"] == ["10.99.0.0/24", "fd99::/64", "10.98.0.0/16", "fd98::/64"]
    assert trace["netns_filter"] == [] and trace["kernel_source"]


def test_table_has_retina_columns(playbook_capture):
    table = playbook_capture["trace"]["table"].splitlines()
    assert table[0].startswith("TIME         TYPE       REASON             PROBE              SRC -> DST")
    assert table[0].split()[-2:] == ["NETNS", "LOCATION"]
    assert set(table[1]) == {u"\u2500"}
    drop = [line for line in table if "10.99.0.1:40000  ->  10.99.0.2:9 " in line][0]
    assert drop.split()[1:4] == ["DROP", "NETFILTER_DROP", "kfree_skb"]
    assert "(%s)" % "-b" in drop or "-b)" in drop
    assert len(table) == len(playbook_capture["trace"]["events"]) + 2


def test_netns_and_ip_filters_in_kernel(lab):
    """Keep only namespace b (by name) and d (by inode), and only two IPv6 addresses."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import NettraceSession
    import threading
    session = NettraceSession(netns=[lab.ns["b"], str(lab.inode("d"))], filter_ip=["fd99::2", "fd97::2"])
    with session:
        session.prepare()
        session.attach()
        traffic = threading.Thread(target=lab.all_traffic, kwargs={"retrans": False})
        traffic.start()
        session.capture(1.5)
        traffic.join()
        result = session.result()
    events = result["events"]
    assert events
    assert {e["netns"] for e in events} == {lab.inode("b"), lab.inode("d")}
    assert all(e["family"] == "ipv6" and {"fd99::2", "fd97::2"} & {e["src_ip"], e["dst_ip"]} for e in events)
    one(events, type="DROP", dst_ip="fd97::2", dst_port=9, netns=lab.inode("d"), netns_name=lab.ns["d"])
    one(events, type="RST_SENT", src_ip="fd99::2", netns=lab.inode("b"))
    assert not find(events, type="RST_RECV") and not find(events, type="SOCK_ERR")  # those are in a
    assert result["counters"]["filtered_netns"] > 0 and result["counters"]["filtered_ip"] > 0
    assert result["netns_filter"] == sorted([lab.inode("b"), lab.inode("d")])


@pytest.mark.parametrize("args, message", [
    ({"netns": ["tkt-no-such-ns"]}, "network namespace 'tkt-no-such-ns' does not exist"),
    ({"filter_cidr": ["10.0.0.0/33"]}, "filter_cidr item '10.0.0.0/33' is not an IPv4 or IPv6 prefix"),
    ({"duration": 0}, "duration must be a positive number"),
])
def test_bad_input_clear_error(args, message):
    need_root()
    result = run_module("netdiag.tracekit.nettrace", args, timeout=120)
    assert result.get("failed") and message in result["msg"], result


def test_max_events_ends_the_capture_early(lab):
    from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import NettraceSession
    import threading
    session = NettraceSession(kinds=["DROP"], netns=[lab.ns["d"]], filter_cidr=["10.97.0.0/24"], max_events=3)
    with session:
        session.prepare()
        session.attach()
        sender = threading.Timer(0.2, lab.udp, args=("c", "10.97.0.2", 9), kwargs={"count": 20})
        sender.start()
        session.capture(20)
        sender.join()
        result = session.result()
    assert result["stopped_by"] == "max_events" and result["capture_seconds"] < 10
    assert len(result["events"]) == 3 and result["counts"] == {"DROP": 3}
    assert result["counters"]["received"] == 3 + result["counters"]["over_max_events"]
    assert all(e["dst_port"] == 9 and e["reason"] == "NETFILTER_DROP" for e in result["events"])


def test_stop_file_ends_the_capture_and_both_signal_files_are_removed(lab, tmp_path):
    """The runbook stops every node's capture right after the probe instead of waiting out duration."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import NettraceSession
    import threading
    ready, stop = str(tmp_path / "n.ready"), str(tmp_path / "n.stop")
    with open(stop, "w") as handle:
        handle.write("left over from an earlier run\n")      # must not end the new capture at once
    session = NettraceSession(kinds=["DROP"], netns=[lab.ns["d"]], filter_cidr=["10.97.0.0/24"],
                              ready_file=ready, stop_file=stop)
    with session:
        session.prepare()
        assert not os.path.exists(stop)
        session.attach()
        assert os.path.exists(ready)
        sender = threading.Timer(0.2, lab.udp, args=("c", "10.97.0.2", 9), kwargs={"count": 2})
        stopper = threading.Timer(1.0, lambda: open(stop, "w").close())
        sender.start()
        stopper.start()
        session.capture(30)
        sender.join()
        stopper.join()
        result = session.result()
    assert result["stopped_by"] == "stop_file" and result["capture_seconds"] < 10
    assert len(result["events"]) == 2
    assert not os.path.exists(ready) and not os.path.exists(stop)


def test_a_capture_that_cannot_start_says_why_in_its_ready_file(tmp_path):
    """A waiting runbook reads the reason at once instead of timing out."""
    need_root()
    ready = str(tmp_path / "n.ready")
    result = run_module("netdiag.tracekit.nettrace", {"netns": ["tkt-no-such-ns"], "ready_file": ready}, timeout=120)
    assert result.get("failed")
    with open(ready) as handle:
        assert "tkt-no-such-ns" in json.load(handle)["error"]

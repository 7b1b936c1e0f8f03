"""The trace table never stays: normal end, failure, SIGTERM, and SIGKILL followed by the next start.

Also: a namespace that cannot be entered, and a node without nftables, are reported while the rest goes on.
Everything runs in namespaces this test creates (prefix tknc<pid>).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, SUPPORT, need_root, run_module
from nftrace_support import HOLD_TAG, del_netns, make_netns, nft_load, trace_tables

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import (
    STATE_DIR, NftraceSession, own_table_name)

PREFIX = "tknc%d" % (os.getpid() % 10000)


@pytest.fixture
def ns():
    need_root()
    name = make_netns("%s-a" % PREFIX, "10.77.0.1/24")
    nft_load(name, 'table inet filter {\n chain output {\n  type filter hook output priority 0; policy accept;\n'
                   '  tcp dport 5432 drop comment "default/deny"\n }\n}\n')
    yield name
    left = trace_tables(name)
    del_netns(name)
    assert left == [], "trace tables left behind: %s" % left


def _hold(ns, tmp_path):
    """Start a trace in another process; return (process, ready file) once its table is loaded."""
    ready = str(tmp_path / "ready")
    proc = subprocess.Popen([sys.executable, os.path.join(SUPPORT, "nftrace_support.py"), "hold", ns, ready],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert os.path.exists(ready), proc.communicate(timeout=10)
    assert len(trace_tables(ns)) == 1
    return proc, ready


def test_success_through_the_module_with_an_unreachable_namespace(ns):
    args = {"tag": HOLD_TAG, "netns": [ns, PREFIX + "-missing"], "duration": 0.3}
    result = run_module("netdiag.tracekit.nft_trace", args)
    assert not result.get("failed"), result
    assert result["stopped_by"] == "duration"
    assert [n["name"] for n in result["netns"]] == [ns]
    assert len(result["problems"]) == 1
    assert PREFIX + "-missing" in result["problems"][0] and "does not exist" in result["problems"][0]
    assert trace_tables(ns) == []


def test_check_mode_loads_nothing(ns):
    result = run_module("netdiag.tracekit.nft_trace", {"tag": HOLD_TAG, "netns": [ns], "duration": 5}, check=True)
    assert not result.get("failed") and result["changed"] is False and result["netns"] == [ns]
    assert trace_tables(ns) == []


def test_bad_tag_fails_clearly(ns):
    result = run_module("netdiag.tracekit.nft_trace", {"tag": {"dscp": 99, "ip_id": 1}, "netns": [ns]})
    assert result.get("failed") and "dscp" in result["msg"] and "0-63" in result["msg"]


def test_failure_inside_the_capture_removes_the_table(ns):
    with pytest.raises(RuntimeError):
        with NftraceSession([ns], HOLD_TAG) as session:
            session.prepare()
            session.arm()
            assert trace_tables(ns) == [session.table]
            raise RuntimeError("something broke mid-capture")
    assert trace_tables(ns) == []
    assert not os.path.exists(os.path.join(STATE_DIR, "%s.json" % own_table_name()))


def test_sigterm_removes_the_table(ns, tmp_path):
    proc, _ready = _hold(ns, tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert json.loads(out)["stopped_by"] == "signal SIGTERM", err
    assert trace_tables(ns) == []


def test_sigkill_leaves_it_for_the_next_start_to_remove(ns, tmp_path):
    proc, _ready = _hold(ns, tmp_path)
    table = trace_tables(ns)[0]
    proc.kill()
    proc.wait(timeout=30)
    assert trace_tables(ns) == [table]              # nothing can run on SIGKILL...
    with NftraceSession([ns], HOLD_TAG) as session:
        session.prepare()                           # ...so the next start removes it
        assert any(table in item for item in session.stale_removed)
        assert trace_tables(ns) == []


def test_sigkill_without_its_state_file_is_still_found_by_name(ns, tmp_path):
    proc, _ready = _hold(ns, tmp_path)
    table = trace_tables(ns)[0]
    proc.kill()
    proc.wait(timeout=30)
    os.unlink(os.path.join(STATE_DIR, "%s.json" % table))
    with NftraceSession([ns], HOLD_TAG) as session:
        session.prepare()
        session.arm()                               # loading ours first removes tables of dead owners
        assert trace_tables(ns) == [session.table]
        assert any(table in item for item in session.stale_removed)
    assert trace_tables(ns) == []


def test_a_node_without_nftables_is_said_so(ns, tmp_path):
    ready = str(tmp_path / "ready")
    env = dict(os.environ, PATH="/nonexistent")
    proc = subprocess.run([sys.executable, os.path.join(SUPPORT, "nftrace_support.py"), "hold", ns, ready, "0.2"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=REPO, check=False)
    # No nft: nothing is loaded, the session says why and ends by itself after its duration.
    assert proc.returncode == 0, proc.stderr
    assert "nftables is not installed" in json.loads(proc.stdout)["problems"][0]


def test_nettrace_runs_the_trace_beside_its_capture_and_removes_it(ns):
    """The runbook's path with the eBPF capture: nettrace arms the trace while BCC compiles (needs BCC)."""
    args = {"duration": 1, "netns": [ns], "events": ["DROP"], "nft_trace": {"tag": HOLD_TAG, "netns": [ns]}}
    result = run_module("netdiag.tracekit.nettrace", args)
    if result.get("failed") and "BCC" in result.get("msg", ""):
        pytest.skip("BCC is not available: %s" % result["msg"])
    assert not result.get("failed"), result.get("msg")
    assert result["nft_trace"]["problems"] == []
    assert [n["name"] for n in result["nft_trace"]["netns"]] == [ns]
    assert result["nft_trace"]["attached_at"] is not None
    assert trace_tables(ns) == []

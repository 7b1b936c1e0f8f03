"""Killing nettrace mid-capture leaves no BPF program attached (SIGKILL and SIGTERM).

The module file runs as Ansible runs it on a node (``python nettrace.py args.json``). Its programs are found
with ``bpftool prog list`` by id and name, and tied to the module's process through /proc/PID/fdinfo.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import COLLECTIONS, REPO, need_root

PROG_NAMES = {"nt_drop", "nt_rst_sent", "nt_rst_recv", "nt_sock_err", "nt_retrans"}


def nettrace_progs():
    out = subprocess.run(["bpftool", "prog", "list", "--json"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return dict((p["id"], p.get("name")) for p in json.loads(out) if p.get("name") in PROG_NAMES)


def held_prog_ids(pid):
    ids = set()
    fd_dir = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as handle:
                for line in handle:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def start_module(tmp_path, duration=60):
    ready = tmp_path / "ready.json"
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"duration": duration, "ready_file": str(ready)}}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "plugins", "modules", "nettrace.py"), str(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail("nettrace never became ready: %s %s" % (out, err))
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_module_leaves_no_program(tmp_path, sig):
    need_root()
    proc, ready = start_module(tmp_path)
    try:
        assert ready["pid"] == proc.pid
        ours = held_prog_ids(proc.pid)
        attached = nettrace_progs()
        assert len(ours & set(attached)) == 5, (ours, attached)
        assert {attached[i] for i in ours & set(attached)} == PROG_NAMES
        started = time.monotonic()
        proc.send_signal(sig)
        out, _err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10  # far before the 60 s duration
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = nettrace_progs()
    assert not ours & set(left), "programs still loaded after %s: %s" % (sig.name, left)
    if sig == signal.SIGTERM:
        result = json.loads(out)
        assert result["failed"] and "interrupted by SIGTERM" in result["msg"]
        assert result["stopped_by"] == "signal SIGTERM" and "events" in result

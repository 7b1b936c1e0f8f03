"""The shared command runner (argv only, time limits, clear errors) and namespace resolution."""

import os
import sys

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import (
    CliError, CliRunner, as_flag, as_list, as_opt_eq, as_opt_val, run_argv)


def test_argv_is_built_from_named_formats_never_a_shell_string():
    runner = CliRunner(sys.executable, {"db": as_opt_eq("--db"), "minimal": as_flag("--minimal"),
                                        "ct": as_list("--ct"), "timeout": as_opt_val("-t")})
    argv = runner.argv(["db", "minimal", "ct", "timeout"], tail=["x; rm -rf /"], db="unix:/s", minimal=True,
                       ct=["new", "est"], timeout=None)
    assert argv == [sys.executable, "--db=unix:/s", "--minimal", "--ct", "new", "--ct", "est", "x; rm -rf /"]


def test_run_captures_output_with_c_locale():
    rc, out, _err = run_argv([sys.executable, "-c", "import os; print(os.environ['LC_ALL'])"])
    assert (rc, out.strip()) == (0, "C")


def test_timeout_and_failure_are_clear_errors():
    with pytest.raises(CliError, match="did not answer within 0.5s"):
        run_argv([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    with pytest.raises(CliError, match="exited with 3: boom"):
        run_argv([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"])
    with pytest.raises(CliError, match="not found on this host's PATH"):
        CliRunner("no-such-tool-xyz").run()


def test_netns_resolution_errors_and_self():
    own = netns.resolve(None)
    assert own["inode"] == os.stat("/proc/self/ns/net").st_ino
    assert netns.resolve(str(os.getpid()))["inode"] == own["inode"]
    with pytest.raises(netns.NetnsError, match="does not exist"):
        netns.resolve("tracekit-no-such-ns")
    with pytest.raises(netns.NetnsError, match="no process with PID"):
        netns.resolve("999999999")
    with pytest.raises(netns.NetnsError, match="is not a namespace name"):
        netns.resolve("../etc/passwd")


def test_a_program_behind_a_prefix_is_not_looked_for_on_this_host():
    """vppctl inside a container: /usr/bin/vppctl need not exist here, only the prefix's program does."""
    runner = CliRunner("/opt/inside-the-container/vppctl", prefix=[sys.executable, "-c", "import sys; print(sys.argv[1:])"])
    rc, out, _err = runner.run(tail=["show", "version"])
    assert rc == 0 and "'/opt/inside-the-container/vppctl', 'show', 'version'" in out
    with pytest.raises(CliError, match="is not an executable file"):
        CliRunner("/opt/inside-the-container/vppctl").run()

#!/usr/bin/env python
"""A stand-in for VPP's ``vppctl`` that answers from real VPP outputs, for testing the vpp_trace module.

Why it exists: no VPP package can be installed on the development and CI machines (see LAB-NOTES), so VPP
cannot run in tests. This script takes vppctl's place. It accepts vppctl's command line
(``vppctl [-s SOCKET] WORD...``), connects to the socket as vppctl does, and answers each command from
the REAL outputs of VPP saved in ``../shared/fixtures/vpp/`` (VPP v26.06 by default). It keeps the little
state VPP's tracer has (armed input nodes, cleared error counters) so a started -> collected -> stopped
sequence sees what a real VPP would print, and it appends every command it receives to a log so tests
can assert the exact sequence the module ran.

Behaviour copied from VPP's source (vpp/app/vppctl.c, vlib/trace.c, vlib/cli.c), not invented:
- socket missing: ``connect: No such file or directory`` on stderr, exit 1; nobody listening:
  ``connect: Connection refused``, exit 1; no ``-s`` and no default socket: ``Could not find VPP CLI socket``.
- ``trace add <unknown node> N``: VPP prints ``expected NODE COUNT, got `<rest of line>'`` and vppctl
  still exits 0; a node that exists but is not an input node prints ``node '<name>' doesn't support
  per-node tracing. There may be another way to initiate trace on this node.``
- ``clear trace`` stops tracing and empties the buffer; ``clear errors`` zeroes the counters.

The scenario is a JSON file, ``$VPPCTL_STANDIN_SCENARIO`` or ``<socket>.scenario.json`` beside the socket:

    fixtures           folder of real outputs (default: ../shared/fixtures/vpp/vpp-26.06-local)
    trace              show trace once traffic flowed: a fixture file name, or a list of them served as one
                       busy trace buffer (each file's packets kept as printed, renumbered Packet 1..N, cut
                       at ``max`` with VPP's ``Limiting display`` lines)
    errors_before      show errors before the traffic, counters not cleared (default: header only)
    errors_after       show errors after the traffic, counters not cleared
    errors_after_clear show errors after the traffic when ``clear errors`` ran (default: errors_after)
    traffic_delay      seconds after ``trace add`` before the traffic shows in the trace (default 0)
    input_nodes        graph nodes that accept ``trace add`` (default: common input nodes)
    graph_nodes        other graph nodes of this VPP (default: the names in show_runtime.txt)
    hang               list of command prefixes to hang on (VPP stuck), for ``hang_seconds`` (default 30)
    files              extra command -> fixture file answers (``"show interface": "show_interface.txt"``)

State lives in ``<socket>.state.json``, the log (one JSON object per line) in ``<socket>.log``.
"""

import errno
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIXTURES = os.path.join(os.environ.get("TRACEKIT_SHARED", os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(HERE))), "shared")), "fixtures", "vpp", "vpp-26.06-local")
DEFAULT_SOCKETS = ["/run/vpp/cli.sock", "/var/run/vpp/cli.sock", "/var/run/user/%d/vpp/cli.sock" % os.getuid(),
                   "./cli.sock"]
DEFAULT_INPUT_NODES = ["pg-input", "af-packet-input", "virtio-input", "memif-input", "tapcli-rx", "dpdk-input",
                       "vmxnet3-input", "avf-input", "rdma-input", "af_xdp-input"]
DEFAULT_FILES = {
    "show version": "show_version.txt",
    "show runtime": "show_runtime.txt",
    "show run": "show_runtime.txt",
    "show interface": "show_interface.txt",
    "show int": "show_interface.txt",
    "show interface address": "show_interface_address.txt",
    "show hardware-interfaces": "show_hardware-interfaces.txt",
    "show ip fib": "show_ip_fib.txt",
    "show ip neighbors": "show_ip_neighbors.txt",
    "show acl-plugin acl": "show_acl-plugin_acl.txt",
    "show node counters": "show_node_counters.txt",
}
HEADER_ONLY_ERRORS = "show_errors_cumulative.txt"
EMPTY_TRACE = "trace_empty.txt"
THREAD0_HEADER = "------------------- Start of thread 0 vpp_main -------------------"


def fail(text, code=1):
    sys.stderr.write(text + "\n")
    sys.exit(code)


def parse_argv(argv):
    """vppctl's own rule: ``-s SOCKET`` only as the first two arguments; the rest are the command words."""
    sock = None
    if len(argv) > 1 and argv[0].startswith("-s"):
        sock, argv = argv[1], argv[2:]
    return sock, argv


def find_socket(sock):
    if sock:
        return sock
    for path in DEFAULT_SOCKETS:
        if os.path.exists(path):
            return path
    fail("Could not find VPP CLI socket")
    return None


def connect(sock):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(sock)
    except OSError as exc:
        fail("connect: %s" % os.strerror(exc.errno or errno.EIO))
    finally:
        conn.close()


def load_json(path, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError):
        return default


def save_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.rename(tmp, path)


class Standin(object):
    def __init__(self, sock):
        self.sock = sock
        self.scenario = load_json(os.environ.get("VPPCTL_STANDIN_SCENARIO") or sock + ".scenario.json", {})
        self.fixtures = self.scenario.get("fixtures") or DEFAULT_FIXTURES
        self.state_path = sock + ".state.json"
        self.state = load_json(self.state_path, {"armed": {}, "armed_at": None, "errors_cleared": False})

    def read(self, name):
        path = os.path.join(self.fixtures, name)
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            fail("vppctl stand-in: fixture %s is missing (%s)" % (path, exc), code=2)
        return ""

    def graph_nodes(self):
        if "graph_nodes" in self.scenario:
            return set(self.scenario["graph_nodes"])
        names = set()
        for line in self.read("show_runtime.txt").splitlines()[3:]:
            if line.strip() and not line.startswith(" "):
                names.add(line.split()[0])
        return names

    def traffic_seen(self):
        armed_at = self.state.get("armed_at")
        if armed_at is None or not self.state.get("armed"):
            return False
        return time.time() - armed_at >= float(self.scenario.get("traffic_delay", 0))

    def answer(self, words):
        command = " ".join(words)
        for prefix in self.scenario.get("hang", []):
            if command.startswith(prefix):
                time.sleep(min(float(self.scenario.get("hang_seconds", 30)), 120))
        if command == "clear trace":
            self.state.update(armed={}, armed_at=None)
            return ""
        if command == "clear errors":
            self.state["errors_cleared"] = True
            return ""
        if words[:2] == ["trace", "add"]:
            return self.trace_add(words[2:])
        if words[:2] == ["show", "trace"]:
            if len(words) > 2 and not (words[2] == "max" and len(words) == 4 and words[3].isdigit()):
                return "expected 'max COUNT', got `%s'\n" % " ".join(words[2:])
            if not self.traffic_seen():
                return self.read(EMPTY_TRACE)
            return self.trace_text(self.scenario.get("trace", EMPTY_TRACE), int(words[3]) if len(words) == 4 else 50)
        if command in ("show errors", "show error", "sh err"):
            return self.read(self.errors_file())
        files = dict(DEFAULT_FILES, **self.scenario.get("files", {}))
        if command in files:
            return self.read(files[command])
        parent = words[0] if len(words) > 1 and words[0] in ("show", "clear", "set", "trace") else ""
        rest = " ".join(words[1:] if parent else words)
        return ("%s: unknown input `%s'\n" % (parent, rest)) if parent else ("unknown input `%s'\n" % rest)

    def trace_text(self, names, max_packets=50):
        """One fixture as is; several as one thread's buffer holding all their packets, renumbered in order.

        Like VPP (vlib/trace.c), past ``max`` packets the display stops, and ``Limiting display to N packets.
        To display more specify max.`` is printed before the output and again where the display stopped.
        """
        if isinstance(names, str):
            return self.read(names)
        packets = []
        for name in names:
            for line in self.read(name).splitlines():
                if line.startswith("------------------- Start of thread") or line.startswith("Limiting display"):
                    continue
                if line.startswith("Packet ") and line[7:].strip().isdigit():
                    packets.append([])
                    line = "Packet %d" % len(packets)
                if packets:
                    packets[-1].append(line)
        lines = [THREAD0_HEADER]
        for block in packets[:max_packets]:
            lines.extend(block)
        if len(packets) > max_packets:
            warn = "Limiting display to %d packets. To display more specify max." % max_packets
            lines = [warn] + lines + [warn]
        return "\n".join(lines) + "\n"

    def errors_file(self):
        if not self.traffic_seen():
            if self.state.get("errors_cleared"):
                return HEADER_ONLY_ERRORS
            return self.scenario.get("errors_before", HEADER_ONLY_ERRORS)
        if self.state.get("errors_cleared"):
            return self.scenario.get("errors_after_clear") or self.scenario.get("errors_after", HEADER_ONLY_ERRORS)
        return self.scenario.get("errors_after", HEADER_ONLY_ERRORS)

    def trace_add(self, args):
        rest = " ".join(args)
        inputs = set(self.scenario.get("input_nodes", DEFAULT_INPUT_NODES))
        if len(args) < 2 or not args[1].isdigit() or args[0] not in inputs | self.graph_nodes():
            return "expected NODE COUNT, got `%s'\n" % rest
        if args[0] not in inputs:
            return ("node '%s' doesn't support per-node tracing. There may be another way to initiate trace "
                    "on this node.\n" % args[0])
        armed = self.state.setdefault("armed", {})
        armed[args[0]] = armed.get(args[0], 0) + int(args[1])
        self.state["armed_at"] = time.time()
        return ""


def main(argv):
    sock, words = parse_argv(argv)
    sock = find_socket(sock)
    log_path = sock + ".log"
    with open(log_path, "a") as log:
        log.write(json.dumps({"argv": [sys.argv[0]] + argv, "command": " ".join(words), "time": time.time()}) + "\n")
    connect(sock)
    if not words:
        fail("vppctl stand-in: interactive mode is not emulated; give a command", code=2)
    standin = Standin(sock)
    out = standin.answer(words)
    save_json(standin.state_path, standin.state)
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

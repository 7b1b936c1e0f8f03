"""Inputs for fuzzing and benchmarking the text parsers: real outputs per parser, and grammar fragments.

``load_corpus(shared)`` reads the real ovn-trace and VPP outputs of ../shared/fixtures (and a few real nettrace
lines, kept here: there is no nettrace fixture folder); ``FRAGMENTS`` holds, per parser, the beginnings of
its line kinds, from which ``parser_fuzz.adversarial_line`` builds lines that stress its patterns. The fuzz
tests (tests/fuzz) and bench/bench_parsers.py use both.
"""

import glob
import os


def _read(pattern):
    paths = sorted(glob.glob(pattern))
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            texts.append(handle.read())
    return texts


def load_corpus(shared):
    """Real outputs per parser, from ``shared``/fixtures (the ../shared beside the clone)."""
    ovn = os.path.join(shared, "fixtures", "ovn")
    vpp = os.path.join(shared, "fixtures", "vpp")
    return {
        "ovn": _read(os.path.join(ovn, "*", "*.txt")),
        "vpp_trace": _read(os.path.join(vpp, "*", "trace_*.txt")),
        "vpp_errors": _read(os.path.join(vpp, "*", "errors_*.txt")) + _read(os.path.join(vpp, "*", "show_errors*.txt"))
        + _read(os.path.join(vpp, "*", "show_node_counters.txt")),
        "vpp_runtime": _read(os.path.join(vpp, "*", "show_run*.txt")),
        "vpp_interfaces": _read(os.path.join(vpp, "*", "show_interface*.txt")),
        "nettrace": [NETTRACE],
    }


# Real lines of the three nettrace forms (Retina's table and JSON, the nettrace module's table).
NETTRACE = "\n".join((
    "TIME         TYPE       REASON          PROBE              SRC                ->  DST",
    "18:14:41     DROP       6               kfree_skb          10.224.0.34:33061  ->  10.224.0.49:80",
    "18:14:42     RST_SENT   -               tcp_send_reset     10.224.0.49:80     ->  10.224.0.34:33061",
    '{"time": "18:14:43", "type": "DROP", "reason": "NETFILTER_DROP", "probe": "kfree_skb", "src_ip": "10.0.0.1", '
    '"src_port": 1, "dst_ip": "10.0.0.2", "dst_port": 80}',
    "12:00:01.123456 SOCK_ERR -111 inet_sk_error_report [fd00::1]:5 -> [fd00::2]:80 4026532 ns1 tcp_connect",
    "12:00:02.5 RETRANS 1 tcp_retransmit_skb 10.0.0.1:1 -> 10.0.0.2:2 - -",
))

FRAGMENTS = {
    "ovn": ("ingress(dp=\"sw0\", inport=\"p\")", "egress(", "multicast(", " 1. ls_in_acl (northd.c:1): ip", "/* omitting output because ",
            "/* output to \"", "*** ", "LOG: ACL name=", "    log(name=", "log(", "cookie=0x1, ", "output(\"",
            "unknown port \"", "# ", "-------", "ct_next(ct_state=", "}", "    next;", "reg8[17] = 1; ", "ct_label.label = "),
    "vpp_trace": ("--- Thread 1", "------------------- Start of thread 0 vpp_main ---", "Limiting display to ",
                  "Packet ", "00:00:01:000001: ", "1700000000.000001: ", "2026-01-01T00:00:00.1: ", "  ip4-input: ",
                  "  rx:", "  TCP: 10.0.0.1 -> ", "  tcp ", "  sw_if_index ", "  HANDED-OFF: from thread ",
                  "  IP4: 02:00:00:00:00:01 -> 02:00:00:00:00:02 802.1q vlan ", "No packets in trace buffer"),
    "vpp_errors": ("Count Node Reason Severity Index", "Thread 1 (vpp_wk_0):", "Total:", "         1  ip4-input  ",
                   "1 a ", "   12   ", "Count"),
    "vpp_runtime": ("Time ", "Time 1.0, ", "Time 1, 10 sec internal node vector rate ", "vector rates in ",
                    "Thread 1 vpp_wk_0 (lcore ", "ip4-input  active  ", "a", "---------------", "  events pending",
                    "Name  State  Calls  Vectors  Suspends  Clocks  Vectors/Call", "ip4-input "),
    "vpp_interfaces": ("local0  0  down  ", "eth0  1  up  9000/0/0/0  rx packets  ", "  rx packets  ", "Name  Idx",
                       "  drops  ", "a "),
    "nettrace": ("18:14:41 DROP ", "18:14:41 DROP 6 kfree_skb 10.0.0.1:", "{\"type\": \"DROP\", \"x\": ", "[" , "{",
                 "TIME TYPE REASON PROBE SRC -> DST", "12:00:01 SOCK_ERR -"),
}

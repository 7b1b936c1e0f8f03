# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build ovn-trace command lines from checked values: the microflow expression and the options.

Every user value is validated before it becomes text in the expression or an argument (netaddr for MAC and
IP addresses, integer ranges for ports/TTL/flags, a safe character set for port and datapath names, which
are then quoted), so no value can add a term, close a quote or become an ovn-trace option.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_NETADDR = False


class FlowError(TracekitError, ValueError):
    """A value cannot be used in an ovn-trace command; the message says which and why."""


# OVN-Kubernetes port names are "<namespace>_<pod>", Neutron ones UUIDs, others "sw0-port1", "k8s-node1",
# "rtoe-GR_node1", "stor-ovn_cluster_router": letters, digits and _ . : @ / + -, never a quote or a space.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@/+-]{0,254}$")
CT_FLAGS = ("trk", "new", "est", "rel", "rpl", "inv", "dnat", "snat")
TCP_FLAGS = {"fin": 0x001, "syn": 0x002, "rst": 0x004, "psh": 0x008, "ack": 0x010, "urg": 0x020,
             "ece": 0x040, "cwr": 0x080, "ns": 0x100}
PROTOCOLS = ("tcp", "udp", "icmp", "icmp4", "icmp6")
FORMATS = ("detailed", "summary", "minimal")
REMOTE_RE = re.compile(r"^(unix:[^\s,]+|(tcp|ssl):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:[0-9]{1,5})?)$")
# what no microflow may contain: a control character (newline included) or a NUL
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_name(value, what):
    """A port or datapath name, or raise FlowError saying what is wrong with it."""
    if not isinstance(value, str) or not value:
        raise FlowError("%s must be a non-empty string" % what)
    if not NAME_RE.match(value):
        raise FlowError("%s %r is not a valid OVN name: use letters, digits and _ . : @ / + - only "
                        "(no quotes, spaces or leading '-'), at most 255 characters" % (what, value))
    return value


def quote(name):
    # check_name() guarantees no quote or backslash inside, so this cannot be escaped out of
    return '"%s"' % name


def check_mac(value, what):
    if not HAS_NETADDR:
        raise FlowError("the netaddr Python library is required to check %s" % what)
    try:
        mac = netaddr.EUI(str(value), version=48)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        raise FlowError("%s %r is not a MAC address (expected e.g. 0a:58:0a:f4:00:05)" % (what, value))
    return str(mac.format(netaddr.mac_unix_expanded)).lower()


def check_ip(value, what):
    """Return a netaddr.IPAddress for a single address (no prefix, no name)."""
    if not HAS_NETADDR:
        raise FlowError("the netaddr Python library is required to check %s" % what)
    text = str(value).strip()
    if "/" in text:
        raise FlowError("%s %r must be a single address, not a network" % (what, value))
    try:
        # INET_PTON: refuse '10.1' or '167772161' style shorthands that netaddr would otherwise accept
        return netaddr.IPAddress(text, flags=netaddr.INET_PTON)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        raise FlowError("%s %r is not an IPv4 or IPv6 address" % (what, value))


def check_int(value, what, low, high):
    if isinstance(value, bool):
        raise FlowError("%s must be an integer, not a boolean" % what)
    try:
        number = int(str(value), 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise FlowError("%s %r is not an integer" % (what, value))
    if not low <= number <= high:
        raise FlowError("%s %d is out of range %d-%d" % (what, number, low, high))
    return number


def tcp_flags_value(flags):
    """``['syn']``, ``'syn,ack'``, ``2`` or ``'0x12'`` -> the 12-bit tcp.flags integer."""
    if flags is None:
        return None
    if isinstance(flags, int) and not isinstance(flags, bool):
        return check_int(flags, "tcp_flags", 0, 0xfff)
    items = flags if isinstance(flags, (list, tuple)) else str(flags).replace("|", ",").split(",")
    value = 0
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name in TCP_FLAGS:
            value |= TCP_FLAGS[name]
        elif re.match(r"^(0x[0-9a-f]+|[0-9]+)$", name):
            value |= check_int(name, "tcp_flags", 0, 0xfff)
        else:
            raise FlowError("tcp_flags %r: unknown flag %r (use %s or a number)"
                            % (flags, item, ", ".join(sorted(TCP_FLAGS))))
    return value


def build_microflow(inport=None, microflow=None, eth_src=None, eth_dst=None, ip_src=None, ip_dst=None,
                    protocol=None, src_port=None, dst_port=None, ttl=None, tcp_flags=None):
    """Return the ovn-trace microflow expression for these values (see the module's documentation)."""
    typed = dict(eth_src=eth_src, eth_dst=eth_dst, ip_src=ip_src, ip_dst=ip_dst, protocol=protocol,
                 src_port=src_port, dst_port=dst_port, ttl=ttl, tcp_flags=tcp_flags)
    given = sorted(k for k, v in typed.items() if v is not None and v != [])
    terms = []
    if inport is not None:
        terms.append("inport == %s" % quote(check_name(inport, "inport")))
    if microflow is not None:
        if given:
            raise FlowError("give either microflow or the typed fields (%s), not both" % ", ".join(given))
        text = str(microflow).strip()
        if not text:
            raise FlowError("microflow is empty")
        if CONTROL_RE.search(text):
            raise FlowError("microflow contains a control character (newline, tab or NUL)")
        terms.append("(%s)" % text if terms else text)
        return " && ".join(terms)
    if not terms and not given:
        raise FlowError("nothing to trace: give inport and the packet's fields, or a microflow")
    if eth_src is not None:
        terms.append("eth.src == %s" % check_mac(eth_src, "eth_src"))
    if eth_dst is not None:
        terms.append("eth.dst == %s" % check_mac(eth_dst, "eth_dst"))

    pairs = (("src", "ip_src", ip_src), ("dst", "ip_dst", ip_dst))
    addrs = [(field, check_ip(value, name)) for field, name, value in pairs if value is not None]
    versions = set(addr.version for _field, addr in addrs)
    if len(versions) > 1:
        raise FlowError("ip_src and ip_dst must both be IPv4 or both IPv6 (got %s and %s)" % (ip_src, ip_dst))
    proto = None if protocol is None else str(protocol).lower()
    if proto is not None and proto not in PROTOCOLS:
        raise FlowError("protocol %r is not one of tcp, udp, icmp, icmp6" % protocol)
    if proto == "icmp4":
        proto = "icmp"
    version = versions.pop() if versions else (6 if proto == "icmp6" else 4)
    if proto == "icmp6" and version == 4:
        raise FlowError("protocol icmp6 needs IPv6 addresses (got IPv4)")
    if proto == "icmp" and version == 6:
        proto = "icmp6"  # ICMP between IPv6 addresses is ICMPv6
    ip_fields = addrs or proto is not None or ttl is not None
    family = "ip%d" % version
    if ip_fields and not addrs:
        terms.append(family)
    for field, addr in addrs:
        terms.append("%s.%s == %s" % (family, field, addr))
    if ip_fields:
        # without it ovn-trace traces a packet with TTL 0, which the first router drops
        terms.append("ip.ttl == %d" % (64 if ttl is None else check_int(ttl, "ttl", 0, 255)))

    if (src_port is not None or dst_port is not None) and proto not in ("tcp", "udp"):
        raise FlowError("src_port and dst_port need protocol tcp or udp")
    if tcp_flags is not None and tcp_flags != [] and proto != "tcp":
        raise FlowError("tcp_flags needs protocol tcp")
    if proto in ("tcp", "udp"):
        if src_port is None and dst_port is None:
            terms.append(proto)
        if src_port is not None:
            terms.append("%s.src == %d" % (proto, check_int(src_port, "src_port", 0, 65535)))
        if dst_port is not None:
            terms.append("%s.dst == %d" % (proto, check_int(dst_port, "dst_port", 0, 65535)))
        flags = tcp_flags_value(tcp_flags) if proto == "tcp" else None
        if flags is not None:
            terms.append("tcp.flags == 0x%x" % flags)
    elif proto == "icmp":
        terms.append("icmp4.type == 8 && icmp4.code == 0")  # echo request
    elif proto == "icmp6":
        terms.append("icmp6.type == 128 && icmp6.code == 0")  # echo request
    return " && ".join(terms)


def check_ct(states):
    """``['new', 'est,rpl']`` -> the same, checked; each becomes one ``--ct=`` (one per ct action traced)."""
    out = []
    for state in states or []:
        flags = [flag.strip().lower() for flag in str(state).split(",")]
        bad = [flag for flag in flags if flag not in CT_FLAGS]
        if bad or not flags:
            raise FlowError("ct state %r: unknown flag(s) %s (use comma-separated %s)"
                            % (state, ", ".join(repr(b) for b in bad), ", ".join(CT_FLAGS)))
        out.append(",".join(flags))
    return out


def check_lb_dst(value):
    """``10.0.1.12``, ``10.0.1.12:8080``, ``fd00::12`` or ``[fd00::12]:8080`` -> checked text for --lb-dst."""
    if value is None:
        return None
    text = str(value).strip()
    port = None
    match = re.match(r"^\[([^\]]+)\](?::([0-9]+))?$", text)
    if match:
        host, port = match.group(1), match.group(2)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text
    addr = check_ip(host, "lb_dst")
    if port is not None:
        port = check_int(port, "lb_dst port", 1, 65535)
    if addr.version == 6:
        return "[%s]:%d" % (addr, port) if port is not None else str(addr)
    return "%s:%d" % (addr, port) if port is not None else str(addr)


def check_remote(value, what):
    """An OVSDB/OpenFlow remote: ``unix:PATH``, ``tcp:HOST:PORT``, ``ssl:HOST:PORT``, or a comma list."""
    if value is None:
        return None
    text = str(value).strip()
    parts = text.split(",")
    for part in parts:
        if not REMOTE_RE.match(part):
            raise FlowError("%s %r is not a remote: use unix:/path/to.sock, tcp:HOST:PORT or ssl:HOST:PORT "
                            "(comma-separated for a cluster)" % (what, value))
    return text


def remote_is_ssl(remote):
    return bool(remote) and any(part.startswith("ssl:") for part in remote.split(","))


def ovn_trace_argv(params, expression):
    """The ovn-trace arguments (after the program) for module-style parameters and a built expression."""
    args = []
    db = check_remote(params.get("db"), "db")
    if db:
        args.append("--db=%s" % db)
    args.extend(ssl_args(params, db))
    fmt = params.get("format") or "detailed"
    if fmt not in FORMATS:
        raise FlowError("format %r is not one of %s" % (fmt, ", ".join(FORMATS)))
    args.append("--%s" % fmt)
    if params.get("friendly_names") is not None:
        args.append("--friendly-names" if params["friendly_names"] else "--no-friendly-names")
    for state in check_ct(params.get("ct")):
        args.append("--ct=%s" % state)
    lb_dst = check_lb_dst(params.get("lb_dst"))
    if lb_dst:
        args.append("--lb-dst=%s" % lb_dst)
    if params.get("ovs_remote") and not params.get("ovs"):
        raise FlowError("ovs_remote is only used with ovs: true")
    if params.get("ovs"):
        remote = check_remote(params.get("ovs_remote"), "ovs_remote")
        args.append("--ovs=%s" % remote if remote else "--ovs")
    # '--' ends the options: a datapath or expression can then never be read as one
    args.append("--")
    if params.get("datapath"):
        args.append(check_name(params["datapath"], "datapath"))
    args.append(expression)
    return args


def ssl_args(params, remote):
    """--private-key/--certificate/--ca-cert for an ssl: remote (all three are needed)."""
    files = [("--private-key", params.get("private_key")), ("--certificate", params.get("certificate")),
             ("--ca-cert", params.get("ca_cert"))]
    if not remote_is_ssl(remote):
        return []
    missing = [opt[2:].replace("-", "_") for opt, path in files if not path]
    if missing:
        raise FlowError("an ssl: database remote needs %s" % ", ".join(missing))
    for opt, path in files:
        if CONTROL_RE.search(str(path)) or str(path).startswith("-"):
            raise FlowError("%s %r is not a usable file path" % (opt[2:].replace("-", "_"), path))
    return ["%s=%s" % (opt, path) for opt, path in files]

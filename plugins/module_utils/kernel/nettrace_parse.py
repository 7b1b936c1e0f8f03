# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse nettrace output into event dicts: Retina's table and JSON lines, and the nettrace module's table.

Every parsed event has the keys of the nettrace module's events (``nettrace.EVENT_KEYS``), ``None`` where the
text does not say. Line kinds are a table (``LINE_KINDS``): a name, one compiled regular expression (or a
predicate) and the function that turns a match into an event; adding a format is adding an entry.

Reason codes of drops are kernel-specific (NETFILTER_DROP is 6 on 5.x kernels and 12 on 6.18), so a bare
code is only named when the caller passes that node's ``drop_reasons`` table (the nettrace module returns it).
Errno and TCP state numbers are part of the Linux ABI and are always named.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import ipaddress
import json
import re
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.kernel_facts import TCP_STATES

EVENT_KEYS = ("time", "timestamp", "type", "reason_code", "reason", "probe", "src_ip", "src_port", "dst_ip",
              "dst_port", "protocol", "family", "netns", "netns_name", "location", "state", "errno", "ip_id",
              "dscp", "flow_label")
EVENT_TYPES = ("DROP", "RST_SENT", "RST_RECV", "SOCK_ERR", "RETRANS")
_ERRNO_BY_NAME = dict((name, code) for code, name in errno.errorcode.items())


class NettraceParseError(TracekitError, ValueError):
    """A line is not nettrace output; the message names the line number and its text."""


def _endpoint(text):
    """(ip, port) from ``1.2.3.4:80``, ``[fd00::1]:80``, ``1.2.3.4``, ``[fd00::1]`` or ``-``."""
    if text in ("-", "*"):
        return None, None
    match = re.match(r"^\[(?P<ip6>[0-9A-Fa-f:.%]+)\](?::(?P<port>\d+))?$", text)
    if match:
        ip, port = match.group("ip6"), match.group("port")
    else:
        try:
            return str(ipaddress.ip_address(text)), None
        except ValueError:
            pass
        ip, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError("%r is not an address:port" % text)
    try:
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        raise ValueError("%r is not an IP address" % ip)
    port = int(port) if port is not None else None
    if port is not None and port > 65535:
        raise ValueError("port %d is out of range" % port)
    return ip, port


def _family(ip):
    if ip is None:
        return None
    return "ipv6" if ":" in ip else "ipv4"


def _int(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if re.match(r"^-?\d+$", text) else None


def name_reason(event, drop_reasons=None):
    """Fill ``reason``/``reason_code``/``errno``/``state`` from whichever of them the source gave."""
    kind, code, name = event["type"], event["reason_code"], event["reason"]
    if kind == "SOCK_ERR":
        if name is None and code is not None:
            name = errno.errorcode.get(abs(code))
        if code is None and name in _ERRNO_BY_NAME:
            code = _ERRNO_BY_NAME[name]
        event["errno"] = event["errno"] or name
    elif kind == "RETRANS":
        if name is None and code is not None:
            name = TCP_STATES.get(code)
        if code is None and name:
            code = dict((v, k) for k, v in TCP_STATES.items()).get(name)
        event["state"] = event["state"] or name
    elif kind == "DROP" and drop_reasons:
        table = dict((_int(k), v) for k, v in drop_reasons.items())
        if name is None and code is not None:
            name = table.get(code)
        if code is None and name:
            code = dict((v, k) for k, v in table.items()).get(name)
    event["reason_code"], event["reason"] = code, name
    return event


def _blank():
    return dict((key, None) for key in EVENT_KEYS)


def _from_table(match, drop_reasons):
    event = _blank()
    event["time"] = match.group("time")
    event["type"] = match.group("type")
    reason = match.group("reason")
    if reason != "-":
        if re.match(r"^-?\d+$", reason):
            event["reason_code"] = int(reason)
        else:
            event["reason"] = reason
    event["probe"] = match.group("probe")
    event["src_ip"], event["src_port"] = _endpoint(match.group("src"))
    event["dst_ip"], event["dst_port"] = _endpoint(match.group("dst"))
    event["family"] = _family(event["src_ip"] or event["dst_ip"])
    netns = match.group("netns")
    if netns and netns != "-":
        ns_match = re.match(r"^(\d+)(?:\((.*)\))?$", netns)
        if not ns_match:
            raise ValueError("%r is not a namespace inode" % netns)
        event["netns"] = int(ns_match.group(1))
        event["netns_name"] = ns_match.group(2)
    location = match.group("location")
    if location and location != "-":
        event["location"] = location
    return name_reason(event, drop_reasons)


def _from_json(text, drop_reasons):
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("invalid JSON (%s)" % exc)
    return from_dict(data, drop_reasons)


def from_dict(data, drop_reasons=None):
    """Normalise one event dict (Retina's JSON or the nettrace module's) to the module's keys."""
    if not isinstance(data, dict):
        raise ValueError("a JSON event must be an object")
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        raise ValueError("unknown event type %r" % (kind,))
    event = _blank()
    for key in EVENT_KEYS:
        if key in data:
            event[key] = data[key]
    for key in ("reason_code", "src_port", "dst_port", "netns", "ip_id", "dscp", "flow_label"):
        if event[key] is not None:
            value = _int(event[key])
            if value is None:
                raise ValueError("%s %r is not a number" % (key, event[key]))
            event[key] = value
    for key in ("src_ip", "dst_ip"):
        if event[key] not in (None, ""):
            try:
                event[key] = str(ipaddress.ip_address(str(event[key])))
            except ValueError:
                raise ValueError("%s %r is not an IP address" % (key, event[key]))
        else:
            event[key] = None
    event["family"] = event["family"] or _family(event["src_ip"] or event["dst_ip"])
    return name_reason(event, drop_reasons)


_TABLE_RE = re.compile(r"""
    ^(?P<time>\d{1,2}:\d{2}:\d{2}(?:\.\d+)?)\s+
    (?P<type>[A-Z][A-Z_]*)\s+
    (?P<reason>\S+)\s+
    (?P<probe>[A-Za-z_][\w.]*)\s+
    (?P<src>\S+)\s+->\s+(?P<dst>\S+)
    (?:\s+(?P<netns>\d+(?:\([^)\s]*\))?|-))?
    (?:\s+(?P<location>\S+))?
    \s*$""", re.VERBOSE)
_HEADER_RE = re.compile(r"^\s*TIME\s+TYPE\s+REASON\s+PROBE\s+SRC\s+->\s+DST(\s+NETNS\s+LOCATION)?\s*$")
_RULE_RE = re.compile(u"^[\u2500\u2501=-]{3,}\\s*$")

# (name, how a line is recognised, what it gives: None = nothing, else a function(match_or_text, reasons))
LINE_KINDS = (
    ("blank", lambda line: not line.strip(), None),
    ("header", _HEADER_RE.match, None),
    ("rule", _RULE_RE.match, None),
    ("json", lambda line: line.lstrip().startswith("{"), _from_json),
    ("table", _TABLE_RE.match, _from_table),
)


def parse(text, lenient=False, drop_reasons=None):
    """Parse nettrace output; return ``{'events', 'skipped', 'skipped_lines', 'format'}``.

    ``text`` is a string or a list of lines. A line that no kind recognises, or that a kind cannot turn into an
    event, raises NettraceParseError naming its number and content; with ``lenient`` it is skipped and counted.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    events, skipped, formats = [], [], set()
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise NettraceParseError("line %d is not text: %r" % (number, line))
        line = line.rstrip("\r\n")
        error = "it is neither a nettrace table row nor a JSON event"
        for name, recognise, build in LINE_KINDS:
            match = recognise(line)
            if not match:
                continue
            if build is None:
                error = None
                break
            try:
                events.append(build(match if name != "json" else line, drop_reasons))
                formats.add(name)
                error = None
            except ValueError as exc:
                error = str(exc)
            break
        if error is None:
            continue
        if not lenient:
            raise NettraceParseError("line %d is not valid nettrace output (%s): %r" % (number, error, line[:300]))
        skipped.append({"line": number, "text": line[:300], "error": error})
    return {
        "events": events,
        "skipped": len(skipped),
        "skipped_lines": skipped,
        "format": "+".join(sorted(formats)) if formats else None,
    }

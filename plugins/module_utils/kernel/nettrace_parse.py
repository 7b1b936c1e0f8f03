# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse nettrace output into event dicts: Retina's table and JSON lines, and the nettrace module's table.

Every parsed event has the keys of the nettrace module's events (``nettrace.EVENT_KEYS``), ``None`` where the
text does not say. Line kinds are a table (``LINE_KINDS``): a name, one compiled regular expression (or a
predicate) and the function that turns a match into an event, run by the collection's line-table engine
(``common/line_table.py``); adding a format is adding an entry.

Every pattern is anchored and linear in the line; a line longer than ``MAX_LINE`` characters, a number longer
than ``MAX_DIGITS`` digits or JSON nested deeper than Python can decode is an error naming the line. Every
failure is a ``NettraceParseError`` (a ``TracekitError``); with ``lenient`` bad lines are counted, and only the
first ``MAX_SKIPPED_KEPT`` of them kept as examples.

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
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.line_table import first_match

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.kernel_facts import TCP_STATES

EVENT_KEYS = ("time", "timestamp", "type", "reason_code", "reason", "probe", "src_ip", "src_port", "dst_ip",
              "dst_port", "protocol", "family", "netns", "netns_name", "location", "state", "errno", "ip_id",
              "dscp", "flow_label")
EVENT_TYPES = ("DROP", "RST_SENT", "RST_RECV", "SOCK_ERR", "RETRANS")
_ERRNO_BY_NAME = dict((name, code) for code, name in errno.errorcode.items())


class NettraceParseError(TracekitError, ValueError):
    """A line is not nettrace output; the message names the line number and its text."""


MAX_LINE = 65536
MAX_DIGITS = 20
MAX_SKIPPED_KEPT = 20
# Fields used as names (looked up in tables): they must be text.
_NAME_KEYS = ("time", "type", "reason", "probe", "protocol", "family", "netns_name", "location", "state", "errno")
_DIGITS = re.compile(r"-?[0-9]{1,%d}" % MAX_DIGITS)


def _digits(text, what):
    """int of an ASCII decimal of at most MAX_DIGITS digits; ValueError saying which bound it broke."""
    if _DIGITS.fullmatch(text) is None:
        if text.lstrip("-").isdigit() and text.isascii():
            raise ValueError("%s has %d digits (at most %d)" % (what, len(text.lstrip("-")), MAX_DIGITS))
        raise ValueError("%s %r is not a number" % (what, text[:40]))
    return int(text)


def _endpoint(text):
    """(ip, port) from ``1.2.3.4:80``, ``[fd00::1]:80``, ``1.2.3.4``, ``[fd00::1]`` or ``-``."""
    if text in ("-", "*"):
        return None, None
    match = _BRACKETED.match(text)
    if match:
        ip, port = match.group("ip6"), match.group("port")
    else:
        try:
            return str(ipaddress.ip_address(text)), None
        except ValueError:
            pass
        ip, sep, port = text.rpartition(":")
        if not sep or not (port.isdigit() and port.isascii()):
            raise ValueError("%r is not an address:port" % text[:80])
    try:
        ip = str(ipaddress.ip_address(ip))
    except ValueError:
        raise ValueError("%r is not an IP address" % ip[:80])
    port = _digits(port, "port") if port is not None else None
    if port is not None and port > 65535:
        raise ValueError("port %d is out of range" % port)
    return ip, port


_BRACKETED = re.compile(r"^\[(?P<ip6>[0-9A-Fa-f:.%]+)\](?::(?P<port>[0-9]+))?$")


def _family(ip):
    if ip is None:
        return None
    return "ipv6" if ":" in ip else "ipv4"


def _int(value):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text) is None:
        return None
    return int(text)


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
        table = dict((_int(k), v) for k, v in drop_reasons.items() if isinstance(v, str))
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
        if reason.lstrip("-").isdigit():
            event["reason_code"] = _digits(reason, "reason code")
        else:
            event["reason"] = reason
    event["probe"] = match.group("probe")
    event["src_ip"], event["src_port"] = _endpoint(match.group("src"))
    event["dst_ip"], event["dst_port"] = _endpoint(match.group("dst"))
    event["family"] = _family(event["src_ip"] or event["dst_ip"])
    netns = match.group("netns")
    if netns and netns != "-":
        ns_match = _NETNS.match(netns)
        if not ns_match:
            raise ValueError("%r is not a namespace inode" % netns[:80])
        event["netns"] = _digits(ns_match.group(1), "namespace inode")
        event["netns_name"] = ns_match.group(2)
    location = match.group("location")
    if location and location != "-":
        event["location"] = location
    return name_reason(event, drop_reasons)


_NETNS = re.compile(r"^([0-9]+)(?:\((.*)\))?$")


def _from_json(text, drop_reasons):
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply")
    except ValueError as exc:
        raise ValueError("invalid JSON (%s)" % str(exc)[:200])
    return from_dict(data, drop_reasons)


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def from_dict(data, drop_reasons=None):
    """Normalise one event dict (Retina's JSON or the nettrace module's) to the module's keys."""
    if not isinstance(data, dict):
        raise ValueError("a JSON event must be an object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        raise ValueError("unknown event type %s" % _short(kind))
    event = _blank()
    for key in EVENT_KEYS:
        if key in data:
            event[key] = data[key]
    for key in _NAME_KEYS:
        if event[key] is not None and not isinstance(event[key], str):
            raise ValueError("%s must be text, got %s" % (key, _short(event[key])))
    stamp = event["timestamp"]
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, (int, float, str))):
        raise ValueError("timestamp must be a number of seconds, got %s" % _short(stamp))
    for key in ("reason_code", "src_port", "dst_port", "netns", "ip_id", "dscp", "flow_label"):
        if event[key] is not None:
            value = _int(event[key])
            if value is None or abs(value) >= 10 ** MAX_DIGITS:
                raise ValueError("%s %s is not a number of at most %d digits" % (key, _short(event[key]), MAX_DIGITS))
            event[key] = value
    for key in ("src_ip", "dst_ip"):
        if event[key] not in (None, ""):
            if not isinstance(event[key], str):
                raise ValueError("%s must be an IP address, got %s" % (key, _short(event[key])))
            try:
                event[key] = str(ipaddress.ip_address(event[key]))
            except ValueError:
                raise ValueError("%s %s is not an IP address" % (key, _short(event[key])))
        else:
            event[key] = None
    event["family"] = event["family"] or _family(event["src_ip"] or event["dst_ip"])
    return name_reason(event, drop_reasons)


_TABLE_RE = re.compile(r"""
    ^(?P<time>[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?)\s+
    (?P<type>[A-Z][A-Z_]*)\s+
    (?P<reason>\S+)\s+
    (?P<probe>[A-Za-z_][\w.]*)\s+
    (?P<src>\S+)\s+->\s+(?P<dst>\S+)
    (?:\s+(?P<netns>[0-9]+(?:\([^)\s]*\))?|-))?
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


def _check_drop_reasons(drop_reasons):
    if drop_reasons is None:
        return None
    if not isinstance(drop_reasons, dict):
        raise NettraceParseError("drop_reasons must be a dict of code to name, got %s" % type(drop_reasons).__name__)
    for code, name in drop_reasons.items():
        if not isinstance(name, str) or _int(code if isinstance(code, (int, str)) else None) is None:
            raise NettraceParseError("drop_reasons maps a code (a number) to a name (text): %s -> %s is not that"
                                     % (_short(code), _short(name)))
    return drop_reasons


def _event_of(line, drop_reasons):
    """(kind name, event or None, error or None) for one line."""
    if len(line) > MAX_LINE:
        return None, None, "it is %d characters long (nettrace lines are at most %d)" % (len(line), MAX_LINE)
    name, match, build = first_match(line, LINE_KINDS)
    if name is None:
        return None, None, "it is neither a nettrace table row nor a JSON event"
    if build is None:
        return name, None, None
    try:
        return name, build(match if name != "json" else line, drop_reasons), None
    except ValueError as exc:
        return name, None, str(exc)


def parse(text, lenient=False, drop_reasons=None):
    """Parse nettrace output; return ``{'events', 'skipped', 'skipped_lines', 'format'}``.

    ``text`` is a string or a list of lines. A line that no kind recognises, or that a kind cannot turn into an
    event, raises NettraceParseError naming its number and content; with ``lenient`` it is skipped and counted
    (``skipped``), and the first MAX_SKIPPED_KEPT of them are kept in ``skipped_lines`` as examples.
    """
    if not isinstance(text, (str, list)):
        raise NettraceParseError("expected text or a list of lines, got %s" % type(text).__name__)
    drop_reasons = _check_drop_reasons(drop_reasons)
    lines = text.splitlines() if isinstance(text, str) else text
    events, examples, formats = [], [], set()
    skipped = 0
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise NettraceParseError("line %d is not text: %s" % (number, _short(line)))
        line = line.rstrip("\r\n")
        name, event, error = _event_of(line, drop_reasons)
        if event is not None:
            events.append(event)
            formats.add(name)
            continue
        if error is None:
            continue
        if not lenient:
            raise NettraceParseError("line %d is not valid nettrace output (%s): %r" % (number, error, line[:300]))
        skipped += 1
        if len(examples) < MAX_SKIPPED_KEPT:
            examples.append({"line": number, "text": line[:300], "error": error})
    return {
        "events": events,
        "skipped": skipped,
        "skipped_lines": examples,
        "format": "+".join(sorted(formats)) if formats else None,
    }

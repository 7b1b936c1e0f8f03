# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ruleset as it was when the trace ran: rule handles and comments over netlink, readable text from
``nft -j``.

``decode_rule_dump`` reads ``NFT_MSG_NEWRULE`` answers to a ``NFT_MSG_GETRULE`` dump: family, table, chain,
handle and the comment: in ``NFTA_RULE_USERDATA`` (a TLV list; type 0 is the comment, as nft writes it), or,
for iptables-nft's ``-m comment``, in the ``xt_comment_info`` of a ``match`` expression, which nft does not
show at all. Chains (``NFT_MSG_GETCHAIN``) give their comments the same way (``NFTA_CHAIN_USERDATA``).
``rule_text`` renders one rule of the structured ``nft -j list ruleset`` output back to nft syntax,
keyed by its handle, so no ``nft list`` text is parsed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.trace_decode import (
    FAMILIES, NFNL_SUBSYS_NFTABLES, TraceDecodeError, _attrs, _string)

NFT_MSG_NEWCHAIN = 3
NFT_MSG_GETCHAIN = 4
NFT_MSG_NEWRULE = 6
NFT_MSG_GETRULE = 7
RULE_MSG_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE
CHAIN_MSG_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN
C_TABLE, C_NAME, C_USERDATA = 1, 3, 12
NLMSG_DONE = 3
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_DUMP = 0x300
R_TABLE, R_CHAIN, R_HANDLE, R_EXPRESSIONS, R_USERDATA = 1, 2, 3, 4, 7
LIST_ELEM, EXPR_NAME, EXPR_DATA = 1, 1, 2
MATCH_NAME, MATCH_INFO = 1, 3
XT_COMMENT_LEN = 256
UDATA_RULE_COMMENT = 0
MAX_RULES = 200000

_NLMSGHDR = struct.Struct("=IHHII")


def getrule_request(seq=1, what=NFT_MSG_GETRULE):
    """The bytes of a dump request for every rule (or chain: NFT_MSG_GETCHAIN) of every family."""
    body = struct.pack("=BBH", 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), (NFNL_SUBSYS_NFTABLES << 8) | what,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def udata_comment(raw):
    """The comment in a rule's user data (TLVs of one type byte and one length byte), or None."""
    pos = 0
    while pos + 2 <= len(raw):
        utype, length = raw[pos], raw[pos + 1]
        value = raw[pos + 2:pos + 2 + length]
        if len(value) < length:
            raise TraceDecodeError("NFTA_RULE_USERDATA: TLV of length %d with %d bytes left" % (length, len(value)))
        if utype == UDATA_RULE_COMMENT:
            return value.split(b"\0", 1)[0].decode("utf-8", "replace")
        pos += 2 + length
    return None


def xt_comments(raw):
    """Comments of the iptables-nft ``-m comment`` matches in a rule's NFTA_RULE_EXPRESSIONS (``xt_comment_info``
    is 256 bytes of text; nft shows none of it)."""
    out = []
    for atype, elem in _attrs(raw, 0, len(raw), "NFTA_RULE_EXPRESSIONS"):
        if atype != LIST_ELEM:
            continue
        name, data = None, None
        for etype, payload in _attrs(elem, 0, len(elem), "NFTA_LIST_ELEM"):
            if etype == EXPR_NAME:
                name = _string(payload, "NFTA_EXPR_NAME")
            elif etype == EXPR_DATA:
                data = payload
        if name != "match" or data is None:
            continue
        mname, info = None, None
        for mtype, payload in _attrs(data, 0, len(data), "NFTA_EXPR_DATA"):
            if mtype == MATCH_NAME:
                mname = _string(payload, "NFTA_MATCH_NAME")
            elif mtype == MATCH_INFO:
                info = payload
        if mname == "comment" and info:
            text = info[:XT_COMMENT_LEN].split(b"\0", 1)[0].decode("utf-8", "replace")
            if text:
                out.append(text)
    return out


def decode_rule_dump(data, rules=None):
    """Add the rules in one recv() buffer to ``rules`` ({(family, table, handle): {chain, comment}}); chains
    (answers to NFT_MSG_GETCHAIN) go in as ({(family, table, 'chain', name): {chain, comment}}).

    Returns (rules, done, error): done once NLMSG_DONE was seen; error the kernel's errno, if it sent one.
    """
    rules = {} if rules is None else rules
    pos = 0
    while pos + _NLMSGHDR.size <= len(data):
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > len(data):
            raise TraceDecodeError("rule dump: message at offset %d has length %d" % (pos, length))
        if mtype == NLMSG_DONE:
            return rules, True, None
        if mtype == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, pos + _NLMSGHDR.size)[0] if length >= _NLMSGHDR.size + 4 else -1
            if err:
                return rules, True, -err
        elif mtype == RULE_MSG_TYPE and length >= _NLMSGHDR.size + 4:
            if len(rules) >= MAX_RULES:
                raise TraceDecodeError("rule dump: more than %d rules" % MAX_RULES)
            family = FAMILIES.get(data[pos + _NLMSGHDR.size], str(data[pos + _NLMSGHDR.size]))
            rule = {"family": family, "table": None, "chain": None, "handle": None, "comment": None}
            xt = []
            for atype, payload in _attrs(data, pos + _NLMSGHDR.size + 4, pos + length, "NFT_MSG_NEWRULE"):
                if atype == R_TABLE:
                    rule["table"] = _string(payload, "NFTA_RULE_TABLE")
                elif atype == R_CHAIN:
                    rule["chain"] = _string(payload, "NFTA_RULE_CHAIN")
                elif atype == R_HANDLE and len(payload) == 8:
                    rule["handle"] = struct.unpack(">Q", payload)[0]
                elif atype == R_USERDATA:
                    rule["comment"] = udata_comment(payload)
                elif atype == R_EXPRESSIONS:
                    xt = xt_comments(payload)
            if rule["comment"] is None and xt:
                rule["comment"] = "; ".join(xt)
            rules[(family, rule["table"], rule["handle"])] = rule
        elif mtype == CHAIN_MSG_TYPE and length >= _NLMSGHDR.size + 4:
            if len(rules) >= MAX_RULES:
                raise TraceDecodeError("chain dump: more than %d entries" % MAX_RULES)
            family = FAMILIES.get(data[pos + _NLMSGHDR.size], str(data[pos + _NLMSGHDR.size]))
            chain = {"family": family, "table": None, "chain": None, "handle": None, "comment": None}
            for atype, payload in _attrs(data, pos + _NLMSGHDR.size + 4, pos + length, "NFT_MSG_NEWCHAIN"):
                if atype == C_TABLE:
                    chain["table"] = _string(payload, "NFTA_CHAIN_TABLE")
                elif atype == C_NAME:
                    chain["chain"] = _string(payload, "NFTA_CHAIN_NAME")
                elif atype == C_USERDATA:
                    chain["comment"] = udata_comment(payload)
            rules[(family, chain["table"], "chain", chain["chain"])] = chain
        pos += (length + 3) & ~3
    return rules, False, None


# ------------------------------------------------------------------ nft -j rendering

def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "{ %s }" % ", ".join(_value(x) for x in v)
    if isinstance(v, dict) and len(v) == 1:
        key, inner = list(v.items())[0]
        if key == "payload" and isinstance(inner, dict):
            if "protocol" in inner:
                return "%s %s" % (inner.get("protocol"), inner.get("field"))
            return "@%s,%s,%s" % (inner.get("base"), inner.get("offset"), inner.get("len"))
        if key in ("meta", "ct", "rt", "fib", "socket", "osf", "exthdr") and isinstance(inner, dict):
            name = inner.get("key") or inner.get("name") or ""
            shown = ("l4proto", "nfproto", "mark", "nftrace", "iifname", "oifname", "iif", "oif", "protocol",
                     "priority", "skuid")
            return "%s %s" % (key, name) if key != "meta" or name in shown else name
        if key == "set":
            return "{ %s }" % ", ".join(_value(x) for x in (inner if isinstance(inner, list) else [inner]))
        if key == "prefix" and isinstance(inner, dict):
            return "%s/%s" % (_value(inner.get("addr")), inner.get("len"))
        if key == "range" and isinstance(inner, list) and len(inner) == 2:
            return "%s-%s" % (_value(inner[0]), _value(inner[1]))
        if key == "concat" and isinstance(inner, list):
            return " . ".join(_value(x) for x in inner)
        if key == "map" and isinstance(inner, dict):
            return "%s map %s" % (_value(inner.get("key")), _value(inner.get("data")))
        if key == "numgen" and isinstance(inner, dict):
            return "numgen %s mod %s" % (inner.get("mode"), inner.get("mod"))
        if key == "elem" and isinstance(inner, dict):
            return _value(inner.get("val"))
        if key == "|" or key == "&":
            return (" %s " % key).join(_value(x) for x in inner)
        return "%s %s" % (key, _value(inner) if inner is not None else "")
    return json.dumps(v, sort_keys=True)


def _stmt(stmt):
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return json.dumps(stmt, sort_keys=True)
    key, arg = list(stmt.items())[0]
    if key == "match" and isinstance(arg, dict):
        op = arg.get("op", "==")
        left, right = _value(arg.get("left")), _value(arg.get("right"))
        return "%s %s" % (left, right) if op in ("==", "in") else "%s %s %s" % (left, op, right)
    if key == "counter":
        return "counter"        # its values at snapshot time would mislead
    if key in ("accept", "drop", "continue", "return", "queue"):
        return key
    if key in ("jump", "goto") and isinstance(arg, dict):
        return "%s %s" % (key, arg.get("target"))
    if key == "reject":
        if isinstance(arg, dict) and arg.get("type"):
            expr = arg.get("expr")
            return "reject with %s%s" % (arg["type"], " %s" % expr if expr and arg["type"] != "tcp reset" else "")
        return "reject"
    if key == "vmap" and isinstance(arg, dict):
        return "%s vmap %s" % (_value(arg.get("key")), _value(arg.get("data")))
    if key in ("dnat", "snat") and isinstance(arg, dict):
        addr = arg.get("addr")
        fam = arg.get("family")
        port = arg.get("port")
        text = "%s %sto %s" % (key, "%s " % fam if fam else "", _value(addr) if addr is not None else "")
        return text + (":%s" % _value(port) if port is not None else "")
    if key == "masquerade":
        return "masquerade"
    if key == "mangle" and isinstance(arg, dict):
        return "%s set %s" % (_value(arg.get("key")), _value(arg.get("value")))
    if key == "xt" and isinstance(arg, dict):
        return "xt %s %s" % (arg.get("type"), arg.get("name"))
    if key == "log":
        if isinstance(arg, dict) and arg.get("prefix"):
            return 'log prefix "%s"' % arg["prefix"]
        return "log"
    if key == "limit" and isinstance(arg, dict):
        return "limit rate %s/%s" % (arg.get("rate"), arg.get("per"))
    if key == "notrack":
        return "notrack"
    return "%s %s" % (key, _value(arg)) if arg is not None else key


def rule_text(expr):
    """One rule's statements (``nft -j``'s ``expr`` list) as nft would print them, comment excluded."""
    if not isinstance(expr, list):
        return ""
    return " ".join(_stmt(s) for s in expr).replace("  ", " ").strip()


def index_json(ruleset):
    """From ``nft -j list ruleset``: {'rules': {(family, table, handle): rule}, 'chains': {(family, table,
    chain): chain}, 'sets': {(family, table, name): set}}."""
    out = {"rules": {}, "chains": {}, "sets": {}}
    items = (ruleset or {}).get("nftables") if isinstance(ruleset, dict) else None
    for item in items or []:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        kind, obj = list(item.items())[0]
        if not isinstance(obj, dict):
            continue
        if kind == "rule":
            out["rules"][(obj.get("family"), obj.get("table"), obj.get("handle"))] = obj
        elif kind == "chain":
            out["chains"][(obj.get("family"), obj.get("table"), obj.get("name"))] = obj
        elif kind in ("map", "set"):
            out["sets"][(obj.get("family"), obj.get("table"), obj.get("name"))] = obj
    return out

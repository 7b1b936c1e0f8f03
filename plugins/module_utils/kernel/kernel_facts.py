# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about the running kernel that an eBPF tracer must not take from headers.

Drop-reason and reset-reason names, TCP state names, struct field offsets and tracepoint layouts all
change between kernel versions (``NETFILTER_DROP`` is 12 on 6.18 and 6 on 5.x; ``sock.sk_err`` moved
from 544 to 284 between 6.1 and 6.18). This file reads them from the kernel itself: the BTF blob in
``/sys/kernel/btf/vmlinux`` (parsed here in pure Python, so nodes need no extra tool), the tracefs
``format`` files, and ``/proc/kallsyms``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import os
import re
import struct
import subprocess
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import headers_tree

BTF_PATH = "/sys/kernel/btf/vmlinux"
TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
KALLSYMS = "/proc/kallsyms"

# BTF kinds (include/uapi/linux/btf.h) and the size of the data that follows each type header.
KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 7, 8, 9, 10, 11
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC, KIND_FLOAT = 12, 13, 14, 15, 16
KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64 = 17, 18, 19
_MODIFIERS = (KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG)
_FIXED_EXTRA = {KIND_INT: 4, KIND_ARRAY: 12, KIND_VAR: 4, KIND_DECL_TAG: 4}
_PER_MEMBER = {KIND_STRUCT: 12, KIND_UNION: 12, KIND_ENUM: 8, KIND_FUNC_PROTO: 8, KIND_DATASEC: 12, KIND_ENUM64: 12}
_HDR = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")


class KernelFactsError(TracekitError):
    """A kernel fact could not be read; the message says which and what to do."""


class Btf(object):
    """A parsed BTF blob: type headers indexed by id, names of structs, unions and enums.

    ``base`` is the vmlinux Btf when this blob is a module's split BTF (ids and strings continue the base's).
    """

    def __init__(self, data, base=None):
        if len(data) < _HDR.size:
            raise KernelFactsError("BTF blob too short (%d bytes)" % len(data))
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HDR.unpack_from(data, 0)
        if magic != 0xEB9F:
            raise KernelFactsError("not a little-endian BTF blob (magic 0x%04x)" % magic)
        self.data = data
        self.base = base
        self.str_start = hdr_len + str_off
        self.str_len = str_len
        self.first_id = (base.next_id if base else 1)
        self.str_base = (base.str_len_total if base else 0)
        self.str_len_total = self.str_base + str_len
        self.offsets = []
        self.by_name = {}
        pos = hdr_len + type_off
        end = pos + type_len
        tid = self.first_id
        wanted = (KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_TYPEDEF)
        unpack = _TYPE.unpack_from
        while pos < end:
            name_off, info, _size = unpack(data, pos)
            kind = (info >> 24) & 0x1f
            vlen = info & 0xffff
            self.offsets.append(pos)
            if kind in wanted and name_off:
                self.by_name.setdefault((kind, self.string(name_off)), tid)
            pos += 12 + _FIXED_EXTRA.get(kind, 0) + vlen * _PER_MEMBER.get(kind, 0)
            tid += 1
        self.next_id = tid

    def string(self, off):
        if off < self.str_base:
            return self.base.string(off)
        start = self.str_start + off - self.str_base
        return self.data[start:self.data.index(b"\0", start)].decode("ascii", "replace")

    def _header(self, tid):
        if tid < self.first_id:
            return self.base._header(tid)
        pos = self.offsets[tid - self.first_id]
        name_off, info, size = _TYPE.unpack_from(self.data, pos)
        return self, pos, name_off, (info >> 24) & 0x1f, info & 0xffff, bool(info >> 31), size

    def kind_name(self, tid):
        owner, _pos, name_off, kind, _vlen, _kflag, _size = self._header(tid)
        return kind, owner.string(name_off)

    def resolve(self, tid):
        """Follow typedefs and qualifiers to the real type id."""
        while tid:
            _owner, _pos, _name, kind, _vlen, _kflag, target = self._header(tid)
            if kind not in _MODIFIERS:
                return tid
            tid = target
        return tid

    def size_of(self, tid):
        tid = self.resolve(tid)
        if not tid:
            return 0
        _owner, _pos, _name, kind, _vlen, _kflag, size = self._header(tid)
        if kind == KIND_PTR:
            return 8
        if kind == KIND_ARRAY:
            owner, pos = self._header(tid)[:2]
            elem, _index, nelems = struct.unpack_from("<III", owner.data, pos + 12)
            return self.size_of(elem) * nelems
        return size

    def members(self, tid):
        """[(name, type_id, bit_offset, bitfield_size)] of a struct or union."""
        owner, pos, _name, kind, vlen, kflag, _size = self._header(self.resolve(tid))
        if kind not in (KIND_STRUCT, KIND_UNION):
            raise KernelFactsError("BTF type %d is not a struct or union" % tid)
        out = []
        for i in range(vlen):
            name_off, mtype, moff = struct.unpack_from("<III", owner.data, pos + 12 + 12 * i)
            bits = (moff >> 24) if kflag else 0
            out.append((owner.string(name_off), mtype, (moff & 0xffffff) if kflag else moff, bits))
        return out

    def find(self, kind, name):
        tid = self.by_name.get((kind, name))
        if tid is None and self.base is not None:
            return self.base.find(kind, name)
        return tid

    def struct_id(self, name):
        tid = self.find(KIND_STRUCT, name) or self.find(KIND_UNION, name)
        if tid is None:
            raise KernelFactsError("the kernel's BTF has no struct %s" % name)
        return tid

    def _member(self, tid, name):
        for mname, mtype, bit_off, bits in self.members(tid):
            if mname == name:
                return mtype, bit_off, bits
            if not mname:
                rtid = self.resolve(mtype)
                if self._header(rtid)[3] in (KIND_STRUCT, KIND_UNION):
                    found = self._member(rtid, name)
                    if found:
                        return found[0], bit_off + found[1], found[2]
        return None

    def offset_of(self, struct_name, path):
        """Byte offset and size of ``struct_name.path`` (``path`` may be dotted and cross anonymous unions)."""
        tid = self.struct_id(struct_name)
        total = 0
        mtype = tid
        for part in path.split("."):
            found = self._member(self.resolve(mtype), part)
            if not found:
                raise KernelFactsError("struct %s has no field %s in this kernel's BTF" % (struct_name, path))
            mtype, bit_off, bits = found
            if bits or bit_off % 8:
                raise KernelFactsError("%s.%s is a bit field; it cannot be read with a plain load" % (struct_name, path))
            total += bit_off // 8
        return total, self.size_of(mtype)

    def enum_values(self, name=None, member=None):
        """{value: name} of the enum called ``name``, or of the first enum that has a member ``member``."""
        if name is not None:
            tid = self.find(KIND_ENUM, name) or self.find(KIND_ENUM64, name)
            return self._enum(tid) if tid else {}
        for tid in range(self.first_id, self.next_id):
            _owner, _pos, _n, kind, _vlen, _kflag, _size = self._header(tid)
            if kind in (KIND_ENUM, KIND_ENUM64):
                values = self._enum(tid)
                if member in values.values():
                    return values
        return {}

    def enums(self):
        """Every enum of this blob (not its base) as {value: name} dicts."""
        out = []
        for tid in range(self.first_id, self.next_id):
            if self._header(tid)[3] in (KIND_ENUM, KIND_ENUM64):
                out.append(self._enum(tid))
        return out

    def _enum(self, tid):
        owner, pos, _name, kind, vlen, kflag, _size = self._header(tid)
        out = {}
        for i in range(vlen):
            if kind == KIND_ENUM:
                name_off, val = struct.unpack_from("<Ii" if kflag else "<II", owner.data, pos + 12 + 8 * i)
            else:
                name_off, low, high = struct.unpack_from("<III", owner.data, pos + 12 + 12 * i)
                val = (high << 32) | low
            out[val] = owner.string(name_off)
        return out


_VMLINUX = {}


def vmlinux_btf(path=BTF_PATH):
    """The running kernel's BTF (parsed once per process); KernelFactsError when the kernel has none."""
    if path not in _VMLINUX:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise KernelFactsError(
                "this kernel exposes no BTF at %s (%s): struct offsets cannot be read from the kernel; "
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y or install headers matching it" % (path, exc.strerror))
        _VMLINUX[path] = Btf(data)
    return _VMLINUX[path]


def module_btf(module, base):
    path = "/sys/kernel/btf/%s" % module
    try:
        with open(path, "rb") as handle:
            return Btf(handle.read(), base=base)
    except (OSError, KernelFactsError):
        return None


# ---------------------------------------------------------------- tracefs

def tracefs_dir(mount=True):
    """Where tracefs is mounted; mount it at /sys/kernel/tracing when it is not (and ``mount`` allows)."""
    for path in TRACEFS_CANDIDATES:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    if mount and os.path.isdir(TRACEFS_CANDIDATES[0]):
        try:
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS_CANDIDATES[0]], capture_output=True,
                           timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            pass
        if os.path.isdir(os.path.join(TRACEFS_CANDIDATES[0], "events")):
            return TRACEFS_CANDIDATES[0]
    raise KernelFactsError("tracefs is not mounted and could not be mounted; run "
                           "'mount -t tracefs nodev /sys/kernel/tracing' as root (or add it to /etc/fstab)")


_FIELD_RE = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);\s*signed:(?P<signed>\d);")


def tracepoint_format(category, event, tracefs=None):
    """{'fields': {name: {'offset', 'size', 'signed', 'decl'}}, 'print_fmt': str} of a tracepoint."""
    path = os.path.join(tracefs or tracefs_dir(), "events", category, event, "format")
    try:
        with open(path) as handle:
            text = handle.read()
    except OSError as exc:
        raise KernelFactsError("this kernel has no tracepoint %s:%s (%s: %s)" % (category, event, path, exc.strerror))
    fields = {}
    for match in _FIELD_RE.finditer(text):
        decl = match.group("decl").strip()
        name = re.sub(r"\[.*\]$", "", decl.split()[-1]).lstrip("*")
        fields[name] = {"offset": int(match.group("off")), "size": int(match.group("size")),
                        "signed": match.group("signed") == "1", "decl": decl}
    fmt = text.split("print fmt:", 1)[1].strip() if "print fmt:" in text else ""
    return {"fields": fields, "print_fmt": fmt}


def print_symbolic(print_fmt, field):
    """{code: name} from ``__print_symbolic(REC->field, { 1, "NAME" }, ...)`` in a print format."""
    start = print_fmt.find("__print_symbolic(REC->%s," % field)
    if start < 0:
        return {}
    depth, end = 0, start
    for end in range(start, len(print_fmt)):
        char = print_fmt[end]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                break
    return dict((int(code, 0), name) for code, name in
                re.findall(r'\{\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*,\s*"([^"]*)"\s*\}', print_fmt[start:end]))


# ---------------------------------------------------------------- reason tables

def _strip(values, prefix):
    return dict((code, name[len(prefix):] if name.startswith(prefix) else name) for code, name in values.items())


def drop_reasons(tracefs=None, btf=None):
    """{code: name} of ``enum skb_drop_reason`` on the running kernel, names without SKB_DROP_REASON_.

    The tracepoint's own print format is the primary source (it is what ``perf``/``trace`` print); BTF fills in
    codes the format does not list (0, 1) and the subsystem reasons of loaded modules (openvswitch, mac80211):
    those carry the subsystem id in the high 16 bits.
    """
    table = {}
    try:
        table.update(print_symbolic(tracepoint_format("skb", "kfree_skb", tracefs)["print_fmt"], "reason"))
    except KernelFactsError:
        pass
    try:
        btf = btf or vmlinux_btf()
    except KernelFactsError:
        btf = None
    if btf is not None:
        for code, name in _strip(btf.enum_values("skb_drop_reason"), "SKB_DROP_REASON_").items():
            table.setdefault(code, name)
        table.update(_subsystem_reasons(btf))
    if not table:
        raise KernelFactsError("cannot read the drop reasons of this kernel: neither the skb:kfree_skb format "
                               "in tracefs nor BTF enum skb_drop_reason is available")
    return table


_SUBSYS_MODULES = {"OPENVSWITCH": "openvswitch", "MAC80211_UNUSABLE": "mac80211", "MAC80211_MONITOR": "mac80211"}


def _subsystem_reasons(btf):
    """Drop reasons of subsystems (high 16 bits = subsystem id), from their module's BTF or built-in enums."""
    out = {}
    subsystems = _strip(btf.enum_values("skb_drop_reason_subsys"), "SKB_DROP_REASON_SUBSYS_")
    for sub_id, sub_name in subsystems.items():
        if sub_id == 0 or sub_name == "NUM":
            continue
        sources = [btf]
        mod = _SUBSYS_MODULES.get(sub_name)
        if mod:
            loaded = module_btf(mod, btf)
            if loaded is not None:
                sources.insert(0, loaded)
        for source in sources:
            for values in source.enums() if source is not btf else ():
                for code, name in values.items():
                    if code >> 16 == sub_id and not name.startswith("__"):
                        out[code] = name
        out.setdefault(sub_id << 16, "SUBSYS_%s" % sub_name)
    return out


def rst_reasons(tracefs=None, btf=None):
    """{code: name} of ``enum sk_rst_reason`` (tcp:tcp_send_reset), or {} on kernels without reset reasons."""
    try:
        fmt = tracepoint_format("tcp", "tcp_send_reset", tracefs)
    except KernelFactsError:
        fmt = None
    if fmt and "reason" in fmt["fields"]:
        table = print_symbolic(fmt["print_fmt"], "reason")
        if table:
            return table
    try:
        return _strip((btf or vmlinux_btf()).enum_values("sk_rst_reason"), "SK_RST_REASON_")
    except KernelFactsError:
        return {}


# TCP states are part of the user-space ABI (include/net/tcp_states.h, /proc/net/tcp): stable across kernels.
TCP_STATES = {1: "TCP_ESTABLISHED", 2: "TCP_SYN_SENT", 3: "TCP_SYN_RECV", 4: "TCP_FIN_WAIT1", 5: "TCP_FIN_WAIT2",
              6: "TCP_TIME_WAIT", 7: "TCP_CLOSE", 8: "TCP_CLOSE_WAIT", 9: "TCP_LAST_ACK", 10: "TCP_LISTEN",
              11: "TCP_CLOSING", 12: "TCP_NEW_SYN_RECV", 13: "TCP_BOUND_INACTIVE"}


def tcp_states(btf=None):
    """{code: name} of TCP states, from BTF when available (newer kernels add states), else the ABI table."""
    table = dict(TCP_STATES)
    try:
        values = (btf or vmlinux_btf()).enum_values(member="TCP_ESTABLISHED")
    except KernelFactsError:
        values = {}
    table.update((k, v) for k, v in values.items() if v.startswith("TCP_") and v != "TCP_MAX_STATES")
    return table


# ---------------------------------------------------------------- struct offsets

# The fields the tracer reads from kernel memory: (struct, path, expected size in bytes).
FIELDS = {
    "SKB_HEAD": ("sk_buff", "head", 8),
    "SKB_NETWORK_HEADER": ("sk_buff", "network_header", 2),
    "SKB_TRANSPORT_HEADER": ("sk_buff", "transport_header", 2),
    "SKB_DEV": ("sk_buff", "dev", 8),
    "SKB_SK": ("sk_buff", "sk", 8),
    "SKB_PROTOCOL": ("sk_buff", "protocol", 2),
    "DEV_NET": ("net_device", "nd_net", 8),
    "NET_INUM": ("net", "ns.inum", 4),
    "SK_NET": ("sock", "__sk_common.skc_net", 8),
    "SK_FAMILY": ("sock", "__sk_common.skc_family", 2),
    "SK_STATE": ("sock", "__sk_common.skc_state", 1),
    "SK_DADDR": ("sock", "__sk_common.skc_daddr", 4),
    "SK_RCV_SADDR": ("sock", "__sk_common.skc_rcv_saddr", 4),
    "SK_DPORT": ("sock", "__sk_common.skc_dport", 2),
    "SK_NUM": ("sock", "__sk_common.skc_num", 2),
    "SK_V6_DADDR": ("sock", "__sk_common.skc_v6_daddr", 16),
    "SK_V6_RCV_SADDR": ("sock", "__sk_common.skc_v6_rcv_saddr", 16),
    "SK_ERR": ("sock", "sk_err", 4),
    "SK_PROTOCOL": ("sock", "sk_protocol", 2),
    "INET_SPORT": ("inet_sock", "inet_sport", 2),
}


def struct_offsets(btf=None):
    """{MACRO: byte offset} for every field in FIELDS, checked against the sizes the BPF code loads."""
    btf = btf or vmlinux_btf()
    out = {}
    for macro, (sname, path, size) in FIELDS.items():
        offset, real_size = btf.offset_of(sname, path)
        if real_size != size:
            raise KernelFactsError("%s.%s is %d bytes on this kernel, the tracer expects %d"
                                   % (sname, path, real_size, size))
        out[macro] = offset
    return out


# ---------------------------------------------------------------- kallsyms

class Kallsyms(object):
    """Address -> ``function+0xoff`` from /proc/kallsyms (text symbols only)."""

    def __init__(self, path=KALLSYMS):
        addrs, names = [], []
        try:
            with open(path) as handle:
                for line in handle:
                    parts = line.split(None, 3)
                    if len(parts) >= 3 and parts[1] in ("t", "T", "w", "W"):
                        addr = int(parts[0], 16)
                        if addr:
                            addrs.append(addr)
                            names.append(parts[2])
        except OSError:
            pass
        order = sorted(range(len(addrs)), key=addrs.__getitem__)
        self.addrs = [addrs[i] for i in order]
        self.names = [names[i] for i in order]

    def __bool__(self):
        return bool(self.addrs)

    __nonzero__ = __bool__

    def lookup(self, addr):
        """``'nft_do_chain+0x3c'`` for an address in kernel text, None when unknown or hidden."""
        if not addr or not self.addrs:
            return None
        idx = bisect.bisect_right(self.addrs, addr) - 1
        if idx < 0:
            return None
        off = addr - self.addrs[idx]
        if off > 0x100000:
            return None
        return "%s+0x%x" % (self.names[idx], off)


# ---------------------------------------------------------------- BCC's kernel source tree

KERNEL_SRC_DEFAULT = "/var/lib/netdiag_tracekit/kernel-src"
HEADERS_ROOT = "/usr/src"


def _version_key(name):
    return [int(x) if x.isdigit() else x for x in re.split(r"[.-]", name)]


def headers_pair(root=None):
    """(arch dir, common dir) of the newest Debian-style linux-headers-* pair under ``root``, or None."""
    root = root or HEADERS_ROOT
    try:
        names = os.listdir(root)
    except OSError:
        return None
    pairs = []
    for name in names:
        if not name.startswith("linux-headers-") or name.endswith("-common"):
            continue
        stem = name.rsplit("-", 1)[0]
        common = os.path.join(root, stem + "-common")
        if os.path.isdir(common) and os.path.isdir(os.path.join(root, name, "include")):
            pairs.append((_version_key(name), os.path.join(root, name), common))
    if not pairs:
        return None
    pairs.sort()
    return pairs[-1][1], pairs[-1][2]


def kernel_source(release=None, default=KERNEL_SRC_DEFAULT, private_dir=None):
    """(path or None, how) that BCC should use as kernel source.

    None when /lib/modules/<release>/build exists (BCC finds it itself). Else ``default`` when it exists
    (made by the node_prereqs role), else a merged tree of the newest headers built in ``private_dir``.
    Raises KernelFactsError when there is nothing BCC can compile against.
    """
    release = release or os.uname()[2]
    if os.path.isdir("/lib/modules/%s/build/include" % release):
        return None, "/lib/modules/%s/build" % release
    if default and os.path.isdir(os.path.join(default, "include")):
        return default, default
    pair = headers_pair()
    if pair is None:
        raise KernelFactsError(
            "no kernel headers for BCC: /lib/modules/%s/build is missing and no linux-headers-* package is "
            "installed under %s; install linux-headers-$(uname -r) or, on kernels without a headers package, "
            "linux-headers-amd64 (the node_prereqs role does this)" % (release, HEADERS_ROOT))
    if private_dir is None:
        raise KernelFactsError("internal error: no private directory for the merged kernel header tree")
    dst = os.path.join(private_dir, "kernel-src")
    try:
        headers_tree.apply(headers_tree.plan(list(pair), dst))
    except headers_tree.TreeError as exc:
        raise KernelFactsError("cannot build the merged kernel header tree in %s: %s" % (dst, exc))
    return dst, "merged %s + %s" % pair

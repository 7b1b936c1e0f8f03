# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The BPF C text of the nettrace tracer, generated for the running kernel.

Nothing here includes a kernel struct definition: every kernel field is read with
``bpf_probe_read_kernel`` at an offset taken from BTF (``kernel_facts.struct_offsets``), and every tracepoint
context struct is declared from the tracepoint's tracefs ``format`` file. So the program is right even when
BCC compiles it against headers of another kernel version (the only headers a node may have).

One small program per event kind; each filters in the kernel (namespace set, then an LPM trie of addresses)
and writes one fixed 80-byte record to a ring buffer. ``EVENT`` below is the matching Python layout.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.kernel_facts import (
    KernelFactsError, tracepoint_format)

# Event kinds: (type id, tracepoint category, tracepoint name, probe name shown to users).
EVENT_KINDS = {
    "DROP": (1, "skb", "kfree_skb", "kfree_skb"),
    "RST_SENT": (2, "tcp", "tcp_send_reset", "tcp_send_reset"),
    "RST_RECV": (3, "tcp", "tcp_receive_reset", "tcp_receive_reset"),
    "SOCK_ERR": (4, "sock", "inet_sk_error_report", "inet_sk_error_report"),
    "RETRANS": (5, "tcp", "tcp_retransmit_skb", "tcp_retransmit_skb"),
}
TYPE_NAMES = dict((v[0], k) for k, v in EVENT_KINDS.items())

# Tracepoint fields each program reads; the ones marked optional may be absent on older kernels.
TP_FIELDS = {
    "DROP": (["skbaddr", "location", "protocol"], ["reason", "rx_sk"]),
    "RST_SENT": (["skbaddr", "skaddr", "saddr", "daddr"], ["reason", "state"]),
    "RST_RECV": (["skaddr", "sport", "dport", "family", "saddr", "daddr", "saddr_v6", "daddr_v6"], []),
    "RETRANS": (["skbaddr", "skaddr", "state", "sport", "dport", "family", "saddr", "daddr",
                 "saddr_v6", "daddr_v6"], []),
}

# Kernel-side counters (per-CPU array indexes); type ids 1..5 count events seen per kind.
COUNTERS = {"filtered_netns": 8, "filtered_ip": 9, "emitted": 10, "lost": 11}
N_COUNTERS = 16

# Record flags.
F_TIE = 1        # ip_id/flow_label and dscp were read from the packet's IP header
F_REASON = 2     # reason holds a kernel reason code
F_STATE = 4      # state holds a TCP state

# struct event (80 bytes): ts, location, netns, reason, saddr, daddr, sport, dport, family, type,
# l4proto, tag (IPv4 ID or IPv6 flow label), dscp, flags, pad, state.
EVENT = struct.Struct("<QQII16s16sHHHBBIBBHI4x")
# The same record as it sits in the ring buffer, after its 8-byte header.
RECORD = struct.Struct("<8xQQII16s16sHHHBBIBBHI4x")

_C_EVENT = r"""
struct event {
    u64 ts;
    u64 location;
    u32 netns;
    u32 reason;
    u8 saddr[16];
    u8 daddr[16];
    u16 sport;
    u16 dport;
    u16 family;
    u8 type;
    u8 l4proto;
    u32 tag;
    u8 dscp;
    u8 flags;
    u16 pad;
    u32 state;
    u32 pad2;
};

struct lpm_key {
    u32 prefixlen;
    u8 addr[16];
};

BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);
BPF_PERCPU_ARRAY(counters, u64, N_COUNTERS);
BPF_LPM_TRIE(ipfilter, struct lpm_key, u8, 4096);
BPF_HASH(netns_ok, u32, u8, 1024);

static __always_inline void count(u32 idx)
{
    u64 *val = counters.lookup(&idx);
    if (val)
        (*val)++;
}

static __always_inline u32 net_inum(void *net)
{
    u32 inum = 0;
    if (net)
        bpf_probe_read_kernel(&inum, sizeof(inum), (char *)net + NET_INUM);
    return inum;
}

static __always_inline u32 sk_netns(void *sk)
{
    void *net = NULL;
    if (!sk)
        return 0;
    bpf_probe_read_kernel(&net, sizeof(net), (char *)sk + SK_NET);
    return net_inum(net);
}

static __always_inline u32 skb_netns(void *skb)
{
    void *dev = NULL, *net = NULL, *sk = NULL;
    if (!skb)
        return 0;
    bpf_probe_read_kernel(&dev, sizeof(dev), (char *)skb + SKB_DEV);
    if (dev) {
        bpf_probe_read_kernel(&net, sizeof(net), (char *)dev + DEV_NET);
        if (net)
            return net_inum(net);
    }
    bpf_probe_read_kernel(&sk, sizeof(sk), (char *)skb + SKB_SK);
    return sk_netns(sk);
}

static __always_inline void map_v4(u8 *dst, const void *src)
{
    __builtin_memset(dst, 0, 10);
    dst[10] = 0xff;
    dst[11] = 0xff;
    __builtin_memcpy(dst + 12, src, 4);
}

/* Read the IP header (and ports) of an skb. fill_addr=0 keeps addresses already set and only reads the
 * probe-tie fields. Returns 1 when an IP header was read. */
static __always_inline int skb_ip(void *skb, struct event *e, int fill_addr)
{
    unsigned char *head = NULL;
    u16 nh = 0xffff;
    u8 first = 0;
    u32 l4 = 0;
    u8 proto = 0;
    if (!skb)
        return 0;
    bpf_probe_read_kernel(&head, sizeof(head), (char *)skb + SKB_HEAD);
    bpf_probe_read_kernel(&nh, sizeof(nh), (char *)skb + SKB_NETWORK_HEADER);
    if (!head || nh == 0xffff)
        return 0;
    if (bpf_probe_read_kernel(&first, 1, head + nh))
        return 0;
    if ((first >> 4) == 4) {
        u8 hdr[20];
        if (bpf_probe_read_kernel(hdr, 20, head + nh))
            return 0;
        e->dscp = hdr[1] >> 2;
        e->tag = ((u32)hdr[4] << 8) | hdr[5];
        e->flags |= F_TIE;
        proto = hdr[9];
        l4 = nh + (first & 0x0f) * 4;
        if (fill_addr) {
            e->family = 2;
            map_v4(e->saddr, hdr + 12);
            map_v4(e->daddr, hdr + 16);
        }
        /* a non-first fragment carries no ports */
        if (((u16)(hdr[6] & 0x1f) << 8 | hdr[7]) != 0)
            proto = 0;
    } else if ((first >> 4) == 6) {
        u8 hdr[40];
        if (bpf_probe_read_kernel(hdr, 40, head + nh))
            return 0;
        e->dscp = ((hdr[0] & 0x0f) << 4 | hdr[1] >> 4) >> 2;
        e->tag = ((u32)(hdr[1] & 0x0f) << 16) | ((u32)hdr[2] << 8) | hdr[3];
        e->flags |= F_TIE;
        proto = hdr[6];
        l4 = nh + 40;
        if (fill_addr) {
            e->family = 10;
            __builtin_memcpy(e->saddr, hdr + 8, 16);
            __builtin_memcpy(e->daddr, hdr + 24, 16);
        }
    } else {
        return 0;
    }
    if (fill_addr) {
        e->l4proto = proto;
        if (proto == 6 || proto == 17 || proto == 132 || proto == 136) {
            u16 ports[2] = {0, 0};
            if (!bpf_probe_read_kernel(ports, 4, head + l4)) {
                e->sport = bpf_ntohs(ports[0]);
                e->dport = bpf_ntohs(ports[1]);
            }
        }
    }
    return 1;
}

static __always_inline void sk_addrs(void *sk, struct event *e)
{
    u16 family = 0, dport = 0, sport = 0, proto = 0;
    u8 state = 0;
    bpf_probe_read_kernel(&family, 2, (char *)sk + SK_FAMILY);
    bpf_probe_read_kernel(&dport, 2, (char *)sk + SK_DPORT);
    /* inet_sport survives tcp_done (skc_num is cleared when the port is released) */
    bpf_probe_read_kernel(&sport, 2, (char *)sk + INET_SPORT);
    bpf_probe_read_kernel(&proto, 2, (char *)sk + SK_PROTOCOL);
    bpf_probe_read_kernel(&state, 1, (char *)sk + SK_STATE);
    e->family = family;
    e->sport = bpf_ntohs(sport);
    e->dport = bpf_ntohs(dport);
    e->l4proto = proto;
    e->state = state;
    e->flags |= F_STATE;
    if (family == 2) {
        u32 a = 0;
        bpf_probe_read_kernel(&a, 4, (char *)sk + SK_RCV_SADDR);
        map_v4(e->saddr, &a);
        bpf_probe_read_kernel(&a, 4, (char *)sk + SK_DADDR);
        map_v4(e->daddr, &a);
    } else if (family == 10) {
        bpf_probe_read_kernel(e->saddr, 16, (char *)sk + SK_V6_RCV_SADDR);
        bpf_probe_read_kernel(e->daddr, 16, (char *)sk + SK_V6_DADDR);
    }
}

/* Keep the event? Counts it as seen, and as filtered when a filter rejects it. */
static __always_inline int keep_netns(u32 netns)
{
#if FILTER_NETNS
    if (!netns_ok.lookup(&netns)) {
        count(IDX_FILTERED_NETNS);
        return 0;
    }
#endif
    return 1;
}

static __always_inline int keep_addr(struct event *e)
{
#if FILTER_IP
    struct lpm_key key = {.prefixlen = 128};
    if (e->family != 2 && e->family != 10) {
        count(IDX_FILTERED_IP);
        return 0;
    }
    __builtin_memcpy(key.addr, e->saddr, 16);
    if (ipfilter.lookup(&key))
        return 1;
    __builtin_memcpy(key.addr, e->daddr, 16);
    if (ipfilter.lookup(&key))
        return 1;
    count(IDX_FILTERED_IP);
    return 0;
#else
    return 1;
#endif
}

static __always_inline int emit(struct event *e)
{
    e->ts = bpf_ktime_get_ns();
    /* no wakeup: user space drains the ring in bulk on its own schedule, so a flood costs no context switches */
    if (events.ringbuf_output(e, sizeof(*e), BPF_RB_NO_WAKEUP) == 0)
        count(IDX_EMITTED);
    else
        count(IDX_LOST);
    return 0;
}

static __always_inline void sockaddr_copy(struct event *e, const u8 *src, const u8 *dst)
{
    u16 family = src[0] | (u16)src[1] << 8;
    e->family = family;
    e->sport = (u16)src[2] << 8 | src[3];
    e->dport = (u16)dst[2] << 8 | dst[3];
    if (family == 2) {
        map_v4(e->saddr, src + 4);
        map_v4(e->daddr, dst + 4);
    } else if (family == 10) {
        __builtin_memcpy(e->saddr, src + 8, 16);
        __builtin_memcpy(e->daddr, dst + 8, 16);
    }
}

static __always_inline void tp_addrs(struct event *e, u16 family, const u8 *s4, const u8 *d4,
                                     const u8 *s6, const u8 *d6)
{
    e->family = family;
    if (family == 2) {
        map_v4(e->saddr, s4);
        map_v4(e->daddr, d4);
    } else if (family == 10) {
        __builtin_memcpy(e->saddr, s6, 16);
        __builtin_memcpy(e->daddr, d6, 16);
    }
}
"""

_C_PROGRAMS = {
    "DROP": r"""
int nt_drop(struct tp_drop *ctx)
{
    struct event e = {};
    void *skb = ctx->skbaddr;
    u32 netns;
    count(1);
    netns = skb_netns(skb);
#if HAS_DROP_RX_SK
    if (!netns)
        netns = sk_netns(ctx->rx_sk);
#endif
    if (!keep_netns(netns))
        return 0;
    e.type = 1;
    e.netns = netns;
    e.location = (u64)ctx->location;
#if HAS_DROP_REASON
    e.reason = ctx->reason;
    e.flags |= F_REASON;
#endif
    if (ctx->protocol == 0x0800 || ctx->protocol == 0x86DD || ctx->protocol == 0)
        skb_ip(skb, &e, 1);
    if (!keep_addr(&e))
        return 0;
    return emit(&e);
}
""",
    "RST_SENT": r"""
int nt_rst_sent(struct tp_rst_sent *ctx)
{
    struct event e = {};
    void *sk = ctx->skaddr;
    void *skb = ctx->skbaddr;
    u32 netns;
    count(2);
    /* the socket is NULL when the RST answers a packet to a closed port: take the namespace from the skb */
    netns = sk ? sk_netns(sk) : skb_netns(skb);
    if (!keep_netns(netns))
        return 0;
    e.type = 2;
    e.netns = netns;
    e.l4proto = 6;
#if HAS_RST_SENT_REASON
    e.reason = ctx->reason;
    e.flags |= F_REASON;
#endif
#if HAS_RST_SENT_STATE
    e.state = ctx->state;
    if (sk)
        e.flags |= F_STATE;
#endif
    sockaddr_copy(&e, ctx->saddr, ctx->daddr);
    /* the skb is the packet that caused the RST: its IP header carries the probe's tag */
    skb_ip(skb, &e, 0);
    if (!keep_addr(&e))
        return 0;
    return emit(&e);
}
""",
    "RST_RECV": r"""
int nt_rst_recv(struct tp_rst_recv *ctx)
{
    struct event e = {};
    u32 netns;
    u8 state = 0;
    count(3);
    netns = sk_netns(ctx->skaddr);
    if (!keep_netns(netns))
        return 0;
    e.type = 3;
    e.netns = netns;
    e.l4proto = 6;
    e.sport = ctx->sport;
    e.dport = ctx->dport;
    tp_addrs(&e, ctx->family, ctx->saddr, ctx->daddr, ctx->saddr_v6, ctx->daddr_v6);
    bpf_probe_read_kernel(&state, 1, (char *)ctx->skaddr + SK_STATE);
    e.state = state;
    e.flags |= F_STATE;
    if (!keep_addr(&e))
        return 0;
    return emit(&e);
}
""",
    "SOCK_ERR": r"""
int nt_sock_err(struct bpf_raw_tracepoint_args *ctx)
{
    struct event e = {};
    void *sk = (void *)ctx->args[0];
    u32 netns;
    int err = 0;
    /* tcp_disconnect() reports again after the application consumed the error: nothing to report */
    bpf_probe_read_kernel(&err, sizeof(err), (char *)sk + SK_ERR);
    if (!err)
        return 0;
    count(4);
    netns = sk_netns(sk);
    if (!keep_netns(netns))
        return 0;
    e.type = 4;
    e.netns = netns;
    e.reason = err;
    e.flags |= F_REASON;
    sk_addrs(sk, &e);
    if (!keep_addr(&e))
        return 0;
    return emit(&e);
}
""",
    "RETRANS": r"""
int nt_retrans(struct tp_retrans *ctx)
{
    struct event e = {};
    u32 netns;
    count(5);
    netns = sk_netns(ctx->skaddr);
    if (!keep_netns(netns))
        return 0;
    e.type = 5;
    e.netns = netns;
    e.l4proto = 6;
    e.state = ctx->state;
    e.reason = ctx->state;
    e.flags |= F_STATE | F_REASON;
    e.sport = ctx->sport;
    e.dport = ctx->dport;
    tp_addrs(&e, ctx->family, ctx->saddr, ctx->daddr, ctx->saddr_v6, ctx->daddr_v6);
    if (!keep_addr(&e))
        return 0;
    return emit(&e);
}
""",
}

FN_NAMES = {"DROP": "nt_drop", "RST_SENT": "nt_rst_sent", "RST_RECV": "nt_rst_recv",
            "SOCK_ERR": "nt_sock_err", "RETRANS": "nt_retrans"}

_C_TYPES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def context_struct(struct_name, fmt, required, optional):
    """Declare the context struct of a tracepoint from its tracefs format, with only the fields we read.

    Returns (C text, {optional field: present?}). Raises KernelFactsError when a required field is missing.
    """
    fields = fmt["fields"]
    missing = [name for name in required if name not in fields]
    if missing:
        raise KernelFactsError("tracepoint context has no field %s on this kernel" % ", ".join(missing))
    present = dict((name, name in fields) for name in optional)
    wanted = sorted((fields[n]["offset"], n) for n in list(required) + [n for n in optional if present[n]])
    lines = ["struct %s {" % struct_name]
    pos = 0
    for offset, name in wanted:
        info = fields[name]
        if offset < pos:
            raise KernelFactsError("overlapping tracepoint fields at %s" % name)
        if offset > pos:
            lines.append("    u8 __pad_%d[%d];" % (pos, offset - pos))
        decl = info["decl"]
        if "[" in decl:
            lines.append("    u8 %s[%d];" % (name, info["size"]))
        elif "*" in decl:
            lines.append("    void *%s;" % name)
        else:
            ctype = _C_TYPES.get(info["size"])
            if ctype is None:
                raise KernelFactsError("tracepoint field %s has unexpected size %d" % (name, info["size"]))
            if info["signed"]:
                ctype = "s" + ctype[1:]
            lines.append("    %s %s;" % (ctype, name))
        pos = offset + info["size"]
    lines.append("} __attribute__((packed));")
    return "\n".join(lines) + "\n", present


def generate(kinds, offsets, filter_ip=False, filter_netns=False, ringbuf_pages=1024, tracefs=None):
    """The complete C text for the event kinds ``kinds``, using BTF ``offsets`` (kernel_facts.struct_offsets)."""
    defines = ["#define %s %d" % (name, value) for name, value in sorted(offsets.items())]
    defines += [
        "#define RINGBUF_PAGES %d" % ringbuf_pages,
        "#define N_COUNTERS %d" % N_COUNTERS,
        "#define FILTER_IP %d" % (1 if filter_ip else 0),
        "#define FILTER_NETNS %d" % (1 if filter_netns else 0),
        "#define F_TIE %d" % F_TIE,
        "#define F_REASON %d" % F_REASON,
        "#define F_STATE %d" % F_STATE,
    ]
    defines += ["#define IDX_%s %d" % (name.upper(), idx) for name, idx in sorted(COUNTERS.items())]
    structs = []
    for kind in kinds:
        if kind not in TP_FIELDS:
            continue
        _tid, category, event, _probe = EVENT_KINDS[kind]
        fmt = tracepoint_format(category, event, tracefs)
        required, optional = TP_FIELDS[kind]
        try:
            text, present = context_struct("tp_%s" % kind.lower(), fmt, required, optional)
        except KernelFactsError as exc:
            raise KernelFactsError("%s:%s cannot be traced: %s" % (category, event, exc))
        structs.append(text)
        defines += ["#define HAS_%s_%s %d" % (kind, name.upper(), 1 if ok else 0) for name, ok in sorted(present.items())]
    body = "".join(_C_PROGRAMS[kind] for kind in kinds)
    return "\n".join(defines) + "\n" + "".join(structs) + _C_EVENT + body

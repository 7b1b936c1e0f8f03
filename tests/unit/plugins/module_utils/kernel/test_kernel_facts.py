"""kernel_facts and the tracer's decoding, against the live kernel where it matters.

Reason codes are checked against the tracefs format file parsed here by a separate expression; struct
offsets against ``bpftool btf dump`` (an independent BTF reader).
"""

import functools
import os
import re
import shutil
import socket
import struct
import subprocess

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import kernel_facts as kf
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import nettrace as nt
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import nettrace_bpf as nb
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import EVENT_KEYS

FORMAT = "/sys/kernel/tracing/events/skb/kfree_skb/format"


def live_format():
    if not os.path.exists(FORMAT):
        pytest.skip("tracefs is not mounted at /sys/kernel/tracing")
    with open(FORMAT) as handle:
        return handle.read()


def need_btf():
    if not os.access(kf.BTF_PATH, os.R_OK):
        pytest.skip("this kernel has no readable BTF")


def test_drop_reasons_match_tracefs():
    text = live_format()
    listed = dict((int(c), n) for c, n in re.findall(r'\{ (\d+), "([A-Z0-9_]+)" \}', text.split("reason: %s")[1]))
    table = kf.drop_reasons()
    assert "NETFILTER_DROP" in table.values() and "NO_SOCKET" in table.values()
    for code, name in listed.items():
        assert table[code] == name
    if os.access(kf.BTF_PATH, os.R_OK):
        btf = kf.vmlinux_btf().enum_values("skb_drop_reason")
        assert btf[[c for c, n in listed.items() if n == "NETFILTER_DROP"][0]] == "SKB_DROP_REASON_NETFILTER_DROP"


def test_rst_reasons_and_states():
    need_btf()
    rst = kf.rst_reasons()
    if rst:  # kernels >= 6.10 give reset reasons
        assert "NO_SOCKET" in rst.values()
    states = kf.tcp_states()
    assert states[2] == "TCP_SYN_SENT" and states[10] == "TCP_LISTEN"


@functools.lru_cache(maxsize=1)
def bpftool_dump():
    return subprocess.run(["bpftool", "btf", "dump", "file", kf.BTF_PATH], capture_output=True, text=True,
                          check=True, timeout=60).stdout


def bpftool_members(struct_name):
    if not shutil.which("bpftool"):
        pytest.skip("bpftool is not installed")
    out = bpftool_dump()
    block = re.search(r"^\[\d+\] STRUCT '%s' size=\d+ vlen=\d+\n((?:\t.*\n)*)" % struct_name, out, re.M).group(1)
    return dict((m, int(bits) // 8) for m, bits in re.findall(r"\t'(\w+)' type_id=\d+ bits_offset=(\d+)", block))


@pytest.mark.parametrize("struct_name, member", [
    ("sk_buff", "head"), ("sock", "sk_err"), ("sock", "sk_protocol"), ("inet_sock", "inet_sport"),
    ("net_device", "nd_net"), ("ns_common", "inum"), ("sock_common", "skc_family"),
    ("sock_common", "skc_net"), ("sock_common", "skc_v6_daddr"),
])
def test_struct_offsets_match_bpftool(struct_name, member):
    need_btf()
    assert kf.vmlinux_btf().offset_of(struct_name, member)[0] == bpftool_members(struct_name)[member]


def test_offsets_cross_anonymous_unions():
    need_btf()
    offsets = kf.struct_offsets()
    btf = kf.vmlinux_btf()
    common = btf.offset_of("sock", "__sk_common")[0]
    assert offsets["SK_FAMILY"] == common + btf.offset_of("sock_common", "skc_family")[0]
    # skc_daddr and skc_rcv_saddr share an anonymous struct inside an anonymous union: 4 bytes apart
    assert offsets["SK_RCV_SADDR"] - offsets["SK_DADDR"] == 4
    assert offsets["NET_INUM"] == btf.offset_of("net", "ns")[0] + btf.offset_of("ns_common", "inum")[0]
    with pytest.raises(kf.KernelFactsError, match="no field nope"):
        btf.offset_of("sock", "nope")


def test_btf_rejects_garbage():
    with pytest.raises(kf.KernelFactsError, match="magic"):
        kf.Btf(b"\0" * 64)


def test_print_symbolic_and_context_struct_old_kernel():
    """A 5.10 kfree_skb format (no reason field): the program is generated without reasons."""
    fmt = {"fields": {"skbaddr": {"offset": 8, "size": 8, "signed": False, "decl": "void * skbaddr"},
                      "location": {"offset": 16, "size": 8, "signed": False, "decl": "void * location"},
                      "protocol": {"offset": 24, "size": 2, "signed": False, "decl": "unsigned short protocol"}},
           "print_fmt": '"x", __print_symbolic(REC->reason, { 1, "NOT_SPECIFIED" }, { 6, "NETFILTER_DROP" })'}
    assert kf.print_symbolic(fmt["print_fmt"], "reason") == {1: "NOT_SPECIFIED", 6: "NETFILTER_DROP"}
    text, present = nb.context_struct("tp_drop", fmt, ["skbaddr", "location", "protocol"], ["reason", "rx_sk"])
    assert present == {"reason": False, "rx_sk": False}
    assert "u8 __pad_0[8];" in text and "u16 protocol;" in text
    with pytest.raises(kf.KernelFactsError, match="no field skaddr"):
        nb.context_struct("x", fmt, ["skaddr"], [])


def test_live_tracepoint_layout():
    live_format()
    fmt = kf.tracepoint_format("tcp", "tcp_send_reset")
    assert fmt["fields"]["saddr"]["size"] == 28 and fmt["fields"]["skaddr"]["size"] == 8


def test_kallsyms_lookup():
    syms = kf.Kallsyms()
    if not syms:
        pytest.skip("kallsyms addresses are hidden")
    with open("/proc/kallsyms") as handle:
        addr = next(int(line.split()[0], 16) for line in handle if line.split()[2] == "nft_do_chain")
    assert syms.lookup(addr + 0x10) == "nft_do_chain+0x10"
    assert syms.lookup(0) is None


def test_kernel_source_merges_the_headers_pair_into_one_tree(tmp_path, monkeypatch):
    """The merged tree BCC gets is the one headers_tree builds (the symlink_tree module's code): arch first."""
    src = tmp_path / "src"
    arch, common = src / "linux-headers-6.1.0-9-amd64", src / "linux-headers-6.1.0-9-common"
    (arch / "include" / "generated").mkdir(parents=True)
    (common / "include" / "linux").mkdir(parents=True)
    (arch / "Makefile").write_text("arch")
    (common / "Makefile").write_text("common")
    monkeypatch.setattr(kf, "HEADERS_ROOT", str(src))
    path, _how = kf.kernel_source(release="0.0-none", default=None, private_dir=str(tmp_path / "priv"))
    assert path == str(tmp_path / "priv" / "kernel-src")
    assert os.path.isdir(os.path.join(path, "include")) and not os.path.islink(os.path.join(path, "include"))
    assert os.readlink(os.path.join(path, "include", "generated")) == str(arch / "include" / "generated")
    assert os.readlink(os.path.join(path, "include", "linux")) == str(common / "include" / "linux")
    assert (tmp_path / "priv" / "kernel-src" / "Makefile").read_text() == "arch"
    # A second run over the same tree changes nothing and does not fail.
    assert kf.kernel_source(release="0.0-none", default=None, private_dir=str(tmp_path / "priv"))[0] == path


def test_decoder_on_hand_packed_record():
    raw = struct.pack("<8xQQII16s16sHHHBBIBBHI4x", 5_000_000_000, 0xffffffff81000010, 4026532815, 12,
                      b"\0" * 10 + b"\xff\xff" + socket.inet_aton("10.0.0.1"),
                      b"\0" * 10 + b"\xff\xff" + socket.inet_aton("10.0.0.2"),
                      40000, 9, 2, 1, 17, 0x4a7e, 46, nb.F_TIE | nb.F_REASON, 0, 0)
    syms = kf.Kallsyms.__new__(kf.Kallsyms)
    syms.addrs, syms.names = [0xffffffff81000000], ["nft_do_chain"]
    dec = nt.Decoder({12: "NETFILTER_DROP"}, {}, kf.TCP_STATES, netns_names={4026532815: "n2"}, kallsyms=syms,
                     clock_offset=1_700_000_000.0)
    event = dec.decode([raw])[0]
    assert set(event) == set(EVENT_KEYS)
    assert event["time"] == "2023-11-14T22:13:25.000000Z"
    assert (event["type"], event["reason"], event["reason_code"], event["location"]) == (
        "DROP", "NETFILTER_DROP", 12, "nft_do_chain+0x10")
    assert (event["src_ip"], event["src_port"], event["dst_ip"], event["dst_port"], event["protocol"]) == (
        "10.0.0.1", 40000, "10.0.0.2", 9, "udp")
    assert (event["netns_name"], event["ip_id"], event["dscp"], event["flow_label"]) == ("n2", 0x4a7e, 46, None)


def test_option_parsing_errors(monkeypatch):
    assert nt.parse_filters(["10.0.0.1"], ["fd00::/8"])[0][:1] == (128,)
    assert nt.parse_filters([], ["10.0.0.0/8"])[0][0] == 104
    with pytest.raises(nt.NettraceError, match="not an IPv4 or IPv6 address"):
        nt.parse_filters(["10.0.0.300"])
    with pytest.raises(nt.NettraceError, match="unknown event type 'BOGUS'"):
        nt.parse_kinds(["drop", "BOGUS"])
    assert nt.parse_kinds(["retrans", "drop"]) == ["DROP", "RETRANS"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(nt.NettraceError, match="must run as root"):
        nt.check_root()


def test_missing_bcc_names_the_package(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "bcc":
            raise ImportError("No module named 'bcc'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(nt.NettraceError, match="python3-bpfcc .*python3-bcc"):
        nt.import_bcc()


def test_no_btf_is_a_clear_error(tmp_path):
    with pytest.raises(kf.KernelFactsError, match="no BTF"):
        kf.vmlinux_btf(str(tmp_path / "missing"))


def test_kernel_source_choices(tmp_path, monkeypatch):
    monkeypatch.setattr(kf, "HEADERS_ROOT", str(tmp_path / "src"))
    (tmp_path / "src").mkdir()
    with pytest.raises(kf.KernelFactsError, match="no kernel headers for BCC.*linux-headers"):
        kf.kernel_source(release="0.0-none", default=str(tmp_path / "absent"), private_dir=str(tmp_path))
    for name in ("linux-headers-6.1.0-9-amd64", "linux-headers-6.1.0-10-amd64"):
        (tmp_path / "src" / name / "include").mkdir(parents=True)
        (tmp_path / "src" / name.replace("amd64", "common") / "include" / "linux").mkdir(parents=True)
    path, how = kf.kernel_source(release="0.0-none", default=str(tmp_path / "absent"), private_dir=str(tmp_path))
    assert "6.1.0-10-amd64" in how and os.path.isdir(os.path.join(path, "include", "linux"))
    prepared = tmp_path / "prepared"
    (prepared / "include").mkdir(parents=True)
    assert kf.kernel_source(release="0.0-none", default=str(prepared)) == (str(prepared), str(prepared))


def test_tracefs_missing_says_how_to_mount(tmp_path, monkeypatch):
    monkeypatch.setattr(kf, "TRACEFS_CANDIDATES", (str(tmp_path / "tracing"),))
    with pytest.raises(kf.KernelFactsError, match="mount -t tracefs nodev /sys/kernel/tracing"):
        kf.tracefs_dir(mount=False)

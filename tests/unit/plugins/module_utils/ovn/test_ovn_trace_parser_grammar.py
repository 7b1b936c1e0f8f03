"""parse_ovn_trace on grammar the fixtures lack, written by hand from ovn-trace's printing rules.

Each trace below follows utilities/ovn-trace.c: a detailed node is printed at (level + more) * 4
spaces, where "more" is false only for the last child of a pipeline, table or transformation, titles
(pipelines, ct_*, generated packets, LOG) are underlined with dashes, tables are printed with "%2d. ",
and the summary/minimal formats nest with braces. Versions: the 2016 form without uuid and with
"no match", the tiered ACL stages of OVN >= 23.06 (reg8[17]), multicast, clone, nd_na, errors.
"""

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import (
    acl_hints,
    ovn_observations,
    parse_ovn_trace,
)


def _title(text, indent=0):
    return "%s%s\n%s%s\n" % (" " * indent, text, " " * indent, "-" * len(text))


def test_old_ls_header_and_2016_table_lines_without_uuid():
    text = (_title('ingress(ls=sw0, inport="vm1")')
            + ' 0. ls_in_port_sec_l2: inport == "vm1", priority 50\n'
            + "    next;\n"
            + " 1. ls_in_acl: ip4 && tcp.dst == 22, priority 1002\n"
            + "    drop;\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "dropped"
    assert parsed["path"] == [{"datapath": "sw0", "pipeline": "ingress", "inport": "vm1", "outport": None,
                               "generated": None}]
    assert [(h["table"], h["stage"], h["priority"], h["uuid"], h["source"]) for h in parsed["hops"]] == [
        (0, "ls_in_port_sec_l2", 50, None, None), (1, "ls_in_acl", 1002, None, None)]
    assert parsed["drop"]["stage"] == "ls_in_acl" and parsed["drop"]["kind"] == "acl"
    assert parsed["drop"]["datapath"] == "sw0"


@pytest.mark.parametrize("line,stage", [
    (" 1. ls_in_port_sec_ip: no match", "ls_in_port_sec_ip"),
    (" 1. ls_in_port_sec_ip: no match (implicit drop)", "ls_in_port_sec_ip"),
    (" 1. no match (implicit drop)", None),
])
def test_no_match_is_an_implicit_drop(line, stage):
    text = (_title('ingress(dp="sw0", inport="vm1")') + ' 0. ls_in_port_sec_l2: inport == "vm1", priority 50\n'
            + "    next;\n" + line + "\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "dropped"
    assert parsed["drop"]["kind"] == "implicit"
    assert parsed["drop"]["reason"] == "no match (implicit drop)"
    assert (parsed["drop"]["table"], parsed["drop"]["stage"]) == (1, stage)


TIERED = (
    "# tcp,reg14=0x1,vlan_tci=0x0000,dl_src=0a:58:0a:f4:00:05,nw_src=10.244.0.5,nw_dst=10.0.0.5,tp_dst=5432\n"
    + "\n" + _title('ingress(dp="ovn-worker", inport="default_pod-a")')
    + " 0. ls_in_check_port_sec (northd.c:9391): 1, priority 50, uuid 1a2b3c4d\n"
    + "    reg0[15] = check_in_port_sec();\n"
    + "    next;\n"
    + " 8. ls_in_acl_eval (northd.c:7140): reg0[7] == 1 && (inport == @a1234 && ip4.dst == {10.0.0.5, 10.0.0.6}"
      " && tcp.dst == 5432), priority 2001, uuid 5e6f7a8b\n"
    + "    reg8[16] = 0;\n"
    + "    reg8[17] = 1;\n"
    + "    reg3 = 4242;\n"
    + '    log(name="NP:default:deny-db", verdict=drop, severity=alert, meter="acl-logging");\n'
    + "\n" + _title('LOG: ACL name=NP:default:deny-db, direction=IN, verdict=drop, severity=alert, '
                    'packet="ct_state=new|trk,tcp,reg14=0x1,nw_dst=10.0.0.5,tp_dst=5432"', 4)
    + "    next;\n"
    + "10. ls_in_acl_action (northd.c:7390): reg8[17] == 1, priority 1000, uuid 9c0d1e2f\n"
    + "    reg8[16] = 0;\n"
    + "    reg8[17] = 0;\n"
    + "    reg8[18] = 0;\n")


def test_tiered_acl_drop_of_ovn_23_06_and_later_names_the_eval_flow():
    """ls_in_acl_eval decides (reg8[17] = 1), ls_in_acl_action drops: its actions end without drop;."""
    parsed = parse_ovn_trace(TIERED)
    assert parsed["verdict"] == "dropped"
    drop = parsed["drop"]
    assert (drop["stage"], drop["uuid"], drop["table"], drop["kind"]) == ("ls_in_acl_action", "9c0d1e2f", 10, "acl")
    assert "reg8[17] == 1" in drop["reason"] and "NP:default:deny-db" in drop["reason"]
    acl = drop["acl"]
    assert acl["name"] == "NP:default:deny-db"
    assert (acl["uuid"], acl["stage"], acl["priority"]) == ("5e6f7a8b", "ls_in_acl_eval", 2001)
    assert acl["match"] == "reg0[7] == 1 && (inport == @a1234 && ip4.dst == {10.0.0.5, 10.0.0.6} && tcp.dst == 5432)"
    assert (acl["label"], acl["meter"], acl["severity"], acl["direction"]) == ("4242", "acl-logging", "alert", "from-lport")
    hints = acl_hints(parsed)
    assert hints["lflow_uuid_prefix"] == "5e6f7a8b" and hints["stage"] == "ls_in_acl_eval"
    assert hints["datapath"] == "ovn-worker" and hints["verdict"] == "drop" and hints["label"] == "4242"
    # the LOG title inside the hop does not end the hop: next; still belongs to ls_in_acl_eval
    assert parsed["hops"][1]["actions"][-1] == "next;"


def test_tiered_acl_drop_in_summary_format():
    text = ('ingress(dp="ovn-worker", inport="default_pod-a") {\n'
            "    reg0[15] = check_in_port_sec();\n    next;\n    reg8[16] = 0;\n    reg8[17] = 1;\n"
            '    log(name="NP:default:deny-db", verdict=drop, severity=alert);\n'
            '    LOG: ACL name=NP:default:deny-db, direction=IN, verdict=drop, severity=alert, packet="tcp";\n'
            "    next;\n    reg8[16] = 0;\n    reg8[17] = 0;\n    reg8[18] = 0;\n};\n")
    parsed = parse_ovn_trace(text)
    assert parsed["format"] == "summary" and parsed["verdict"] == "dropped"
    assert parsed["drop"]["acl"]["name"] == "NP:default:deny-db"
    assert parsed["drop"]["datapath"] == "ovn-worker" and parsed["drop"]["stage"] is None
    assert "reg8[17] = 1" in parsed["drop"]["reason"]


@pytest.mark.parametrize("transform", ["shift", "tabs", "crlf"])
def test_odd_indentation_and_line_endings(transform):
    with open(shared_path("fixtures", "ovn", "ovn-23.03-local", "acl_reject.detailed.txt")) as handle:
        text = handle.read()
    if transform == "shift":
        text = "\n".join(("  " + line) if line.strip() else line for line in text.split("\n"))
    elif transform == "tabs":
        text = "\n".join(line.replace("        ", "\t", 1) if line.startswith("        ") else line
                         for line in text.split("\n"))
    else:
        text = text.replace("\n", "\r\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "rejected"
    assert parsed["drop"]["acl"]["name"] == "reject-telnet"
    assert len(parsed["hops"]) == 17
    assert parsed["generated"][0]["outputs"][0]["port"] == "sw1-port2"


def test_trace_starting_mid_way_without_flow():
    ends_next = (" 7. ls_in_acl_hint (northd.c:6228): !ct.new && ct.est, priority 4, uuid 4456b97c\n"
                 "    reg0[8] = 1;\n    next;\n")
    parsed = parse_ovn_trace(ends_next)
    assert parsed["verdict"] == "partial" and parsed["flow"] is None
    assert parsed["hops"][0]["datapath"] is None and parsed["hops"][0]["uuid"] == "4456b97c"
    ends_out = (' 9. ls_out_apply_port_sec (northd.c:5777): 1, priority 0, uuid dec97937\n'
                '    output;\n    /* output to "sw0-port1", type "" */\n')
    parsed = parse_ovn_trace(ends_out)
    assert parsed["verdict"] == "delivered"
    assert parsed["outputs"] == [{"datapath": None, "port": "sw0-port1", "type": ""}]
    header_only = "# tcp,reg14=0x1\n\n" + _title('ingress(dp="sw0", inport="sw0-port1")')
    assert parse_ovn_trace(header_only)["verdict"] == "partial"


def test_multicast_where_every_copy_dies():
    text = (_title('ingress(dp="ls1", inport="p1")')
            + "25. ls_in_l2_lkup (northd.c:1): eth.mcast, priority 70, uuid 00000001\n"
            + '    outport = "_MC_flood";\n    output;\n\n'
            + _title('multicast(dp="ls1", mcgroup="_MC_flood")') + "\n"
            + _title('egress(dp="ls1", inport="p1", outport="p1")', 4)
            + "            /* omitting output because inport == outport && !flags.loopback */\n\n"
            + _title('egress(dp="ls1", inport="p1", outport="p2")', 4)
            + "         9. ls_out_port_sec_l2 (northd.c:2): eth.mcast, priority 100, uuid 00000002\n"
            + "            drop;\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "dropped"
    assert parsed["drop"]["stage"] == "ls_out_port_sec_l2" and parsed["drop"]["pipeline"] == "egress"
    assert [p["outport"] for p in parsed["path"]] == [None, "p1", "p2"]


def test_output_to_null_port_is_a_drop_and_an_error():
    text = (_title('ingress(dp="ls1", inport="p1")')
            + "25. ls_in_l2_lkup (northd.c:1): 1, priority 0, uuid 00000003\n"
            + "    output;\n    *** output to null logical port\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "dropped"
    assert parsed["errors"] == ["*** output to null logical port"]
    assert parsed["drop"]["kind"] == "error" and parsed["drop"]["stage"] == "ls_in_l2_lkup"


def test_ovs_stats_error_is_not_a_drop():
    text = (_title('ingress(dp="ls1", inport="p1")')
            + "25. ls_in_l2_lkup (northd.c:1): 1, priority 0, uuid 00000003\n"
            + "    *** error obtaining flow stats (Connection refused)\n"
            + '    outport = "p2";\n    output;\n\n'
            + _title('egress(dp="ls1", inport="p1", outport="p2")')
            + " 9. ls_out_port_sec_l2 (northd.c:2): 1, priority 0, uuid 00000004\n"
            + '    output;\n    /* output to "p2", type "" */\n')
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "delivered"
    assert parsed["errors"] == ["*** error obtaining flow stats (Connection refused)"]


ND_NA = (_title('ingress(dp="ls1", inport="p1")')
         + "19. ls_in_arp_rsp (northd.c:1): nd_ns && nd.target == fd00::1, priority 50, uuid 00000004\n"
         + "    nd_na { eth.src = 00:00:00:00:00:01; nd.tll = 00:00:00:00:00:01; outport = inport; output; };\n\n"
         + _title("nd_na")
         + "    eth.src = 00:00:00:00:00:01;\n    nd.tll = 00:00:00:00:00:01;\n    outport = inport;\n    output;\n\n"
         + _title('egress(dp="ls1", inport="p1", outport="p1")')
         + ' 9. ls_out_port_sec_l2 (northd.c:2): outport == "p1", priority 50, uuid 00000005\n'
         + '    output;\n    /* output to "p1", type "" */\n')


def test_nd_responder_answer_is_delivered_back():
    parsed = parse_ovn_trace(ND_NA)
    assert parsed["verdict"] == "delivered"
    assert parsed["outputs"] == [{"datapath": "ls1", "port": "p1", "type": ""}]
    assert parsed["generated"][0]["kind"] == "nd_na" and parsed["generated"][0]["stage"] == "ls_in_arp_rsp"
    assert parsed["hops"][1]["generated"] == "nd_na"


def test_clone_copy_is_delivered_and_indentation_returns_to_the_hop():
    text = (_title('ingress(dp="lr1", inport="lrp1")')
            + " 3. lr_in_x (northd.c:1): 1, priority 0, uuid 00000006\n"
            + '    clone { outport = "lrp2"; output; };\n\n'
            + _title("clone", 4)
            + '            outport = "lrp2";\n            output;\n\n'
            + _title('egress(dp="lr1", inport="lrp1", outport="lrp2")', 8)
            + '         0. lr_out_delivery (northd.c:2): outport == "lrp2", priority 100, uuid 00000007\n'
            + '            output;\n            /* output to "lrp2", type "" */\n'
            + "    drop;\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "delivered"
    assert parsed["outputs"] == [{"datapath": "lr1", "port": "lrp2", "type": ""}]
    assert parsed["hops"][0]["actions"] == ['clone { outport = "lrp2"; output; };', "drop;"]
    assert parsed["hops"][1]["pipeline"] == "egress"


def test_next_loop_back_to_an_earlier_table_and_commas_in_matches():
    text = (_title('ingress(dp="ls1", inport="p1")')
            + " 3. ls_in_x (northd.c:1): ip4.src == {10.0.0.1, 10.0.0.2} && tcp.dst == {80, 443}, priority 10,"
              " uuid 00000008\n"
            + "    reg0[0] = 1;\n    next(1);\n"
            + " 1. (northd.c:77): 1, priority 0, uuid 00000009\n    next;\n"
            + " 2. ls_in_z: no match (implicit drop)\n")
    parsed = parse_ovn_trace(text)
    assert [h["table"] for h in parsed["hops"]] == [3, 1, 2]
    assert parsed["hops"][0]["match"] == "ip4.src == {10.0.0.1, 10.0.0.2} && tcp.dst == {80, 443}"
    assert parsed["hops"][0]["priority"] == 10
    assert (parsed["hops"][1]["stage"], parsed["hops"][1]["source"]) == (None, "northd.c:77")
    assert parsed["drop"]["stage"] == "ls_in_z"


def test_old_log_line_without_direction_and_sctp_abort():
    text = ('ingress(dp="ls1", inport="p1") {\n'
            '    log(name="no-sctp", verdict=reject, severity=info);\n'
            '    LOG: ACL name=no-sctp, verdict=reject, severity=info, packet="sctp,reg14=0x1";\n'
            "    sctp_abort {\n        outport <-> inport;\n"
            '        egress(dp="ls1", inport="p2", outport="p1") {\n'
            '            /* output to "p1", type "" */;\n        };\n    };\n};\n')
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "rejected"
    assert parsed["logs"] == [{"name": "no-sctp", "direction": None, "verdict": "reject", "severity": "info",
                               "packet": "sctp,reg14=0x1"}]
    assert parsed["drop"]["acl"]["name"] == "no-sctp" and parsed["drop"]["acl"]["direction"] == "from-lport"
    assert parsed["generated"][0]["outputs"] == [{"datapath": "ls1", "port": "p1", "type": ""}]


def test_summary_cut_short_is_partial():
    parsed = parse_ovn_trace('# tcp\ningress(dp="sw0", inport="p") {\n    reg0[0] = 1;\n    next;\n')
    assert parsed["verdict"] == "partial"
    assert any("not closed" in w for w in parsed["warnings"])


@pytest.mark.parametrize("value", [None, 42, ["a"], {"a": 1}])
def test_non_text_input_raises_a_clear_type_error(value):
    with pytest.raises(TypeError, match="must be a string"):
        parse_ovn_trace(value)


@pytest.mark.parametrize("text,warning", [
    ("", "empty input"),
    ("   \n\n", "empty input"),
    ("hello world\nthis is not a trace\n", "not recognised"),
    ("(" * 200000, "not recognised"),
    ("}\n}\n", "unbalanced"),
])
def test_malformed_input_gives_a_result_not_an_exception(text, warning):
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "partial"
    assert any(warning in w for w in parsed["warnings"])
    assert parsed["outputs"] == [] and parsed["drop"] is None


def test_bytes_input_is_decoded():
    assert parse_ovn_trace(b'unknown port "x"\n')["verdict"] == "error"


def test_helpers_reject_what_is_not_a_parsed_trace():
    with pytest.raises(TypeError):
        acl_hints("text")
    with pytest.raises(TypeError):
        ovn_observations({"no": "verdict"})


def test_observations_of_a_delivered_trace():
    parsed = parse_ovn_trace(ND_NA)
    obs = ovn_observations(parsed, node="node1")
    assert [o["action"] for o in obs] == ["Received", "Delivered"]
    assert obs[0] == {"node": "node1", "netns": None, "endpoint": None, "component": "ovn", "action": "Received",
                      "reason": "ingress pipeline of datapath ls1, inport p1", "time": None, "source": "ovn-trace",
                      "datapath": "ls1"}
    assert obs[1]["reason"] == "output to port p1 of datapath ls1"


def test_text_cut_right_after_a_ct_title_is_partial():
    text = (_title('ingress(dp="sw0", inport="p1")')
            + " 6. ls_in_pre_stateful (northd.c:1): reg0[2] == 1, priority 110, uuid f7d67527\n"
            + "    ct_lb_mark;\n\n" + _title("ct_lb_mark /* default (use --ct to customize) */"))
    assert parse_ovn_trace(text)["verdict"] == "partial"


def test_pre_20_acl_forms_blocked_label_and_direct_tcp_reset():
    """OVN 2.9-era ACL drop of an established connection and reject without the reject {} wrapper."""
    blocked = (_title('ingress(dp="n1", inport="ap")')
               + " 6. ls_in_acl (ovn-northd.c:2925): ct.est && (inport == \"ap\" && tcp.dst == 22), priority 2002,"
                 " uuid a12b39f0\n"
               + "    ct_commit(ct_label=0x1/0x1);\n")
    parsed = parse_ovn_trace(blocked)
    assert parsed["verdict"] == "dropped" and parsed["drop"]["kind"] == "acl"
    assert "ct_label=0x1/0x1" in parsed["drop"]["reason"]
    assert acl_hints(parsed)["lflow_uuid_prefix"] == "a12b39f0"
    reject = (_title('egress(dp="n1", inport="ap", outport="bp")')
              + " 4. ls_out_acl (ovn-northd.c:3000): tcp.dst == 23, priority 2003, uuid 0badcafe\n"
              + "    tcp_reset { eth.dst <-> eth.src; ip4.dst <-> ip4.src; outport <-> inport; output; };\n\n"
              + _title("tcp_reset")
              + "    eth.dst <-> eth.src;\n    ip4.dst <-> ip4.src;\n    outport <-> inport;\n    output;\n\n"
              + _title('egress(dp="n1", inport="bp", outport="ap")')
              + ' 8. ls_out_port_sec_l2 (ovn-northd.c:3654): outport == "ap", priority 50, uuid 91b5cab0\n'
              + '    output;\n    /* output to "ap", type "" */\n')
    parsed = parse_ovn_trace(reject)
    assert parsed["verdict"] == "rejected"
    assert parsed["drop"]["uuid"] == "0badcafe" and parsed["drop"]["acl"]["direction"] == "to-lport"
    assert parsed["generated"][0]["outputs"] == [{"datapath": "n1", "port": "ap", "type": ""}]


def test_ovs_2_6_trace_stopping_at_an_unimplemented_ct_action_is_partial():
    """The first ovn-trace (2016) could not follow ct_next: the packet is not dropped, the trace stops."""
    text = (_title('ingress(dp="sw0", inport="vm1")')
            + " 5. ls_in_pre_stateful: reg0[0] == 1, priority 100\n"
            + "    ct_next;\n"
            + "    *** ct_* actions not implemented\n")
    parsed = parse_ovn_trace(text)
    assert parsed["verdict"] == "partial"
    assert parsed["errors"] == ["*** ct_* actions not implemented"]

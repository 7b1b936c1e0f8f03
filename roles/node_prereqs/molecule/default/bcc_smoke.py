# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prove BCC works on this node: compile a program against the kernel headers, attach it to a tracepoint,
see it fire, detach it. Prints one JSON object; exit code 0 only when every step worked.

The headers come from BCC_KERNEL_SOURCE when it is set (the node_prereqs fallback tree), from
/lib/modules/$(uname -r)/build otherwise. Including <linux/skbuff.h> makes the headers matter.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys
import time

PROGRAM = r"""
#include <linux/sched.h>
#include <linux/skbuff.h>
BPF_ARRAY(hits, u64, 1);
TRACEPOINT_PROBE(sched, sched_process_exec) {
    int zero = 0;
    u64 *count = hits.lookup(&zero);
    if (count)
        __sync_fetch_and_add(count, 1);
    return 0;
}
"""


def main():
    result = {"kernel_source": os.environ.get("BCC_KERNEL_SOURCE"), "python": sys.executable}
    from bcc import BPF  # pylint: disable=import-error

    start = time.time()
    bpf = BPF(text=PROGRAM)
    result["compile_attach_seconds"] = round(time.time() - start, 2)
    result["attached"] = bpf.num_open_tracepoints()
    try:
        for _dummy in range(3):
            subprocess.call(["/bin/true"])
        result["hits"] = int(bpf["hits"][bpf["hits"].Key(0)].value)
        bpf.detach_tracepoint(b"sched:sched_process_exec")
        result["attached_after_detach"] = bpf.num_open_tracepoints()
    finally:
        bpf.cleanup()
    ok = result["attached"] == 1 and result["hits"] >= 3 and result["attached_after_detach"] == 0
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

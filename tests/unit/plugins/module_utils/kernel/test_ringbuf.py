"""The bulk ring-buffer reader against a stand-in for the kernel's mapping (a memfd laid out the same way).

Layout (kernel/bpf/ringbuf.c): page 0 consumer_pos; page 1 producer_pos; then the data area, mapped twice.
A memfd cannot map the data twice, so the stand-in writes the wrapped bytes at both places itself.
"""

import mmap
import os
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.ringbuf import BUSY, DISCARD, RingBufReader

PAGE = mmap.PAGESIZE
SIZE = PAGE  # one data page
REC = 80
STRIDE = 88


def make_ring(records, start=0):
    """records: list of (header flags, payload byte); returns (fd, producer position)."""
    fd = os.memfd_create("tkt-ring")
    os.ftruncate(fd, 2 * PAGE + 2 * SIZE)
    data = bytearray(2 * SIZE)
    pos = start
    for flags, fill in records:
        rec = struct.pack("<II", REC | flags, 0) + bytes([fill]) * REC
        for i, byte in enumerate(rec):
            data[(pos + i) % SIZE] = byte
            data[SIZE + (pos + i) % SIZE] = byte
        pos += STRIDE
    os.pwrite(fd, struct.pack("<Q", start), 0)
    os.pwrite(fd, struct.pack("<Q", pos), PAGE)
    os.pwrite(fd, bytes(data), 2 * PAGE)
    return fd, pos


def consumer_pos(fd):
    return struct.unpack("<Q", os.pread(fd, 8, 0))[0]


def test_bulk_read_stops_at_busy_record_and_resumes():
    fd, _prod = make_ring([(0, 1), (0, 2), (BUSY, 3), (0, 4)])
    reader = RingBufReader(fd, SIZE, REC)
    chunks, count = reader.consume()
    assert count == 2 and b"".join(chunks)[8::STRIDE][:2] == b"\x01\x02"
    assert consumer_pos(fd) == 2 * STRIDE
    # the producer commits record 3: the reader continues from there
    os.pwrite(fd, struct.pack("<I", REC), 2 * PAGE + 2 * STRIDE)
    os.pwrite(fd, struct.pack("<I", REC), 2 * PAGE + SIZE + 2 * STRIDE)
    chunks, count = reader.consume()
    assert count == 2 and [c[8] for c in chunks] == [3]
    reader.close()
    os.close(fd)


def test_discarded_records_are_skipped_and_wrap_is_contiguous():
    start = SIZE - STRIDE  # the second record wraps around the end of the data area
    fd, prod = make_ring([(0, 7), (DISCARD, 8), (0, 9), (0, 10)], start=start)
    reader = RingBufReader(fd, SIZE, REC)
    chunks, count = reader.consume()
    data = b"".join(chunks)
    assert count == 3 and [data[i * STRIDE + 8] for i in range(3)] == [7, 9, 10]
    assert reader.skipped == 1 and consumer_pos(fd) == prod
    reader.close()
    os.close(fd)

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a BPF ring buffer map in bulk through mmap, without a Python call per record.

BCC's ``open_ring_buffer`` calls a Python function for every record, which caps a tracer near 50-100k
events/s. The kernel's ring buffer is memory the consumer can map (kernel/bpf/ringbuf.c): a consumer page
(read-write, holds ``consumer_pos``), then a producer page (``producer_pos``) followed by the data area mapped
twice in a row, so a record that wraps around is still contiguous. Each record has an 8-byte header (length
with BUSY and DISCARD bits, page offset) and is padded to 8 bytes.

When every record has the same size (the tracer's fixed 80-byte event), ``consume()`` copies all committed
records with one slice and returns them as one chunk; ``RECORD`` style structs with an 8-byte pad in front
then decode a chunk with ``struct.iter_unpack``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import mmap
import struct

BUSY = 1 << 31
DISCARD = 1 << 30
HDR = 8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class RingBufReader(object):
    """Bulk reader of one BPF ring buffer map of ``data_size`` bytes whose records are ``record_size`` bytes."""

    def __init__(self, map_fd, data_size, record_size):
        page = mmap.PAGESIZE
        if data_size % page or data_size & (data_size - 1):
            raise ValueError("ring buffer size %d is not a power-of-two number of pages" % data_size)
        self.size = data_size
        self.mask = data_size - 1
        self.record_size = record_size
        self.stride = (record_size + HDR + 7) & ~7
        self.page = page
        self._cons = mmap.mmap(map_fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._prod = mmap.mmap(map_fd, page + 2 * data_size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        self.skipped = 0

    def close(self):
        for region in (self._cons, self._prod):
            try:
                region.close()
            except (ValueError, OSError):
                pass

    def _clean_prefix(self, chunk, count):
        """How many records at the start of ``chunk`` are committed, not discarded, and of our size."""
        stride = self.stride
        flags = chunk[3::stride]
        sizes = chunk[0::stride]
        size = self.record_size & 0xff
        if max(flags) < 0x40 and sizes.count(size) == count:
            return count
        for index in range(count):
            if flags[index] >= 0x40 or sizes[index] != size:
                return index
        return count

    def consume(self, limit=None):
        """Return a list of chunks (bytes); each chunk holds whole records of ``stride`` bytes, header first.

        Stops at the first record still being written (BUSY), at ``limit`` records, or when the ring is empty.
        Discarded records and records of another size are skipped (and counted in ``skipped``). Committed
        records before a busy one are taken in one slice, so a busy record never makes the copy quadratic.
        """
        cons = _U64.unpack_from(self._cons, 0)[0]
        prod = _U64.unpack_from(self._prod, 0)[0]
        chunks = []
        taken = 0
        base = self.page
        stride = self.stride
        while cons < prod and (limit is None or taken < limit):
            avail = min(prod - cons, self.size)
            count = avail // stride
            if limit is not None:
                count = min(count, limit - taken)
            if count:
                off = base + (cons & self.mask)
                chunk = self._prod[off:off + count * stride]
                good = self._clean_prefix(chunk, count)
                if good:
                    chunks.append(chunk if good == count else chunk[:good * stride])
                    taken += good
                    cons += good * stride
                    continue
            # slow path: one record at a time, up to the first busy one
            off = base + (cons & self.mask)
            header = _U32.unpack_from(self._prod, off)[0]
            if header & BUSY:
                break
            length = header & ~(BUSY | DISCARD)
            total = (length + HDR + 7) & ~7
            if not header & DISCARD and length == self.record_size:
                chunks.append(self._prod[off:off + stride])
                taken += 1
            else:
                self.skipped += 1
            cons += total
        _U64.pack_into(self._cons, 0, cons)
        return chunks, taken

"""Collecting processes: UDP, TCP and TLS listeners feeding one decoder.

Templates live in the decoder per exporter session and observation domain. A UDP exporter is its address and
port; a TCP/TLS exporter is its connection, so a reconnect (an exporter restart) starts with fresh templates
and sequence numbers, as RFC 7011 says. Malformed input is counted and logged (at most once per exporter per
interval), never fatal: a TCP/TLS stream that cannot be framed any more is closed, others carry on.
"""

import asyncio
import collections
import logging
import socket
import ssl
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder, frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixDecodeError

LOG = logging.getLogger("flow_aggregator.collector")
MAX_STREAM_BUFFER = 1 << 20
LOG_EVERY = 10.0
TLS_HANDSHAKE_TIMEOUT = 10.0
UDP_RCVBUF = 32 << 20
UDP_BATCH = 64


class Exporters:
    """Per-exporter counters, bounded in how many exporters get their own series."""

    FIELDS = ("received", "decoded", "rejected", "lost")

    def __init__(self, max_exporters):
        self.max_exporters = max_exporters
        self.by_exporter = {}
        self.totals = collections.Counter()
        self.last_log = {}

    def get(self, label):
        counters = self.by_exporter.get(label)
        if counters is None:
            if len(self.by_exporter) >= self.max_exporters:
                label = "other"
                counters = self.by_exporter.get(label)
            if counters is None:
                counters = self.by_exporter[label] = collections.Counter()
        return counters

    def add(self, label, field, count=1):
        if count:
            self.get(label)[field] += count
            self.totals[field] += count

    def should_log(self, label):
        now = time.monotonic()
        if now - self.last_log.get(label, -LOG_EVERY) >= LOG_EVERY:
            if len(self.last_log) > 4 * self.max_exporters:
                self.last_log.clear()
            self.last_log[label] = now
            return True
        return False


class Collector:
    """Decode messages from every listener and hand the records to ``on_records(records, ip, domain)``."""

    def __init__(self, on_records, max_exporters=1024):
        self.on_records = on_records
        self.decoder = Decoder()
        self.exporters = Exporters(max_exporters)
        self.servers = []
        self.udp_sockets = []
        self.last_message = 0.0  # time.monotonic() of the last message received
        self.tls_refused = 0
        self._conn_serial = 0

    def message(self, data, source, label, peer_ip):
        """Decode one IPFIX message from ``source``; True if it could be framed."""
        self.last_message = time.monotonic()
        ex = self.exporters
        ex.add(label, "received")
        try:
            result = self.decoder.decode(data, source)
        except IpfixDecodeError as exc:
            ex.add(label, "rejected")
            if ex.should_log(label):
                LOG.warning("malformed IPFIX message from %s: %s (counted in rejected)", label, exc)
            return False
        if result.rejected:
            ex.add(label, "rejected", len(result.rejected))
            if ex.should_log(label):
                LOG.warning("from %s: %s (counted in rejected)", label, "; ".join(result.rejected[:3]))
        if result.missing:
            ex.add(label, "lost", result.missing)
        if result.records:
            ex.add(label, "decoded", len(result.records))
            self.on_records(result.records, peer_ip, result.observation_domain_id, label)
        return True

    # ---- UDP
    async def start_udp(self, host, port):
        """Read datagrams straight from a non-blocking socket, up to ``UDP_BATCH`` per wakeup of the event
        loop: one poll for many datagrams instead of one each (asyncio's datagram transport reads one)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        # A large receive buffer absorbs bursts while a message is being decoded; root may exceed rmem_max.
        try:
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), UDP_RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
        sock.bind((host, port))
        sock.setblocking(False)
        sources = {}  # address -> (decoder source, label), bounded
        recvfrom = sock.recvfrom
        message = self.message

        def readable():
            for _count in range(UDP_BATCH):  # bounded: the other listeners and the ticker get their turn
                try:
                    data, addr = recvfrom(65535)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:  # e.g. an ICMP error queued on the socket
                    LOG.warning("UDP listener %s:%d: %s", host, port, exc)
                    return
                known = sources.get(addr)
                if known is None:
                    if len(sources) >= 4 * self.exporters.max_exporters:
                        sources.clear()
                    known = sources[addr] = (("udp", addr[0], addr[1]), "udp:%s:%d" % (addr[0], addr[1]))
                message(data, known[0], known[1], addr[0])

        loop.add_reader(sock.fileno(), readable)
        self.udp_sockets.append((loop, sock))
        return sock.getsockname()

    # ---- TCP and TLS
    async def start_stream(self, host, port, ssl_context=None):
        kind = "tls" if ssl_context else "tcp"

        async def handle(reader, writer):
            peer = writer.get_extra_info("peername") or ("?", 0)
            self._conn_serial += 1
            source = (kind, peer[0], peer[1], self._conn_serial)
            label = "%s:%s:%d" % (kind, peer[0], peer[1])
            buffer = b""
            try:
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        break
                    buffer += chunk
                    try:
                        messages, buffer = frame_stream(buffer)
                    except IpfixDecodeError as exc:
                        self.exporters.add(label, "rejected")
                        LOG.warning("closing %s: its stream cannot be framed (%s)", label, exc)
                        break
                    for data in messages:
                        self.message(data, source, label, peer[0])
                    if len(buffer) > MAX_STREAM_BUFFER:
                        self.exporters.add(label, "rejected")
                        LOG.warning("closing %s: a message claims more than %d bytes", label, MAX_STREAM_BUFFER)
                        break
            except (ConnectionError, ssl.SSLError, OSError) as exc:
                LOG.info("%s: connection ended: %s", label, exc)
            finally:
                self.decoder.forget(source)
                writer.close()

        server = await asyncio.start_server(handle, host, port, ssl=ssl_context, reuse_address=True,
                                            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if ssl_context else None)
        self.servers.append(server)
        return server.sockets[0].getsockname()

    def tls_context(self, listener):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(listener["certificate"], listener["key"])
        if listener["client_auth"] != "none":
            ctx.load_verify_locations(listener["ca"])
            ctx.verify_mode = ssl.CERT_REQUIRED if listener["client_auth"] == "required" else ssl.CERT_OPTIONAL
        collector = self

        class CountingSSLObject(ssl.SSLObject):
            """asyncio does the handshake and hides its failure: count and log it here."""

            def do_handshake(self):
                try:
                    return super().do_handshake()
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    raise
                except ssl.SSLError as exc:
                    collector.tls_refused += 1
                    LOG.warning("refused a TLS connection on %s:%d: %s", listener["host"], listener["port"],
                                exc.reason or exc)
                    raise

        ctx.sslobject_class = CountingSSLObject
        return ctx

    async def start(self, listeners):
        bound = []
        for listener in listeners:
            if listener["transport"] == "udp":
                addr = await self.start_udp(listener["host"], listener["port"])
            else:
                ctx = self.tls_context(listener) if listener["transport"] == "tls" else None
                addr = await self.start_stream(listener["host"], listener["port"], ctx)
            bound.append((listener["transport"], addr[0], addr[1]))
            LOG.info("collecting IPFIX over %s on %s:%d", listener["transport"], addr[0], addr[1])
        return bound

    def close(self):
        for loop, sock in self.udp_sockets:
            loop.remove_reader(sock.fileno())
            sock.close()
        self.udp_sockets = []
        for server in self.servers:
            server.close()

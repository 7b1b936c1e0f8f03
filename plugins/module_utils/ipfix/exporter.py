# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send flow records to an IPFIX collector over UDP, TCP or TLS (RFC 7011 section 10).

* UDP: templates go with the first records that use them and again every ``template_refresh`` seconds
  (RFC 7011 8.4: a UDP collector that restarted, or missed a datagram, learns them again). A collector
  that is not listening cannot be detected reliably over UDP: send errors (ICMP port unreachable seen as
  ECONNREFUSED) are counted in ``counters["errors"]``, never raised.
* TCP and TLS: one connection is one transport session; templates are sent on every new connection,
  and the sequence number starts again at 0. The connection is opened when the exporter is created, so a
  collector that cannot be reached fails at once with ``IpfixError`` naming it. A connection that breaks
  while sending is opened again once and the records are sent again (a collector may then see some of
  them twice); a second failure raises ``IpfixError``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import ssl

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError

IPFIX_PORT = 4739
TRANSPORTS = ("udp", "tcp", "tls")
# UDP: stay under a common path MTU; TCP/TLS: larger messages, fewer headers.
DEFAULT_MESSAGE_SIZE = {"udp": 1400, "tcp": 16384, "tls": 16384}


def parse_collector(collector):
    """``"host:port"``, ``"[v6]:port"`` or ``"host"`` (port 4739) -> ``(host, port)``; ``IpfixError`` if bad."""
    if not isinstance(collector, str) or not collector.strip():
        raise IpfixError("collector %r is not host:port" % (collector,))
    text = collector.strip()
    port = IPFIX_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise IpfixError("collector %r is not [IPv6 address]:port" % collector)
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif ":" in text:
        raise IpfixError("collector %r: write an IPv6 address in brackets, [%s]:%d" % (collector, text, IPFIX_PORT))
    else:
        host, port_text = text, ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise IpfixError("collector %r: port %r is not 1 to 65535" % (collector, port_text))
        port = int(port_text)
    if not host:
        raise IpfixError("collector %r has no host" % collector)
    return host, port


class IpfixExporter:
    """An IPFIX exporting process for one collector; ``export(records)``, ``close()``, ``counters``."""

    def __init__(self, collector, transport="udp", observation_domain_id=0, ca=None, certificate=None, key=None,
                 template_refresh=600, timeout=5, max_message_size=None, server_name=None):
        if transport not in TRANSPORTS:
            raise IpfixError("transport %r is not one of %s" % (transport, ", ".join(TRANSPORTS)))
        self.host, self.port = parse_collector(collector)
        self.collector = collector
        self.transport = transport
        self.observation_domain_id = observation_domain_id
        self.template_refresh = template_refresh
        self.timeout = timeout
        self.max_message_size = max_message_size or DEFAULT_MESSAGE_SIZE[transport]
        # the name the collector's TLS certificate must carry (default: the host as written in collector)
        self.server_name = server_name or self.host
        self.counters = {"messages": 0, "records": 0, "templates": 0, "bytes": 0, "errors": 0}
        self._tls = self._tls_context(ca, certificate, key) if transport == "tls" else None
        self._sock = None
        self._encoder = None
        self._connect()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _describe(self):
        return "IPFIX collector %s:%d over %s" % (self.host, self.port, self.transport)

    def _tls_context(self, ca, certificate, key):
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
            if certificate:
                context.load_cert_chain(certificate, key)
            elif key:
                raise IpfixError("a TLS key needs its certificate")
        except (OSError, ssl.SSLError) as exc:
            raise IpfixError("TLS setup for %s: %s (check ca, certificate and key)" % (self.collector, exc))
        return context

    def _new_encoder(self):
        refresh = self.template_refresh if self.transport == "udp" else None
        self._encoder = MessageEncoder(self.observation_domain_id, self.max_message_size, template_refresh=refresh)

    def _connect(self):
        self._new_encoder()
        try:
            infos = socket.getaddrinfo(self.host, self.port, 0,
                                       socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise IpfixError("cannot resolve %s: %s" % (self._describe(), exc))
        last = None
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(address)
                if self._tls is not None:
                    sock = self._tls.wrap_socket(sock, server_hostname=self.server_name)
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                last = exc
                continue
            self._sock = sock
            return
        raise IpfixError("cannot connect to %s: %s" % (self._describe(), last))

    def _send(self, messages):
        sock = self._sock
        for message in messages:
            if self.transport == "udp":
                try:
                    sock.send(message)
                except OSError:
                    self.counters["errors"] += 1
                    continue
            else:
                sock.sendall(message)
            self.counters["messages"] += 1
            self.counters["bytes"] += len(message)

    def export(self, records):
        """Encode and send ``records`` (dicts keyed by element names); returns the number of messages sent."""
        if self._sock is None:
            raise IpfixError("the exporter to %s is closed" % self._describe())
        records = list(records)
        encoder = self._encoder
        templates_before = encoder.templates_sent
        messages = encoder.encode(records)
        try:
            self._send(messages)
        except (OSError, ssl.SSLError) as first:
            self.counters["errors"] += 1
            self._close_socket()
            try:
                self._connect()
                encoder = self._encoder
                templates_before = 0
                messages = encoder.encode(records)
                self._send(messages)
            except (OSError, ssl.SSLError) as exc:
                self.counters["errors"] += 1
                self._close_socket()
                raise IpfixError("sending to %s failed (%s), and again after reconnecting (%s)"
                                 % (self._describe(), first, exc))
        self.counters["records"] += len(records)
        self.counters["templates"] += encoder.templates_sent - templates_before
        return len(messages)

    def _close_socket(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None

    def close(self):
        """Close the connection (TCP/TLS) or socket (UDP). Safe to call twice."""
        self._close_socket()

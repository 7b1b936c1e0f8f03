# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encode flow records (dicts keyed by element names) as IPFIX messages (RFC 7011).

``MessageEncoder`` keeps the state of one transport session and observation domain: the templates it has
announced and the sequence number (the count of data records sent before each message, modulo 2**32).
Each distinct set of keys gets a template, created on first use and announced in the first message that
carries its records (template set first, then the data). Template fields are ordered fixed-length first,
then variable-length, each group in the order of the record's keys: one precompiled ``struct`` packs all
fixed fields of a record at once. Records of one call are grouped by template (their order within a
template is kept) and split over as many messages as ``max_message_size`` needs.

For UDP, give ``template_refresh`` (seconds): once that long has passed since the templates were last
sent, ``encode()`` sends them all again before the data (RFC 7011 section 8.4). TCP and TLS send them on
each new connection instead (``template_messages()``, see ``exporter.py``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import _fields
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError

VERSION = 10
MESSAGE_HEADER = struct.Struct("!HHIII")
SET_HEADER = struct.Struct("!HH")
TEMPLATE_SET_ID = 2
OPTIONS_TEMPLATE_SET_ID = 3
FIRST_TEMPLATE_ID = 256
MAX_MESSAGE_SIZE = 65535
_HEADERS = MESSAGE_HEADER.size + SET_HEADER.size


class _Template:
    """One template we announce: its id, fields, wire definition and compiled record encoder."""

    __slots__ = ("template_id", "elements", "scope_count", "definition", "encode_record", "announced")

    def __init__(self, template_id, elements, scope_count=0):
        self.template_id = template_id
        self.elements = elements
        self.scope_count = scope_count
        self.definition = _definition(template_id, elements, scope_count)
        self.encode_record = _compile_encoder(elements)
        self.announced = False


def _definition(template_id, elements, scope_count):
    """The template record (RFC 7011 3.4.1 and 3.4.2) for these elements."""
    if scope_count:
        parts = [struct.pack("!HHH", template_id, len(elements), scope_count)]
    else:
        parts = [SET_HEADER.pack(template_id, len(elements))]
    for element in elements:
        if element.enterprise:
            parts.append(struct.pack("!HHI", element.element_id | 0x8000, element.length, element.enterprise))
        else:
            parts.append(SET_HEADER.pack(element.element_id, element.length))
    return b"".join(parts)


def _compile_encoder(elements):
    """Generate ``encode(record) -> bytes`` for one template: one struct for the fixed fields, then the rest."""
    codes = []
    fixed = []
    variable = []
    for element in elements:
        key = "r[%r]" % element.name
        if element.length == registry.VARIABLE_LENGTH:
            variable.append("ES[%s]" % key if element.data_type == "string" else "EB(%s)" % key)
        else:
            code, expression = _fields.encode_plan(element.data_type)
            codes.append(code)
            fixed.append(expression.format(v=key))
    namespace = dict(_fields.ENCODE_GLOBALS)
    parts = []
    if fixed:
        namespace["PACK"] = struct.Struct("!" + "".join(codes)).pack
        parts.append("PACK(%s)" % ", ".join(fixed))
    parts.extend(variable)
    if len(parts) == 1:
        body = parts[0]
    else:
        body = "b''.join((%s))" % ", ".join(parts)
    source = "def encode_record(r):\n    return %s\n" % body
    exec(compile(source, "<ipfix template encoder>", "exec"), namespace)
    return namespace["encode_record"]


def _explain(elements, record):
    """Why ``record`` cannot be encoded, field by field (the slow path after the compiled encoder failed)."""
    for element in elements:
        value = record.get(element.name)
        try:
            _fields.encode_value(element.data_type, value)
        except (TypeError, ValueError, OSError, KeyError, struct.error, AttributeError) as exc:
            return "%s=%r is not a valid %s (%s)" % (element.name, value, element.data_type, exc)
    return "unexpected value"


class MessageEncoder:
    """IPFIX messages for one session and observation domain.

    ``encode(records, export_time=None)`` -> list of messages (bytes), ``template_messages()`` -> every
    current template again, ``withdraw_all()`` -> a message withdrawing every template (TCP/TLS only, RFC
    7011 8.1), ``encode_options(records, scope)`` for options records. Raises ``IpfixError`` for a record it
    cannot encode (unknown element name, value of the wrong type or out of range, record too large).
    """

    def __init__(self, observation_domain_id=0, max_message_size=1400, template_refresh=None):
        if not 0 <= observation_domain_id <= 0xFFFFFFFF:
            raise IpfixError("observation_domain_id %r is not an unsigned 32-bit number" % (observation_domain_id,))
        if not 64 <= max_message_size <= MAX_MESSAGE_SIZE:
            raise IpfixError("max_message_size %r must be 64 to 65535 octets" % (max_message_size,))
        self.observation_domain_id = observation_domain_id
        self.max_message_size = max_message_size
        self.template_refresh = template_refresh
        self.sequence = 0
        self.records_sent = 0
        self.templates_sent = 0
        self._templates = {}  # ordered key tuple (or (scope, keys)) -> _Template
        self._by_field_set = {}  # frozenset of keys (+ scope) -> _Template
        self._next_id = FIRST_TEMPLATE_ID
        self._refreshed_at = None  # when every template was last sent

    # -- templates --

    def _template_for(self, keys, scope_count=0):
        field_set = (frozenset(keys), tuple(keys[:scope_count]))
        template = self._by_field_set.get(field_set)
        if template is None:
            elements = [registry.by_name(name) for name in keys]
            if scope_count:
                ordered = elements  # scope fields must come first, in their order
            else:
                ordered = ([e for e in elements if e.length != registry.VARIABLE_LENGTH]
                           + [e for e in elements if e.length == registry.VARIABLE_LENGTH])
            if self._next_id > 0xFFFF:
                raise IpfixError("more than %d templates in one session" % (0xFFFF - FIRST_TEMPLATE_ID + 1))
            template = _Template(self._next_id, tuple(ordered), scope_count)
            if len(template.definition) + _HEADERS > self.max_message_size:
                raise IpfixError("a template of %d fields does not fit max_message_size %d"
                                 % (len(ordered), self.max_message_size))
            self._next_id += 1
            self._by_field_set[field_set] = template
        self._templates[(scope_count, keys)] = template
        return template

    def templates_due(self):
        """True when ``template_refresh`` seconds have passed since the templates were last sent."""
        if not self.template_refresh or self._refreshed_at is None:
            return False
        return time.time() - self._refreshed_at >= self.template_refresh

    def template_messages(self, export_time=None):
        """Messages announcing every current template (on a new TCP/TLS connection, or a UDP refresh)."""
        builder = _Builder(self, export_time)
        for template in self._by_field_set.values():
            builder.add_template(template)
        self._refreshed_at = time.time()
        return builder.finish()

    def withdraw_all(self, export_time=None):
        """A message withdrawing all templates (RFC 7011 8.1); the encoder forgets them, ids restart at 256."""
        # An all-templates withdrawal in each set kind: template id 2 resp. 3 with a field count of 0.
        body = (SET_HEADER.pack(TEMPLATE_SET_ID, 8) + SET_HEADER.pack(TEMPLATE_SET_ID, 0)
                + SET_HEADER.pack(OPTIONS_TEMPLATE_SET_ID, 8) + SET_HEADER.pack(OPTIONS_TEMPLATE_SET_ID, 0))
        self._templates.clear()
        self._by_field_set.clear()
        self._next_id = FIRST_TEMPLATE_ID
        self._refreshed_at = None
        return [_header(self, len(body) + MESSAGE_HEADER.size, export_time) + body]

    # -- data --

    def encode(self, records, export_time=None):
        """Messages carrying ``records`` (dicts keyed by element names), templates first where needed."""
        return self._encode(records, export_time, 0)

    def encode_options(self, records, scope, export_time=None):
        """Messages carrying options records; ``scope`` names their scope fields (announced first)."""
        scope = tuple(scope)
        if not scope:
            raise IpfixError("an options template needs at least one scope field")
        ordered = []
        for record in records:
            missing = [name for name in scope if name not in record]
            if missing:
                raise IpfixError("options record lacks its scope field(s) %s" % ", ".join(missing))
            ordered.append(dict([(name, record[name]) for name in scope]
                                + [(k, v) for k, v in record.items() if k not in scope]))
        return self._encode(ordered, export_time, len(scope))

    def _encode(self, records, export_time, scope_count):
        # Everything that can fail happens before the first set is built, so a bad record leaves the
        # encoder as it was: no template marked as sent that never was, no sequence numbers skipped.
        records = list(records)
        groups = {}
        templates = self._templates
        for record in records:
            try:
                keys = tuple(record)
            except TypeError:
                raise IpfixError("a flow record must be a dict of element names, not %r" % (record,))
            template = templates.get((scope_count, keys))
            if template is None:
                if not keys:
                    raise IpfixError("an empty record cannot be encoded")
                template = self._template_for(keys, scope_count)
            group = groups.get(template)
            if group is None:
                group = groups[template] = []
            group.append(record)
        room = self.max_message_size - _HEADERS
        encoded_groups = []
        for template, group in groups.items():
            encode_record = template.encode_record
            try:
                encoded = [encode_record(record) for record in group]
            except Exception:  # pylint: disable=broad-except  # the slow path says which field was wrong
                for record in group:
                    try:
                        encode_record(record)
                    except Exception:  # pylint: disable=broad-except
                        raise IpfixError("flow record %d cannot be encoded: %s"
                                         % (_position(records, record), _explain(template.elements, record)))
                raise
            for record, item in zip(group, encoded):
                if len(item) > room:
                    raise IpfixError("flow record %d is %d octets: it does not fit max_message_size %d"
                                     % (_position(records, record), len(item), self.max_message_size))
            encoded_groups.append((template, encoded))
        builder = _Builder(self, export_time)
        if self.templates_due():
            for template in self._by_field_set.values():
                builder.add_template(template)
            self._refreshed_at = time.time()
        for template, encoded in encoded_groups:
            if not template.announced:
                builder.add_template(template)
            builder.add_records(template, encoded)
        return builder.finish()


def _position(records, record):
    for index, candidate in enumerate(records):
        if candidate is record:
            return index
    return -1


def _header(encoder, length, export_time):
    now = int(time.time()) if export_time is None else int(export_time)
    return MESSAGE_HEADER.pack(VERSION, length, now & 0xFFFFFFFF, encoder.sequence, encoder.observation_domain_id)


class _Builder:
    """Packs sets into messages under the size limit and advances the encoder's sequence number."""

    def __init__(self, encoder, export_time):
        self.encoder = encoder
        self.export_time = export_time
        self.limit = encoder.max_message_size
        self.messages = []
        self.parts = []
        self.size = MESSAGE_HEADER.size
        self.records = 0
        self.set_id = None
        self.set_parts = []
        self.set_size = 0

    def _close_set(self):
        if self.set_id is not None:
            self.parts.append(SET_HEADER.pack(self.set_id, self.set_size))
            self.parts.extend(self.set_parts)
            self.set_id = None
            self.set_parts = []

    def _flush(self):
        self._close_set()
        if not self.parts:
            return
        encoder = self.encoder
        self.messages.append(_header(encoder, self.size, self.export_time) + b"".join(self.parts))
        encoder.sequence = (encoder.sequence + self.records) & 0xFFFFFFFF
        encoder.records_sent += self.records
        self.parts = []
        self.size = MESSAGE_HEADER.size
        self.records = 0

    def add_template(self, template):
        set_id = OPTIONS_TEMPLATE_SET_ID if template.scope_count else TEMPLATE_SET_ID
        self._open(set_id, len(template.definition))
        self.set_parts.append(template.definition)
        self.set_size += len(template.definition)
        self.size += len(template.definition)
        template.announced = True
        self.encoder.templates_sent += 1
        if self.encoder._refreshed_at is None:  # pylint: disable=protected-access
            self.encoder._refreshed_at = time.time()  # pylint: disable=protected-access

    def _open(self, set_id, first_length):
        """Make ``set_id`` the open set, in a new message if ``first_length`` more octets do not fit."""
        if self.set_id == set_id:
            if self.size + first_length <= self.limit:
                return
            self._flush()
        else:
            self._close_set()
            if self.size + SET_HEADER.size + first_length > self.limit:
                self._flush()
        self.set_id = set_id
        self.set_size = SET_HEADER.size
        self.size += SET_HEADER.size

    def add_records(self, template, encoded):
        """Data records (each known to fit a message) in sets of ``template``."""
        lengths = [len(item) for item in encoded]
        set_id = template.template_id
        limit = self.limit
        start = 0
        count = len(encoded)
        while start < count:
            self._open(set_id, lengths[start])
            size = self.size
            end = start
            while end < count and size + lengths[end] <= limit:
                size += lengths[end]
                end += 1
            self.set_parts.extend(encoded[start:end])
            self.set_size += size - self.size
            self.size = size
            self.records += end - start
            start = end

    def finish(self):
        self._flush()
        return self.messages

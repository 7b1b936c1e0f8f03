# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode IPFIX messages (RFC 7011) from the network into flow records.

The decoder faces exporters it does not control, so it:

* never trusts a length: every set and field is checked against the end of its message or set, and a set
  that cannot be framed ends the message (what was decoded before it is kept);
* never loops without consuming input, and rejects templates whose records would take no octets;
* keeps bounded state: templates per (exporter session, observation domain), at most
  ``max_templates_per_source`` templates and ``max_fields_per_source`` template fields per session, at
  most ``max_sources`` sessions and ``max_fields`` template fields in all (the least recently heard
  sessions are forgotten first); a template field costs about 300 bytes at worst (unknown elements), so
  the defaults bound templates to about 80 MB;
* says what it dropped and why, in ``DecodeResult.rejected`` (at most ``max_reasons`` reasons per message,
  then a count), and raises ``IpfixDecodeError`` only for bytes that cannot be framed as a message at all.

Each template is compiled, on its first data set, into one function decoding a whole set (one precompiled
``struct`` per run of fixed-length fields). When that function fails (a truncated record, invalid UTF-8...),
the set is decoded again field by field to keep every good record and name the bad field.

Reduced-size encoding (RFC 7011 6.2: an unsigned64 sent in 4 octets, a float64 in 4) is decoded to the
same values. Unknown elements are kept as bytes under ``e<enterprise>id<id>`` (``id<id>`` for IANA).
Options records (from options templates) are returned apart, in ``options_records``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import _fields
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixDecodeError

VERSION = 10
MESSAGE_HEADER = struct.Struct("!HHIII")
_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
_I = struct.Struct("!I")
TEMPLATE_SET_ID = 2
OPTIONS_TEMPLATE_SET_ID = 3
VARIABLE = registry.VARIABLE_LENGTH
# Templates with more fields than this are decoded field by field instead of through generated code, so a
# hostile template cannot make us compile a function of thousands of statements.
MAX_COMPILED_FIELDS = 256


class _Truncated(Exception):
    pass


class _LongLength(Exception):
    pass


_FAILURES = (_Truncated, _LongLength, IndexError, struct.error, UnicodeDecodeError, ValueError, TypeError)


class DecodeResult:
    """What one message held: ``records`` and ``options_records`` (lists of dicts), ``export_time``,
    ``sequence``, ``observation_domain_id``, ``template_ids`` (defined in this message), ``withdrawn``
    (template ids withdrawn), ``rejected`` (reasons for what was dropped), ``missing`` (data records the
    sequence numbers say we did not get since the previous message of this session and domain)."""

    __slots__ = ("records", "options_records", "export_time", "sequence", "observation_domain_id",
                 "template_ids", "withdrawn", "rejected", "missing", "_max_reasons", "_more")

    def __init__(self, export_time, sequence, observation_domain_id, max_reasons):
        self.records = []
        self.options_records = []
        self.export_time = export_time
        self.sequence = sequence
        self.observation_domain_id = observation_domain_id
        self.template_ids = []
        self.withdrawn = []
        self.rejected = []
        self.missing = 0
        self._max_reasons = max_reasons
        self._more = 0

    def reject(self, reason):
        if len(self.rejected) < self._max_reasons:
            self.rejected.append(reason)
        else:
            self._more += 1

    def _finish(self):
        if self._more:
            self.rejected.append("... and %d more rejections in this message" % self._more)
            self._more = 0

    def as_dict(self):
        return dict((name, getattr(self, name)) for name in self.__slots__ if not name.startswith("_"))


class _Template:
    __slots__ = ("template_id", "fields", "scope_count", "min_length", "decode_set", "decode_set_checked")

    def __init__(self, template_id, fields, scope_count):
        self.template_id = template_id
        self.fields = fields  # tuple of (Element, length)
        self.scope_count = scope_count
        self.min_length = sum(1 if length == VARIABLE else length for _element, length in fields)
        self.decode_set = None
        self.decode_set_checked = None


class _Session:
    __slots__ = ("templates", "field_count", "expected")

    def __init__(self):
        self.templates = {}  # (domain, template id) -> _Template
        self.field_count = 0
        self.expected = collections.OrderedDict()  # domain -> next expected sequence number


def _compile(template, short_strings=True):
    """Generate ``decode_set(buf, out)`` appending every record of a data set body to ``out``.

    Each run of fixed-length fields is one precompiled ``struct``; the record dict is a copy of a dict that
    already has every key (no resizing), filled one field at a time as the fields are read.

    With ``short_strings``, runs of string fields are read as if every length took one octet, then the run
    is checked for an 0xff octet: valid UTF-8 never contains one, so there is none unless a length was
    written in three octets (0xff then 16 bits) or a string is not UTF-8. Then ``_LongLength`` is raised and
    the set is decoded again by the ``short_strings=False`` variant, which checks every length.
    """
    namespace = dict(_fields.DECODE_GLOBALS)
    namespace.update(TRUNC=_Truncated, LONG=_LongLength, DV=_fields.decode_value)
    lines = []
    fixed = []  # the current run of fixed fields: (name, struct code, expression template)
    runs = []
    in_strings = [False]

    def close_fixed():
        if not fixed:
            return
        run = len(runs)
        fmt = struct.Struct("!" + "".join(code for _name, code, _expression in fixed))
        runs.append(fmt)
        namespace["S%d" % run] = fmt.unpack_from
        # unpack straight into the record, or into a local for the fields that need converting
        targets = []
        conversions = []
        for position, (name, _code, expression) in enumerate(fixed):
            if expression == "{v}":
                targets.append("r[%r]" % name)
            else:
                targets.append("v%d_%d" % (run, position))
                conversions.append("r[%r] = %s" % (name, expression.format(v=targets[-1])))
        lines.append("%s, = S%d(buf, off)" % (", ".join(targets), run))
        lines.append("off += %d" % fmt.size)
        lines.extend(conversions)
        del fixed[:]

    def close_strings():
        if in_strings[0]:
            lines.append("if 255 in buf[rs:off]:")
            lines.append("    raise LONG()")
            in_strings[0] = False

    for element, length in template.fields:
        if length != VARIABLE:
            close_strings()
            code, expression = _fields.decode_plan(element.data_type, length)
            fixed.append((element.name, code, expression))
            continue
        close_fixed()
        if short_strings and element.data_type == "string":
            if not in_strings[0]:
                lines.append("rs = off")
                in_strings[0] = True
            lines.extend([
                "s = off + 1",
                "off = s + buf[off]",
                "r[%r] = buf[s:off].decode()" % element.name,
            ])
            continue
        close_strings()
        lines.extend([
            "n = buf[off]",
            "if n == 255:",
            "    n = U16(buf, off + 1)[0]",
            "    off += 2",
            "s = off + 1",
            "off = s + n",
        ])
        if element.data_type == "string":
            lines.append("r[%r] = buf[s:off].decode()" % element.name)
        elif element.data_type in _fields.VARIABLE_TYPES:
            lines.append("r[%r] = buf[s:off]" % element.name)
        else:
            lines.append("r[%r] = DV(%r, buf[s:off], True)" % (element.name, element.data_type))
    close_strings()
    all_fixed = not lines
    close_fixed()
    namespace["BLANK"] = dict.fromkeys(element.name for element, _length in template.fields)
    source = ["def decode_set(buf, out):", "    append = out.append"]
    if all_fixed:
        size = runs[0].size
        namespace["ITER"] = runs[0].iter_unpack
        lines[0] = lines[0].replace("S0(buf, off)", "t")
        del lines[1]  # no offset to advance
        source.append("    for t in ITER(buf[:len(buf) // %d * %d]):" % (size, size))
        source.append("        r = BLANK.copy()")
    else:
        source += ["    end = len(buf)", "    off = 0", "    while end - off >= %d:" % template.min_length,
                   "        r = BLANK.copy()"]
    source += ["        " + line for line in lines]
    if not all_fixed:
        source += ["        if off > end:", "            raise TRUNC()"]
    source.append("        append(r)")
    exec(compile("\n".join(source) + "\n", "<ipfix template %d decoder>" % template.template_id, "exec"),
         namespace)
    return namespace["decode_set"]


def _decode_slowly(template, buf, out, result):
    """Decode a data set field by field: keep good records, name the bad field, stop where framing is lost."""
    end = len(buf)
    offset = 0
    index = 0
    what = "data set of template %d" % template.template_id
    while end - offset >= template.min_length:
        record = {}
        problem = None
        for element, length in template.fields:
            variable = length == VARIABLE
            if variable:
                if offset >= end:
                    length = end - offset + 1
                else:
                    length = buf[offset]
                    offset += 1
                    if length == 255:
                        if end - offset < 2:
                            length = end - offset + 1
                        else:
                            length = _H.unpack_from(buf, offset)[0]
                            offset += 2
            if end - offset < length:
                result.reject("%s: record %d truncated (%s needs %d octets, %d left): rest of the set dropped"
                              % (what, index, element.name, length, end - offset))
                return
            raw = buf[offset:offset + length]
            offset += length
            if problem is None:
                try:
                    record[element.name] = _fields.decode_value(element.data_type, raw, variable)
                except (ValueError, IndexError, struct.error) as exc:
                    problem = "%s: %s" % (element.name, exc)
        if problem:
            result.reject("%s: record %d dropped, %s" % (what, index, problem))
        else:
            out.append(record)
        index += 1


def frame_stream(buffer):
    """Split a TCP/TLS byte stream into whole messages: ``(messages, rest)``.

    ``rest`` is the start of a message still arriving. Raises ``IpfixDecodeError`` when the stream is out
    of step (a header that is not IPFIX version 10, or a length under 16): the connection must be closed.
    """
    messages = []
    offset = 0
    size = len(buffer)
    while size - offset >= MESSAGE_HEADER.size:
        version, length = _HH.unpack_from(buffer, offset)
        if version != VERSION:
            raise IpfixDecodeError("stream out of step at offset %d: version %d is not IPFIX (10)" % (offset, version))
        if length < MESSAGE_HEADER.size:
            raise IpfixDecodeError("stream out of step at offset %d: message length %d is under 16" % (offset, length))
        if size - offset < length:
            break
        messages.append(bytes(buffer[offset:offset + length]))
        offset += length
    return messages, bytes(buffer[offset:])


class Decoder:
    """Decode messages of many exporters; templates are kept per (``source``, observation domain).

    ``source`` is any hashable naming one exporter session, e.g. ``("udp", "10.0.0.1", 4739)`` or, for TCP,
    one value per connection (a new connection starts with no templates, as RFC 7011 8 says).
    """

    def __init__(self, max_templates_per_source=256, max_sources=1024, max_fields_per_source=4096,
                 max_reasons=20, max_domains_per_source=64, max_fields=262144):
        self.max_templates_per_source = max_templates_per_source
        self.max_sources = max_sources
        self.max_fields_per_source = max_fields_per_source
        self.max_fields = max_fields
        self._field_total = 0
        self.max_reasons = max_reasons
        self.max_domains_per_source = max_domains_per_source
        self._sources = collections.OrderedDict()

    frame_stream = staticmethod(frame_stream)

    def forget(self, source):
        """Drop the templates and sequence state of ``source`` (e.g. its TCP connection closed)."""
        session = self._sources.pop(source, None)
        if session is not None:
            self._field_total -= session.field_count

    def sources(self):
        return list(self._sources)

    def templates(self, source):
        """``{(domain, template id): [element names]}`` known for ``source`` (for diagnostics and tests)."""
        session = self._sources.get(source)
        if session is None:
            return {}
        return dict((key, [element.name for element, _length in template.fields])
                    for key, template in session.templates.items())

    def _session(self, source, result):
        session = self._sources.get(source)
        if session is None:
            if len(self._sources) >= self.max_sources:
                forgotten, old = self._sources.popitem(last=False)
                self._field_total -= old.field_count
                result.reject("forgot the templates of exporter %r, the least recently heard of more than %d "
                              "(max_sources)" % (forgotten, self.max_sources))
            session = self._sources[source] = _Session()
        else:
            self._sources.move_to_end(source)
        return session

    def decode(self, data, source=None):
        """Decode one message; returns a ``DecodeResult``. Raises ``IpfixDecodeError`` only when ``data``
        cannot be framed as an IPFIX message (too short, not version 10, a length past the data)."""
        data = bytes(data)
        size = len(data)
        if size < MESSAGE_HEADER.size:
            raise IpfixDecodeError("%d octets are shorter than the 16-octet IPFIX message header" % size)
        version, length, export_time, sequence, domain = MESSAGE_HEADER.unpack_from(data)
        if version != VERSION:
            raise IpfixDecodeError("version %d is not IPFIX (10)" % version)
        if length < MESSAGE_HEADER.size:
            raise IpfixDecodeError("message length %d is under the 16-octet header" % length)
        if length > size:
            raise IpfixDecodeError("message length %d runs past the %d octets received" % (length, size))
        result = DecodeResult(export_time, sequence, domain, self.max_reasons)
        if length < size:
            result.reject("%d octets after the message end ignored" % (size - length))
        session = self._session(source, result)
        offset = MESSAGE_HEADER.size
        count = 0
        while offset < length:
            if length - offset < 4:
                result.reject("%d octets at offset %d are too short for a set header: ignored"
                              % (length - offset, offset))
                break
            set_id, set_length = _HH.unpack_from(data, offset)
            if set_length < 4:
                result.reject("set %d at offset %d has length %d (under 4): rest of the message dropped"
                              % (set_id, offset, set_length))
                break
            end = offset + set_length
            if end > length:
                result.reject("set %d at offset %d has length %d, past the message end (%d): rest of the message "
                              "dropped" % (set_id, offset, set_length, length))
                break
            if set_id >= 256:
                count += self._data_set(session, domain, set_id, data[offset + 4:end], result)
            elif set_id == TEMPLATE_SET_ID or set_id == OPTIONS_TEMPLATE_SET_ID:
                self._template_set(session, domain, data, offset + 4, end, set_id == OPTIONS_TEMPLATE_SET_ID, result)
            else:
                result.reject("set id %d at offset %d is reserved: set skipped" % (set_id, offset))
            offset = end
        self._account(session, domain, sequence, count, result)
        result._finish()  # pylint: disable=protected-access
        return result

    def _account(self, session, domain, sequence, count, result):
        expected = session.expected.pop(domain, None)
        if expected is not None:
            gap = (sequence - expected) & 0xFFFFFFFF
            if 0 < gap < 0x80000000:
                result.missing = gap
        elif len(session.expected) >= self.max_domains_per_source:
            session.expected.popitem(last=False)
        session.expected[domain] = (sequence + count) & 0xFFFFFFFF

    def _data_set(self, session, domain, template_id, body, result):
        template = session.templates.get((domain, template_id))
        if template is None:
            result.reject("data set of %d octets for unknown template %d (observation domain %d): dropped"
                          % (len(body), template_id, domain))
            return 0
        out = result.options_records if template.scope_count else result.records
        before = len(out)
        decode_set = template.decode_set
        if decode_set is None and len(template.fields) <= MAX_COMPILED_FIELDS:
            decode_set = template.decode_set = _compile(template)
        if decode_set is None:  # a large template
            _decode_slowly(template, body, out, result)
            return len(out) - before
        try:
            decode_set(body, out)
        except _FAILURES:
            # a long string length, or a bad record: the variant checking every length, then field by field
            del out[before:]
            if template.decode_set_checked is None:
                template.decode_set_checked = _compile(template, short_strings=False)
            try:
                template.decode_set_checked(body, out)
            except _FAILURES:
                del out[before:]
                _decode_slowly(template, body, out, result)
        return len(out) - before

    def _template_set(self, session, domain, data, offset, end, options, result):
        kind = "options template" if options else "template"
        header = 6 if options else 4
        while end - offset >= 4:
            template_id, field_count = _HH.unpack_from(data, offset)
            if template_id == 0 and field_count == 0 and not any(data[offset:end]):
                return  # padding
            if field_count == 0:
                offset += 4
                self._withdraw(session, domain, template_id, options, result)
                continue
            if end - offset < header:
                result.reject("%s %d truncated in its header: rest of the set dropped" % (kind, template_id))
                return
            scope_count = _H.unpack_from(data, offset + 4)[0] if options else 0
            offset += header
            fields = []
            for _index in range(field_count):
                if end - offset < 4:
                    break
                element_id, length = _HH.unpack_from(data, offset)
                offset += 4
                enterprise = 0
                if element_id & 0x8000:
                    if end - offset < 4:
                        break
                    enterprise = _I.unpack_from(data, offset)[0]
                    offset += 4
                    element_id &= 0x7FFF
                fields.append((element_id, enterprise, length))
            if len(fields) < field_count:
                result.reject("%s %d declares %d fields but the set ends after %d: rest of the set dropped"
                              % (kind, template_id, field_count, len(fields)))
                return
            self._define(session, domain, template_id, fields, scope_count, kind, result)

    def _withdraw(self, session, domain, template_id, options, result):
        templates = session.templates
        if template_id == (OPTIONS_TEMPLATE_SET_ID if options else TEMPLATE_SET_ID):
            for key in [k for k, t in templates.items() if k[0] == domain and bool(t.scope_count) == options]:
                count = len(templates.pop(key).fields)
                session.field_count -= count
                self._field_total -= count
                result.withdrawn.append(key[1])
        elif template_id < 256:
            result.reject("withdrawal of reserved template id %d ignored" % template_id)
        else:
            template = templates.pop((domain, template_id), None)
            if template is None:
                result.reject("withdrawal of unknown template %d ignored" % template_id)
            else:
                session.field_count -= len(template.fields)
                self._field_total -= len(template.fields)
                result.withdrawn.append(template_id)

    def _define(self, session, domain, template_id, raw_fields, scope_count, kind, result):
        what = "%s %d" % (kind, template_id)
        if template_id < 256:
            result.reject("%s: template ids under 256 are reserved: dropped" % what)
            return
        if kind == "options template" and not 0 < scope_count <= len(raw_fields):
            result.reject("%s: scope field count %d must be 1 to %d: dropped" % (what, scope_count, len(raw_fields)))
            return
        fields = []
        for position, (element_id, enterprise, length) in enumerate(raw_fields):
            element = registry.by_id(enterprise, element_id)
            if element is None:
                name = registry.unknown_name(enterprise, element_id)
                element = registry.Element(name, enterprise, element_id, "octetArray", VARIABLE)
            reason = _fields.check_length(element.data_type, length)
            if reason:
                result.reject("%s: field %d (%s) %s: dropped" % (what, position, element.name, reason))
                return
            fields.append((element, length))
        template = _Template(template_id, tuple(fields), scope_count)
        if template.min_length == 0:
            result.reject("%s describes records of 0 octets: dropped" % what)
            return
        key = (domain, template_id)
        old = session.templates.get(key)
        field_count = session.field_count - (len(old.fields) if old else 0) + len(fields)
        if old is None and len(session.templates) >= self.max_templates_per_source:
            result.reject("%s: this exporter already has %d templates (max_templates_per_source): dropped"
                          % (what, len(session.templates)))
            return
        if field_count > self.max_fields_per_source:
            result.reject("%s: this exporter's templates would hold %d fields (max_fields_per_source %d): dropped"
                          % (what, field_count, self.max_fields_per_source))
            return
        growth = field_count - session.field_count
        if self._field_total + growth > self.max_fields and not self._make_room(session, growth, result):
            result.reject("%s: the templates of all exporters would hold more than %d fields (max_fields): "
                          "dropped" % (what, self.max_fields))
            return
        if old is not None and old.fields == template.fields and old.scope_count == scope_count:
            template = old  # a refresh: keep the compiled decoder
        session.templates[key] = template
        session.field_count = field_count
        self._field_total += growth
        result.template_ids.append(template_id)

    def _make_room(self, session, growth, result):
        """Forget the least recently heard other exporters until ``growth`` more fields fit ``max_fields``."""
        for source in list(self._sources):
            if self._field_total + growth <= self.max_fields:
                break
            if self._sources[source] is session:
                continue
            self._field_total -= self._sources.pop(source).field_count
            result.reject("forgot the templates of exporter %r, the least recently heard, to stay under %d "
                          "template fields (max_fields)" % (source, self.max_fields))
        return self._field_total + growth <= self.max_fields

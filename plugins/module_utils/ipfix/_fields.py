# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How each RFC 7012 abstract data type travels on the wire (RFC 7011 section 6), for the encoder and decoder.

Private to the ipfix package. Two ways to convert one field:

* per template, generated code (``struct`` codes and expressions) that the encoder and decoder compile once
  into one function handling a whole record; the hot path, with bounded caches for address and string
  conversions (flow records repeat the same addresses and pod names over and over);
* ``decode_value`` / ``encode_value``: one field at a time, slow and precise, used to say exactly which field
  of which record was wrong when the compiled function fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.registry import VARIABLE_LENGTH

NTP_UNIX_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_TWO32 = 1 << 32

VARIABLE_TYPES = frozenset(("string", "octetArray", "basicList", "subTemplateList", "subTemplateMultiList"))
_UNSIGNED = {"unsigned8": 1, "unsigned16": 2, "unsigned32": 4, "unsigned64": 8}
_SIGNED = {"signed8": 1, "signed16": 2, "signed32": 4, "signed64": 8}
_EXACT = {"boolean": 1, "macAddress": 6, "ipv4Address": 4, "ipv6Address": 16, "float32": 4,
          "dateTimeSeconds": 4, "dateTimeMilliseconds": 8, "dateTimeMicroseconds": 8,
          "dateTimeNanoseconds": 8}
_UNSIGNED_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}
_SIGNED_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}

U16 = struct.Struct("!H")
_F32 = struct.Struct("!f")
_F64 = struct.Struct("!d")


class BoundedCache(dict):
    """A dict that computes a missing value with ``convert`` and forgets everything when it holds ``limit``."""

    __slots__ = ("_convert", "_limit")

    def __init__(self, convert, limit=65536):
        super(BoundedCache, self).__init__()
        self._convert = convert
        self._limit = limit

    def __missing__(self, key):
        value = self._convert(key)
        if len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value


def check_length(data_type, length):
    """``None`` when a template may carry ``data_type`` in ``length`` octets, else the reason it may not."""
    if length == VARIABLE_LENGTH:
        return None
    if data_type in VARIABLE_TYPES:
        return None
    if data_type in _UNSIGNED or data_type in _SIGNED:
        size = _UNSIGNED.get(data_type) or _SIGNED[data_type]
        if 1 <= length <= size:
            return None
        return "%s takes 1 to %d octets, not %d" % (data_type, size, length)
    if data_type == "float64":
        if length in (4, 8):
            return None
        return "float64 takes 4 or 8 octets, not %d" % length
    size = _EXACT.get(data_type)
    if size is None:
        return "unsupported data type %s" % data_type
    if length != size:
        return "%s takes %d octets, not %d" % (data_type, size, length)
    return None


# ---- decoding -------------------------------------------------------------------------------------------

def _ipv4_text(raw):
    return socket.inet_ntop(socket.AF_INET, raw)


def _ipv6_text(raw):
    return socket.inet_ntop(socket.AF_INET6, raw)


def _mac_text(raw):
    return raw.hex(":")


def ntp_to_micro(value):
    """NTP 64-bit timestamp (RFC 7011 6.1.9) -> integer microseconds since the Unix epoch."""
    return ((value >> 32) - NTP_UNIX_OFFSET) * 1000000 + (((value & 0xFFFFFFFF) * 1000000) >> 32)


def ntp_to_nano(value):
    """NTP 64-bit timestamp -> integer nanoseconds since the Unix epoch."""
    return ((value >> 32) - NTP_UNIX_OFFSET) * 1000000000 + (((value & 0xFFFFFFFF) * 1000000000) >> 32)


def fixed_string(raw):
    """A fixed-length string field: trailing NUL padding is not part of the text."""
    return raw.rstrip(b"\0").decode("utf-8")


IPV4_TEXT = BoundedCache(_ipv4_text)
IPV6_TEXT = BoundedCache(_ipv6_text)
MAC_TEXT = BoundedCache(_mac_text)

# Names the generated decoders use.
DECODE_GLOBALS = {
    "C4": IPV4_TEXT, "C6": IPV6_TEXT, "CM": MAC_TEXT, "FB": int.from_bytes, "NTPU": ntp_to_micro,
    "NTPN": ntp_to_nano, "FS": fixed_string, "U16": U16.unpack_from,
}


def decode_plan(data_type, length):
    """For a fixed-length field: ``(struct code, expression of {v})`` turning the unpacked value into ours."""
    if data_type in _UNSIGNED or data_type in _SIGNED:
        signed = data_type in _SIGNED
        code = (_SIGNED_CODES if signed else _UNSIGNED_CODES).get(length)
        if code:
            return code, "{v}"
        return "%ds" % length, ("FB({v}, 'big', signed=True)" if signed else "FB({v}, 'big')")
    if data_type == "float32":
        return "f", "{v}"
    if data_type == "float64":
        return ("d" if length == 8 else "f"), "{v}"
    if data_type == "boolean":
        return "B", "({v} == 1)"
    if data_type == "ipv4Address":
        return "4s", "C4[{v}]"
    if data_type == "ipv6Address":
        return "16s", "C6[{v}]"
    if data_type == "macAddress":
        return "6s", "CM[{v}]"
    if data_type == "dateTimeSeconds":
        return "I", "{v}"
    if data_type == "dateTimeMilliseconds":
        return "Q", "{v}"
    if data_type == "dateTimeMicroseconds":
        return "Q", "NTPU({v})"
    if data_type == "dateTimeNanoseconds":
        return "Q", "NTPN({v})"
    if data_type == "string":
        return "%ds" % length, "FS({v})"
    return "%ds" % length, "{v}"  # octetArray, lists, unknown elements: the raw octets


def decode_value(data_type, raw, variable=False):
    """One field's octets -> our value; ``ValueError`` saying why it cannot be one."""
    length = len(raw)
    if variable and data_type not in VARIABLE_TYPES:
        reason = check_length(data_type, length)
        if reason:
            raise ValueError(reason)
    if data_type in _UNSIGNED:
        return int.from_bytes(raw, "big")
    if data_type in _SIGNED:
        return int.from_bytes(raw, "big", signed=True)
    if data_type == "string":
        try:
            return raw.decode("utf-8") if variable else fixed_string(raw)
        except UnicodeDecodeError as exc:
            raise ValueError("not UTF-8 (%s)" % exc.reason)
    if data_type == "ipv4Address":
        return _ipv4_text(raw)
    if data_type == "ipv6Address":
        return _ipv6_text(raw)
    if data_type == "macAddress":
        return _mac_text(raw)
    if data_type == "boolean":
        return raw[0] == 1
    if data_type in ("dateTimeSeconds", "dateTimeMilliseconds"):
        return int.from_bytes(raw, "big")
    if data_type == "dateTimeMicroseconds":
        return ntp_to_micro(int.from_bytes(raw, "big"))
    if data_type == "dateTimeNanoseconds":
        return ntp_to_nano(int.from_bytes(raw, "big"))
    if data_type in ("float32", "float64"):
        return (_F64 if length == 8 else _F32).unpack(raw)[0]
    return bytes(raw)


# ---- encoding -------------------------------------------------------------------------------------------

def varlen_prefix(length):
    """The length octets of a variable-length field (RFC 7011 section 7)."""
    if length < 255:
        return bytes((length,))
    if length <= 0xFFFF:
        return b"\xff" + U16.pack(length)
    raise ValueError("%d octets do not fit a variable-length field (at most 65535)" % length)


_PREFIXES = tuple(bytes((n,)) for n in range(255))


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, int, float, bool)) or value is None:
        raise TypeError("%r is not an address string" % (value,))
    return str(value)  # ipaddress objects


def _ipv4_bytes(value):
    return socket.inet_pton(socket.AF_INET, _text(value))


def _ipv6_bytes(value):
    return socket.inet_pton(socket.AF_INET6, _text(value))


def _mac_bytes(value):
    if not isinstance(value, str):
        raise TypeError("%r is not a MAC address string" % (value,))
    raw = bytes.fromhex(value.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError("%r is not a MAC address" % value)
    return raw


def _string_field(value):
    if not isinstance(value, str):
        raise TypeError("%r is not a string" % (value,))
    raw = value.encode("utf-8")
    length = len(raw)
    return (_PREFIXES[length] if length < 255 else varlen_prefix(length)) + raw


def octets_field(value):
    """A variable-length octetArray field with its length prefix."""
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError("%r is not bytes" % (value,))
    length = len(value)
    return (_PREFIXES[length] if length < 255 else varlen_prefix(length)) + bytes(value)


def micro_to_ntp(value):
    """Integer microseconds since the Unix epoch -> NTP 64-bit timestamp."""
    seconds, micro = divmod(value, 1000000)
    return ((seconds + NTP_UNIX_OFFSET) << 32) | (((micro << 32) + 999999) // 1000000)


def nano_to_ntp(value):
    """Integer nanoseconds since the Unix epoch -> NTP 64-bit timestamp."""
    seconds, nano = divmod(value, 1000000000)
    return ((seconds + NTP_UNIX_OFFSET) << 32) | (((nano << 32) + 999999999) // 1000000000)


IPV4_BYTES = BoundedCache(_ipv4_bytes)
IPV6_BYTES = BoundedCache(_ipv6_bytes)
MAC_BYTES = BoundedCache(_mac_bytes)
STRING_FIELD = BoundedCache(_string_field)
BOOLEAN_CODES = {True: 1, False: 2}  # RFC 7011 6.1.5: true is 1, false is 2

ENCODE_GLOBALS = {
    "E4": IPV4_BYTES, "E6": IPV6_BYTES, "EM": MAC_BYTES, "ES": STRING_FIELD, "EB": octets_field,
    "BOOL": BOOLEAN_CODES, "UNTP": micro_to_ntp, "NNTP": nano_to_ntp,
}


def encode_plan(data_type):
    """For a fixed-length field at its default length: ``(struct code, expression of {v})``."""
    if data_type in _UNSIGNED:
        return _UNSIGNED_CODES[_UNSIGNED[data_type]], "{v}"
    if data_type in _SIGNED:
        return _SIGNED_CODES[_SIGNED[data_type]], "{v}"
    return {
        "float32": ("f", "{v}"),
        "float64": ("d", "{v}"),
        "boolean": ("B", "BOOL[{v}]"),
        "ipv4Address": ("4s", "E4[{v}]"),
        "ipv6Address": ("16s", "E6[{v}]"),
        "macAddress": ("6s", "EM[{v}]"),
        "dateTimeSeconds": ("I", "{v}"),
        "dateTimeMilliseconds": ("Q", "{v}"),
        "dateTimeMicroseconds": ("Q", "UNTP({v})"),
        "dateTimeNanoseconds": ("Q", "NNTP({v})"),
    }[data_type]


_CONVERTERS = {
    "boolean": BOOLEAN_CODES.__getitem__, "ipv4Address": _ipv4_bytes, "ipv6Address": _ipv6_bytes,
    "macAddress": _mac_bytes, "dateTimeMicroseconds": micro_to_ntp, "dateTimeNanoseconds": nano_to_ntp,
}


def encode_value(data_type, value):
    """One value -> its field octets (with the length prefix for variable-length types), or an exception.

    Stricter than the compiled encoders (a boolean is no number here): it explains their failures.
    """
    if data_type == "string":
        return _string_field(value)
    if data_type in VARIABLE_TYPES:
        return octets_field(value)
    if data_type == "boolean" and not isinstance(value, bool):
        raise TypeError("%r is not a boolean" % (value,))
    if data_type != "boolean" and isinstance(value, bool):
        raise TypeError("a boolean is not a %s" % data_type)
    code = encode_plan(data_type)[0]
    converter = _CONVERTERS.get(data_type)
    return struct.pack("!" + code, converter(value) if converter else value)

"""The PyPI ``ipfix`` package (0.9.7) as an oracle for our IPFIX codec, on valid data only.

Its decoder hangs on some malformed input (../shared/docs/LAB-NOTES.md), so tests run it in a child
process with a timeout: ``run_oracle("encode"|"decode", payload, timeout)``. The benchmark imports
``package_encode`` / ``package_decode`` directly (its records are valid).

Values cross between the two value models here: ours are plain (str addresses, int epoch seconds and
milliseconds, "aa:bb:.." MAC strings), the package's are ``ipaddress`` objects, naive UTC ``datetime``
and MAC bytes.
"""

import datetime
import ipaddress
import json
import subprocess
import sys

EPOCH = datetime.datetime(1970, 1, 1)
ANTREA_PEN = 56506


def _setup():
    import ipfix.ie

    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry

    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()
    for element in registry.ELEMENTS:
        if element.enterprise == ANTREA_PEN:
            ipfix.ie.for_spec("%s(%d/%d)<%s>" % (element.name, element.enterprise, element.element_id,
                                                 element.data_type))


def to_package(data_type, value):
    if data_type in ("ipv4Address", "ipv6Address"):
        return ipaddress.ip_address(value)
    if data_type == "dateTimeSeconds":
        return EPOCH + datetime.timedelta(seconds=value)
    if data_type == "dateTimeMilliseconds":
        return EPOCH + datetime.timedelta(milliseconds=value)
    if data_type == "macAddress":
        return bytes.fromhex(value.replace(":", ""))
    return value


def from_package(data_type, value):
    if data_type in ("ipv4Address", "ipv6Address"):
        return str(value)
    if data_type == "dateTimeSeconds":
        return int(round((value - EPOCH).total_seconds()))
    if data_type == "dateTimeMilliseconds":
        return int(round((value - EPOCH).total_seconds() * 1000))
    if data_type == "macAddress":
        return bytes(value).hex(":")
    return value


def package_encode(records, observation_domain_id=0, mtu=1400, convert=True):
    """Encode records (all with the same keys) with the package: one template, as many messages as needed."""
    import ipfix.ie
    import ipfix.message
    import ipfix.template

    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry

    _setup()
    names = list(records[0])
    types = [registry.by_name(name).data_type for name in names]
    if convert:
        records = [dict((name, to_package(kind, record[name])) for name, kind in zip(names, types))
                   for record in records]
    template = ipfix.template.from_ielist(256, ipfix.ie.spec_list(names))
    buffer = ipfix.message.MessageBuffer()
    buffer.mtu = mtu
    buffer.begin_export(observation_domain_id)
    buffer.add_template(template)
    buffer.export_ensure_set(256)
    messages = []
    for record in records:
        try:
            buffer.export_namedict(record)
        except ipfix.message.EndOfMessage:
            messages.append(buffer.to_bytes())
            buffer.begin_export(observation_domain_id)
            buffer.export_ensure_set(256)
            buffer.export_namedict(record)
    messages.append(buffer.to_bytes())
    return messages


def package_decode(messages, convert=True, keep=True):
    """Decode messages with the package; records in our value model when ``convert``; with ``keep`` false,
    only count them (a collector handing each message's records on)."""
    import ipfix.ie
    import ipfix.message

    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry

    _setup()
    buffer = ipfix.message.MessageBuffer()
    out = []
    if not keep:
        count = 0
        for message in messages:
            buffer.from_bytes(message)
            count += len(list(buffer.namedict_iterator()))
        return count
    for message in messages:
        buffer.from_bytes(message)
        for record in buffer.namedict_iterator():
            if convert:
                record = dict((name, from_package(registry.by_name(name).data_type, value))
                              for name, value in record.items())
            out.append(record)
    return out


def _to_json(value):
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return value


def _from_json(value):
    if isinstance(value, dict):
        return bytes.fromhex(value["hex"])
    return value


def run_oracle(mode, payload, timeout=60):
    """Run the package in a child process (it may hang): ``encode`` records -> messages, ``decode`` back."""
    if mode == "encode":
        text = json.dumps([dict((k, _to_json(v)) for k, v in r.items()) for r in payload])
    else:
        text = json.dumps([m.hex() for m in payload])
    proc = subprocess.run([sys.executable, __file__, mode], input=text, capture_output=True, text=True,
                          timeout=timeout, check=False, env=_child_env())
    if proc.returncode != 0:
        raise AssertionError("the ipfix package failed (%s):\n%s" % (proc.returncode, proc.stderr))
    result = json.loads(proc.stdout)
    if mode == "encode":
        return [bytes.fromhex(m) for m in result]
    return [dict((k, _from_json(v)) for k, v in r.items()) for r in result]


def _child_env():
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def _main():
    mode = sys.argv[1]
    payload = json.loads(sys.stdin.read())
    if mode == "encode":
        records = [dict((k, _from_json(v)) for k, v in r.items()) for r in payload]
        print(json.dumps([m.hex() for m in package_encode(records)]))
    else:
        records = package_decode([bytes.fromhex(m) for m in payload])
        print(json.dumps([dict((k, _to_json(v)) for k, v in r.items()) for r in records]))


if __name__ == "__main__":
    _main()

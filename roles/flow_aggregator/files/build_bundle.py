"""Build the flow aggregator's code bundle: one zip holding the service and the module_utils it imports, laid
out as ansible_collections/netdiag/tracekit/..., with fixed timestamps so the same code gives the same bytes
(the role copies it only when it changed). Python imports it from PYTHONPATH=<bundle>.zip.

    build_bundle.py COLLECTION_ROOT OUTPUT.zip
"""

import os
import sys
import zipfile

PARTS = ("services", "plugins/module_utils/common", "plugins/module_utils/ipfix", "plugins/module_utils/flows")
PACKAGES = ("ansible_collections", "ansible_collections/netdiag", "ansible_collections/netdiag/tracekit",
            "ansible_collections/netdiag/tracekit/plugins", "ansible_collections/netdiag/tracekit/plugins/module_utils")
STAMP = (2020, 1, 1, 0, 0, 0)


def main(root, output):
    entries = {}
    for part in PARTS:
        for folder, dirs, files in os.walk(os.path.join(root, part)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in files:
                if name.endswith((".py", ".html")):
                    full = os.path.join(folder, name)
                    arc = "ansible_collections/netdiag/tracekit/" + os.path.relpath(full, root).replace(os.sep, "/")
                    with open(full, "rb") as handle:
                        entries[arc] = handle.read()
    for package in PACKAGES:
        entries.setdefault(package + "/__init__.py", b"")
    tmp = output + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for arc in sorted(entries):
            info = zipfile.ZipInfo(arc, STAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, entries[arc])
    os.replace(tmp, output)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

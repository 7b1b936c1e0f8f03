"""The merged symlink tree that gives BCC one kernel-source folder made of Debian's two header folders."""

import os

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.headers_tree import (
    TreeError, apply, plan, plan_absent, summary,
)


def _write(path, text=""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


@pytest.fixture
def split_headers(tmp_path):
    """A miniature of Debian's linux-headers-X-amd64 / linux-headers-X-common split."""
    arch = tmp_path / "usr/src/linux-headers-6.1.0-56-amd64"
    common = tmp_path / "usr/src/linux-headers-6.1.0-56-common"
    _write(str(arch / "Makefile"), "include common\n")
    _write(str(arch / ".config"), "CONFIG_BPF=y\n")
    _write(str(arch / "include/generated/autoconf.h"))
    _write(str(arch / "include/config/auto.conf"))
    _write(str(arch / "arch/x86/include/generated/asm/cpufeatures.h"))
    _write(str(common / "Makefile"), "real makefile\n")
    _write(str(common / "include/linux/skbuff.h"))
    _write(str(common / "include/uapi/linux/bpf.h"))
    _write(str(common / "arch/x86/include/asm/ptrace.h"))
    _write(str(common / "arch/arm64/include/asm/ptrace.h"))
    os.symlink("../../lib/linux-kbuild-6.1/scripts", str(arch / "scripts"))
    os.symlink("../../lib/linux-kbuild-6.1/scripts", str(common / "scripts"))
    return str(arch), str(common), str(tmp_path / "var/lib/netdiag_tracekit/kernel-src")


def _build(sources, dest):
    actions = plan(sources, dest)
    apply(actions)
    return actions


def test_merged_tree_links_each_entry_to_the_folder_that_has_it(split_headers):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    # Folders present in both sources are real directories; the rest are links.
    for rel in ("include", "arch", "arch/x86", "arch/x86/include"):
        path = os.path.join(dest, rel)
        assert os.path.isdir(path) and not os.path.islink(path), rel
    assert os.readlink(os.path.join(dest, "include/generated")) == os.path.join(arch, "include/generated")
    assert os.readlink(os.path.join(dest, "include/linux")) == os.path.join(common, "include/linux")
    assert os.readlink(os.path.join(dest, "arch/arm64")) == os.path.join(common, "arch/arm64")
    assert os.readlink(os.path.join(dest, "arch/x86/include/asm")) == os.path.join(common, "arch/x86/include/asm")
    # On a name clash the first source wins.
    assert os.readlink(os.path.join(dest, "Makefile")) == os.path.join(arch, "Makefile")
    assert os.path.isfile(os.path.join(dest, "include/uapi/linux/bpf.h"))
    assert os.path.isfile(os.path.join(dest, "arch/x86/include/generated/asm/cpufeatures.h"))
    assert summary(dest) == {"links": 10, "dirs": 4}


def test_second_run_has_nothing_to_do(split_headers):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    assert plan([arch, common], dest) == []


def test_upgrade_relinks_and_prunes(split_headers, tmp_path):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    new_arch = str(tmp_path / "usr/src/linux-headers-6.1.0-57-amd64")
    os.rename(arch, new_arch)
    os.remove(os.path.join(common, "arch/arm64/include/asm/ptrace.h"))
    os.rmdir(os.path.join(common, "arch/arm64/include/asm"))
    os.rmdir(os.path.join(common, "arch/arm64/include"))
    os.rmdir(os.path.join(common, "arch/arm64"))
    actions = _build([new_arch, common], dest)
    kinds = {(a["action"], os.path.relpath(a["path"], dest)) for a in actions}
    assert ("relink", "Makefile") in kinds
    assert ("remove", "arch/arm64") in kinds
    assert not os.path.lexists(os.path.join(dest, "arch/arm64"))
    assert os.readlink(os.path.join(dest, "include/generated")) == os.path.join(new_arch, "include/generated")
    assert plan([new_arch, common], dest) == []


def test_a_folder_that_becomes_single_source_turns_into_a_link(split_headers):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    for rel in ("arch/x86/include/generated/asm/cpufeatures.h",):
        os.remove(os.path.join(arch, rel))
    for rel in ("arch/x86/include/generated/asm", "arch/x86/include/generated", "arch/x86/include", "arch/x86", "arch"):
        os.rmdir(os.path.join(arch, rel))
    _build([arch, common], dest)
    assert os.readlink(os.path.join(dest, "arch")) == os.path.join(common, "arch")
    assert plan([arch, common], dest) == []


def test_refuses_to_touch_a_regular_file(split_headers):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    _write(os.path.join(dest, "include/notes.txt"), "mine")
    with pytest.raises(TreeError, match="notes.txt is a regular file"):
        plan([arch, common], dest)
    with pytest.raises(TreeError, match="refusing to remove"):
        plan_absent(dest)


def test_bad_input_is_reported(split_headers, tmp_path):
    arch, common, dest = split_headers
    with pytest.raises(TreeError, match="does not exist"):
        plan([arch, str(tmp_path / "nope")], dest)
    with pytest.raises(TreeError, match="not an absolute path"):
        plan(["usr/src"], dest)
    with pytest.raises(TreeError, match="refusing to manage /var"):
        plan([arch], "/var")
    with pytest.raises(TreeError, match="overlap"):
        plan([arch], os.path.join(arch, "merged"))
    with pytest.raises(TreeError, match="no source"):
        plan([], dest)


def test_absent_removes_only_the_tree(split_headers):
    arch, common, dest = split_headers
    _build([arch, common], dest)
    apply(plan_absent(dest))
    assert not os.path.lexists(dest)
    assert os.path.isfile(os.path.join(common, "include/linux/skbuff.h"))
    assert plan_absent(dest) == []

#!/usr/bin/env bash
# Install what netdiag.tracekit needs on this machine: system packages (apt, from bindep.txt) and a
# Python virtual environment (.venv) with requirements.txt and requirements-test.txt.
# Idempotent: a second run only checks and returns in about a second.
# RHEL family: install the platform:rpm names of bindep.txt with dnf instead.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
build="$root/.build"
mkdir -p "$build"

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: installing system packages needs root (run with sudo)" >&2
    exit 1
  fi
}

apt_packages() {
  # platform:dpkg lines of bindep.txt, test profile included
  sed -e 's/#.*//' "$root/bindep.txt" | awk '/platform:dpkg/ {print $1}' | sort -u
}

install_system_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "bootstrap: not a Debian/Ubuntu system; install the platform:rpm packages of bindep.txt with dnf" >&2
    return 0
  fi
  local missing=()
  local pkg
  for pkg in $(apt_packages); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  need_root
  echo "bootstrap: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
  # The distribution's Python: the one python3-bpfcc is built for.
  if [ -x /usr/bin/python3 ]; then
    echo /usr/bin/python3
  else
    command -v python3
  fi
}

install_venv() {
  local py stamp want
  py=$(pick_python)
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  stamp="$venv/.tracekit-requirements"
  want=$(cat "$root/requirements.txt" "$root/requirements-test.txt" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -r "$root/requirements.txt" -r "$root/requirements-test.txt"
    echo "$want" >"$stamp"
  fi
  # BCC's Python bindings come from the distribution: expose only its bcc package to the venv.
  local site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  if [ -d /usr/lib/python3/dist-packages/bcc ] && [ ! -e "$site/bcc" ]; then
    ln -s /usr/lib/python3/dist-packages/bcc "$site/bcc"
  fi
}

link_collection() {
  # Ansible and pytest find the collection as ansible_collections.netdiag.tracekit through this link.
  local dir="$build/collections/ansible_collections/netdiag"
  mkdir -p "$dir"
  if [ ! -L "$dir/tracekit" ]; then
    ln -sfn "$root" "$dir/tracekit"
  fi
}

mount_tracefs() {
  if [ ! -e /sys/kernel/tracing/events ] && [ "$(id -u)" -eq 0 ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
  fi
}

install_system_packages
install_venv
link_collection
mount_tracefs

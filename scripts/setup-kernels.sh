#!/usr/bin/env bash
# Idempotent set-up of the VM test tier (`make test-kernels`): qemu, Debian's stock
# kernel with its own headers, and virtme-ng, which boots that kernel with this
# host's filesystem as its root. Installs only what is missing; everything comes
# from Debian's packages or PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup-kernels: %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_install() {
    local missing=()
    for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# linux-image-amd64 is the generic flavour: the cloud one has no 9p module, and
# virtme-ng mounts this host's root into the guest over 9p.
apt_install qemu-system-x86 linux-image-amd64
# bcc compiles inside the guest against /lib/modules/$(uname -r)/build: the
# headers of the image's own ABI, never the generic ones scripts/setup.sh links.
image=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | grep -o 'linux-image-[0-9][^ ,]*-amd64' | head -1)
abi=${image#linux-image-}
apt_install "linux-headers-$abi"

# virtme-ng in a venv of its own (it is a tool of the tier, not of the project).
VNG_VENV=.venv-kernels
VNG_VERSION=1.42
if ! "$VNG_VENV/bin/vng" --version 2>/dev/null | grep -q "$VNG_VERSION"; then
    log "installing virtme-ng $VNG_VERSION into $VNG_VENV"
    rm -rf "$VNG_VENV"
    /usr/bin/python3 -m venv "$VNG_VENV"
    "$VNG_VENV/bin/python" -m pip install -q "virtme-ng==$VNG_VERSION"
else
    log "virtme-ng $VNG_VERSION present"
fi
# The kernels the tier boots, one release a line, for scripts/test-kernels.sh.
echo "$abi" > "$VNG_VENV/kernels"
log "kernel $abi: /boot/vmlinuz-$abi with headers at /lib/modules/$abi/build"
log "ok"

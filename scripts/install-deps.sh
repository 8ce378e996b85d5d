#!/usr/bin/env bash
# Installs what nvfab needs on Debian 12, idempotently, with apt-get only.
# NVFAB_DEPS_EXTRA="..." adds packages (the interop and cross-build suites use it).
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config
  liburing-dev libjson-c-dev libisal-dev libnvme-dev libcmocka-dev libsystemd-dev libssl-dev
  python3 python3-pytest dpkg-dev
  clang libclang-rt-14-dev
  valgrind gnuplot-nox
)
# shellcheck disable=SC2206
pkgs+=(${NVFAB_DEPS_EXTRA:-})

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

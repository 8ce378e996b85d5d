#!/usr/bin/env bash
# make-deb.sh - builds the Debian package nvfab_VERSION_ARCH.deb from this tree:
# nvfabd, nvfab, libnvfab (+ headers and pkg-config file), the systemd unit, the default
# configuration (/etc/nvfab/nvfabd.json, a conffile), man pages and bash completion.
#   scripts/make-deb.sh [OUT_DIR]        (default: build-deb; `make deb` runs it)
# Installs on Debian 12 with `apt install ./nvfab_*.deb`; Depends comes from dpkg-shlibdeps.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build-deb}
BUILD=$OUT/meson
STAGE=$OUT/root
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -n 1)
[[ -n $version ]] || { echo "make-deb: no version in meson.build" >&2; exit 1; }

command -v dpkg-shlibdeps >/dev/null || { echo "make-deb: dpkg-shlibdeps missing (apt-get install dpkg-dev)" >&2; exit 1; }
if [[ ! -f $BUILD/build.ninja ]]; then
    meson setup "$BUILD" --prefix=/usr --sysconfdir=/etc --libdir="lib/$multiarch" \
        --buildtype=release -Db_ndebug=true >/dev/null
fi
ninja -C "$BUILD" >/dev/null
rm -rf "$STAGE"
DESTDIR="$PWD/$STAGE" meson install -C "$BUILD" --no-rebuild --quiet
# Static archives and the test/bench programs are not part of a system install.
find "$STAGE" -name '*.a' -delete
for f in "$STAGE"/usr/sbin/nvfabd "$STAGE"/usr/bin/nvfab "$STAGE"/usr/lib/"$multiarch"/libnvfab.so.*.*; do
    strip --strip-unneeded --remove-section=.comment "$f"
done
# man pages compressed, as Debian ships them
find "$STAGE/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +

# Depends: what the binaries link against, as dpkg-shlibdeps finds it (libnvfab is ours).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: nvfab\n\nPackage: nvfab\nArchitecture: any\n' > "$tmp/debian/control"
deps=$(cd "$tmp" && dpkg-shlibdeps -O -l"$PWD/../$STAGE/usr/lib/$multiarch" 2>/dev/null \
        "$OLDPWD/$STAGE/usr/sbin/nvfabd" "$OLDPWD/$STAGE/usr/bin/nvfab" || true)
deps=${deps#shlibs:Depends=}
if [[ -z $deps ]]; then
    deps=$(cd "$tmp" && dpkg-shlibdeps -O --ignore-missing-info -l"$OLDPWD/$STAGE/usr/lib/$multiarch" \
            "$OLDPWD/$STAGE/usr/sbin/nvfabd" "$OLDPWD/$STAGE/usr/bin/nvfab")
    deps=${deps#shlibs:Depends=}
fi

mkdir -p "$STAGE/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: nvfab
Version: $version-1
Architecture: $arch
Maintainer: nvfab developers <nvfab@localhost>
Installed-Size: $size
Depends: $deps
Section: net
Priority: optional
Homepage: https://localhost/nvfab
Description: user-space NVMe over TCP target, host library and tools
 nvfabd exports RAM, null, file and block-device namespaces over NVMe/TCP to
 the Linux kernel host, SPDK and other hosts, without hugepages or kernel
 modules; its control plane is SPDK's JSON-RPC and configuration format.
 libnvfab is a lock-free user-space NVMe/TCP host library, and nvfab the
 command-line tool to discover, identify, read, write and benchmark
 namespaces.
CONTROL
echo /etc/nvfab/nvfabd.json > "$STAGE/DEBIAN/conffiles"
cat > "$STAGE/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    ldconfig
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
fi
POSTINST
cat > "$STAGE/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
    ldconfig
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload || true
    fi
fi
POSTRM
chmod 0755 "$STAGE/DEBIAN/postinst" "$STAGE/DEBIAN/postrm"
deb="$OUT/nvfab_${version}-1_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$deb" >/dev/null
echo "$deb"

#!/usr/bin/env bash
# Builds holdadvisor's Debian package with dpkg-deb from a built binary: the binary (which
# carries the shipped model), the collect service's unit, /etc/holdadvisor.toml (a conffile),
# bash/zsh/fish completions and a man page per subcommand.
#
#   bash packaging/deb.sh [BINARY=target/release/holdadvisor] [OUTDIR=target/debian]
#
# Then: dpkg -i OUTDIR/holdadvisor_VERSION_ARCH.deb; systemctl enable --now holdadvisor-collect
# Prints the package's path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-target/release/holdadvisor}
out=${2:-target/debian}
[ -x "$bin" ] || { echo "packaging/deb.sh: $bin is not an executable (cargo build --release first)" >&2; exit 2; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/holdadvisor_${version}_$arch
install -D -m 0755 "$bin" "$root/usr/bin/holdadvisor"
install -D -m 0644 packaging/holdadvisor-collect.service "$root/usr/lib/systemd/system/holdadvisor-collect.service"
install -D -m 0644 packaging/holdadvisor.toml "$root/etc/holdadvisor.toml"
install -D -m 0644 README.md "$root/usr/share/doc/holdadvisor/README.md"
"$bin" completions bash | install -D -m 0644 /dev/stdin "$root/usr/share/bash-completion/completions/holdadvisor"
"$bin" completions zsh | install -D -m 0644 /dev/stdin "$root/usr/share/zsh/vendor-completions/_holdadvisor"
"$bin" completions fish | install -D -m 0644 /dev/stdin "$root/usr/share/fish/vendor_completions.d/holdadvisor.fish"
mkdir -p "$root/usr/share/man/man1"
"$bin" man "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
mkdir -p "$root/DEBIAN"
echo /etc/holdadvisor.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<CONTROL
Package: holdadvisor
Version: $version
Architecture: $arch
Maintainer: holdadvisor developers
Section: utils
Priority: optional
Depends: libc6, libgcc-s1
Recommends: htcondor
Installed-Size: $(du -sk "$root" | cut -f1)
Description: advice on held HTCondor jobs: release or remove
 Tells HTCondor users whether a held job is worth releasing or should be removed,
 with a confidence and the reasons, learned from the pool's own job event logs.
 The shipped model inside the binary was trained on SIMULATED pools; train on your
 pool's logs (holdadvisor train) for advice fitted to it.
CONTROL
# The service's state directory is made by systemd (StateDirectory=); a cache's directory
# made here too covers running collect by hand as the condor user.
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    install -d -m 0755 /var/lib/holdadvisor /var/cache/holdadvisor
    if getent passwd condor >/dev/null; then
        chown condor:condor /var/lib/holdadvisor /var/cache/holdadvisor
    fi
    if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
POSTINST
chmod 0755 "$root/DEBIAN/postinst"
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out/holdadvisor_${version}_$arch.deb"

#!/bin/sh
# Unpacks the agent image's client tools from other Debian suites (the "extract"
# lines of hack/image-packages.txt) into OUT/usr/lib/postgresql/<major>: each
# package downloaded with apt from its suite on the system's own Debian mirror
# and unpacked with dpkg-deb. The same steps run in the Dockerfile's tools stage
# and, chrooted into the debootstrapped runtime stage, in hack/rootfs.sh.
#
#   image-tools.sh LIST OUT
set -eu
list=$1 out=$2
mirror=$( { sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true
  awk '$1 == "deb" {print $2}' /etc/apt/sources.list 2>/dev/null || true; } | head -1)
[ -n "$mirror" ] || { echo "image-tools: no Debian mirror in this system's apt sources" >&2; exit 1; }
tmp=$(mktemp -d)
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/root" "$out/usr/lib/postgresql"
awk '!/^#/ && NF == 3 && $3 == "extract" {print $1}' "$list" | sort -u | while read -r suite; do
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
done > "$tmp/sources.list"
apt() {
  apt-get -qq -o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Sandbox::User=root "$@"
}
apt update
for p in $(awk '!/^#/ && NF == 3 && $3 == "extract" {print $2 "/" $1}' "$list"); do
  (cd "$tmp" && apt download "$p")
done
for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$tmp/root"; done
cp -a "$tmp/root/usr/lib/postgresql/." "$out/usr/lib/postgresql/"
rm -rf "$tmp"

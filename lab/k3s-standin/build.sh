#!/usr/bin/env bash
# Builds the lab's stand-in k3s binary:  build.sh OUT_DIR VERSION  ->  OUT_DIR/k3s
# VERSION is the k3s version the household pins (e.g. v1.35.5+k3s1): the install step compares
# `k3s --version` with it, so the stand-in must report exactly that. A binary that is newer than
# every source file and already reports VERSION is kept.
set -euo pipefail

usage="usage: build.sh OUT_DIR VERSION (e.g. build.sh /tmp/k3s v1.35.5+k3s1)"
out=${1:?$usage}
ver=${2:?$usage}
# -X takes the value verbatim into the binary; anything but a k3s-style version is a caller bug.
[[ $ver =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?\+k3s[0-9]+$ ]] ||
	{ echo "build.sh: '$ver' is not a k3s version like v1.35.5+k3s1" >&2; exit 2; }

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$out/k3s
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "build.sh: no Go toolchain (go in PATH or /usr/local/go/bin/go)" >&2; exit 2; }

if [ -x "$bin" ] &&
	[ -z "$(find "$src" -maxdepth 1 \( -name '*.go' ! -name '*_test.go' -o -name go.mod \) -newer "$bin" -print -quit)" ] &&
	[ "$("$bin" --version 2>/dev/null | awk 'NR == 1 {print $3}')" = "$ver" ]; then
	echo "build.sh: $bin is up to date ($ver)"
	exit 0
fi

mkdir -p "$out"
tmp=$(mktemp "$out/.k3s.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# Static (no cgo): the phones' root filesystems are busybox/musl-like and must run it unchanged.
# GOTOOLCHAIN=local: the build uses the installed Go, never a downloaded one.
(cd "$src" && CGO_ENABLED=0 GOTOOLCHAIN=local "$go" build -trimpath \
	-ldflags "-s -w -X main.version=$ver" -o "$tmp" .)
chmod 755 "$tmp"
mv -f "$tmp" "$bin"
echo "build.sh: built $bin ($ver)"

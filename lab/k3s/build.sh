#!/usr/bin/env bash
# Builds the lab's k3s and what a cluster needs besides it, from the Go module proxy:
#   build.sh OUT_DIR VERSION  ->  OUT_DIR/k3s, OUT_DIR/coredns, OUT_DIR/pause,
#                                 OUT_DIR/metallb-controller, OUT_DIR/metallb-speaker,
#                                 OUT_DIR/k3s-airgap-images-amd64.tar
# VERSION is the k3s version the household pins (e.g. v1.35.5+k3s1): the install step compares
# `k3s --version` with it, so the binary must report exactly that. The Kubernetes inside is the
# k8s.io/kubernetes version in go.mod; callers key OUT_DIR on both (<VERSION>-k8s<kube version>).
# An artifact newer than all of its sources is kept; the images tarball is kept while the hash of
# its inputs is unchanged. A cold build compiles Kubernetes (tens of minutes on 2 cores); Go's
# build cache makes later ones take seconds to a minute.
set -euo pipefail

usage="usage: build.sh OUT_DIR VERSION (e.g. build.sh /var/cache/k3s-over-usb/k3s/v1.35.5+k3s1-k8sv1.35.4 v1.35.5+k3s1)"
out=${1:?$usage}
ver=${2:?$usage}
# -X takes the value verbatim into the binary; anything but a k3s-style version is a caller bug.
[[ $ver =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?\+k3s[0-9]+$ ]] ||
	{ echo "build.sh: '$ver' is not a k3s version like v1.35.5+k3s1" >&2; exit 2; }

src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || { echo "build.sh: no Go toolchain (go in PATH or /usr/local/go/bin/go)" >&2; exit 2; }
# The busybox image is Debian's static busybox: the phones' and pods' shell must not need a libc.
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build.sh: $busybox missing: apt-get install busybox-static" >&2; exit 2; }

# Static (no cgo): the phones' root filesystems are busybox/musl-like and must run it unchanged.
# GOTOOLCHAIN=local: the build uses the installed Go, never a downloaded one.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false"
# A module the proxy does not have must fail, not fall back to cloning from its VCS host.
GOPROXY=$("$go" env GOPROXY)
GOPROXY=${GOPROXY%,direct}
GOPROXY=${GOPROXY%|direct}
export GOPROXY

mkdir -p "$out"
# Two builds into one OUT_DIR would each take the other's half-written files for its own.
if command -v flock >/dev/null; then
	exec 9>"$out/.build.lock"
	flock 9
fi
# Each artifact is written under a temporary name and renamed when complete, so a failed or
# interrupted build leaves nothing in OUT_DIR that looks built.
tmps=()
trap 'rm -f "${tmps[@]}"' EXIT
trap 'exit 1' INT TERM HUP
# newtmp NAME: sets tmp to a new temporary file in OUT_DIR (not printed: a $(...) subshell could
# not add it to the list the trap removes).
newtmp() {
	tmp=$(mktemp "$out/.$1.XXXXXX")
	tmps+=("$tmp")
}

modversion() { (cd "$src" && "$go" list -m -f '{{.Version}}' "$1"); }
kube=$(modversion k8s.io/kubernetes)
[[ $kube =~ ^v([0-9]+)\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: unexpected k8s.io/kubernetes version $kube" >&2; exit 1; }
kube_major=${BASH_REMATCH[1]} kube_minor=${BASH_REMATCH[2]}
coredns_version=$(modversion github.com/coredns/coredns)
flannel_version=$(modversion github.com/flannel-io/flannel)
# The release's commit time, not the build's, so rebuilding the same versions gives the same bytes.
kube_date=$(cd "$src" && "$go" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)

# What Kubernetes' hack/lib/version.sh stamps, so `kubectl version`, `kubelet --version` and each
# node's kubeletVersion report the release. The module zip carries no commit, hence an empty one,
# and "archive" is the tree state Kubernetes itself uses for builds from a source archive.
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kube_ldflags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=$kube_major -X $pkg.gitMinor=$kube_minor"
	kube_ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=$kube_date -X $pkg.gitCommit="
done
kube_ldflags+=" -X github.com/flannel-io/flannel/pkg/version.Version=$flannel_version"

# newer_source ARTIFACT DIR...: prints the first Go source, go.mod, go.sum or this script that is
# newer than ARTIFACT (test files do not count). The root package's sources are its top level
# only: cmd/ holds the other binaries.
newer_source() {
	local artifact=$1
	shift
	{
		find "$src" -maxdepth 1 \( -name go.mod -o -name go.sum -o -name build.sh \) -newer "$artifact" -print
		for dir in "$@"; do
			find "$dir" \( -path "$src/cmd" -prune \) -o -name '*.go' ! -name '*_test.go' -newer "$artifact" -print
		done
	} | head -n 1
}

# build_go NAME PACKAGE LDFLAGS [MODULE_DIR]: builds PACKAGE into OUT_DIR/NAME.
build_go() {
	local name=$1 pkg=$2 ldflags=$3 dir=${4:-$src} start=$SECONDS tmp
	newtmp "$name"
	(cd "$dir" && "$go" build -ldflags "-s -w $ldflags" -o "$tmp" "$pkg")
	chmod 755 "$tmp"
	mv -f "$tmp" "$out/$name"
	echo "build.sh: built $out/$name in $((SECONDS - start)) s"
}

bin=$out/k3s
if [ -x "$bin" ] && [ -z "$(newer_source "$bin" "$src")" ] &&
	[ "$("$bin" --version 2>/dev/null | awk 'NR == 1 {print $3}')" = "$ver" ]; then
	echo "build.sh: $bin is up to date ($ver, Kubernetes $kube)"
else
	build_go k3s . "-X main.version=$ver -X main.corednsImage=docker.io/rancher/mirrored-coredns-coredns:${coredns_version#v} $kube_ldflags"
fi

if [ -x "$out/coredns" ] && [ -z "$(newer_source "$out/coredns" "$src/cmd/coredns")" ]; then
	echo "build.sh: $out/coredns is up to date ($coredns_version)"
else
	build_go coredns ./cmd/coredns ""
fi

if [ -x "$out/pause" ] && [ -z "$(newer_source "$out/pause" "$src/cmd/pause")" ]; then
	echo "build.sh: $out/pause is up to date"
else
	build_go pause ./cmd/pause ""
fi

# MetalLB's controller and speaker, from their own module (lab/metallb): MetalLB builds against
# other Kubernetes libraries than the launcher. Its version there is the one the lab's household pins.
mlsrc=$(cd "$src/../metallb" && pwd)
metallb_version=$(cd "$mlsrc" && "$go" list -m -f '{{.Version}}' go.universe.tf/metallb)
for part in controller speaker; do
	art=$out/metallb-$part
	if [ -x "$art" ] && [ -z "$(find "$mlsrc" -maxdepth 1 \( -name go.mod -o -name go.sum \) -newer "$art" -print)" ] &&
		[ ! "$src/build.sh" -nt "$art" ]; then
		echo "build.sh: $art is up to date (MetalLB $metallb_version)"
	else
		build_go "metallb-$part" "go.universe.tf/metallb/$part" "" "$mlsrc"
	fi
done

# The tarball is rebuilt only when what goes into it changed; a rebuilt binary with the same bytes
# (the builds are reproducible) does not count.
images=$out/k3s-airgap-images-amd64.tar
inputs=$out/.k3s-airgap-images-amd64.inputs
want=$(
	cd "$src"
	echo "coredns tag ${coredns_version#v}, metallb tag $metallb_version"
	sha256sum "$out/pause" "$out/coredns" "$out/metallb-controller" "$out/metallb-speaker" "$busybox" cmd/mkimages/*.go go.mod
)
if [ -f "$images" ] && [ "$(cat "$inputs" 2>/dev/null)" = "$want" ]; then
	echo "build.sh: $images is up to date"
else
	start=$SECONDS
	newtmp images
	tar=$tmp
	(cd "$src" && "$go" run ./cmd/mkimages -o "$tar" -pause "$out/pause" -coredns "$out/coredns" \
		-coredns-tag "${coredns_version#v}" -busybox "$busybox" \
		-metallb-controller "$out/metallb-controller" -metallb-speaker "$out/metallb-speaker" -metallb-tag "$metallb_version")
	chmod 644 "$tar"
	newtmp inputs
	echo "$want" >"$tmp"
	mv -f "$tar" "$images"
	mv -f "$tmp" "$inputs"
	echo "build.sh: built $images in $((SECONDS - start)) s"
fi

#!/usr/bin/env bash
# Builds the Pulumi CLI, its Node.js language host and the resource providers the project pins, from Go
# modules fetched through the Go module proxy, because these machines cannot download Pulumi's release
# binaries. Versions and paths come from env.sh; README.md says what builds here and what cannot.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
usage: tools/pulumi-engine/build.sh

Builds what is missing from \${K3OU_ENGINE_CACHE:-/var/cache/k3s-over-usb/engine}/<version set>/bin and
installs the providers into \$PULUMI_HOME/plugins (default: <version set>/home). Then: . tools/pulumi-engine/env.sh
Exit status: 0 when pulumi and its Node.js language host are usable (a provider that cannot be built is
reported, not fatal), 1 otherwise.
EOF
}
case ${1:-} in
-h | --help) usage; exit 0 ;;
'') ;;
*) usage >&2; exit 2 ;;
esac

# shellcheck source=env.sh
. "$here/env.sh"

case ${K3OU_ENGINE_LOG:-off} in
on | off) ;;
*)
	echo "build.sh: K3OU_ENGINE_LOG=$K3OU_ENGINE_LOG: must be on or off (the engine's automatic log, \$PULUMI_HOME/logs); nothing was built" >&2
	exit 2
	;;
esac

go=$(command -v go || true)
go=${go:-/usr/local/go/bin/go}
[ -x "$go" ] || { echo "build.sh: no Go toolchain (looked on PATH and in /usr/local/go/bin)" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
# A module the proxy does not have must fail, not fall back to cloning from its VCS host.
GOPROXY=$("$go" env GOPROXY)
GOPROXY=${GOPROXY%,direct}
GOPROXY=${GOPROXY%|direct}
export GOPROXY

bin=$K3OU_ENGINE_BIN
logs=$K3OU_ENGINE_DIR/logs
gen=$K3OU_ENGINE_DIR/gen
mkdir -p "$bin" "$logs" "$gen" "$PULUMI_HOME" "$K3OU_ENGINE_DIR/providers"

# Two builds into one cache would each see the other's half-written files as missing work.
if command -v flock >/dev/null; then
	exec 9>"$K3OU_ENGINE_DIR/.build.lock"
	flock 9
fi

failed=()
# Set (to a message) around a build whose failure is expected and has a fallback: then a failure is one
# line, not an entry under "Not built".
fallback=

# build NAME WRAPPER MODULE OUTPUT PREPARE GO-BUILD-ARGS...
# Fetches MODULE as pinned by WRAPPER/go.mod, runs PREPARE (a function or :), then go build into bin/OUTPUT.
# The binary is moved into place only when complete, so an interrupted run leaves nothing that looks cached.
build() {
	local name=$1 wrapper=$here/$2 module=$3 out=$4 prepare=$5
	shift 5
	if [ -x "$bin/$out" ]; then
		echo "==> $name: cached $bin/$out"
		return 0
	fi
	local log=$logs/$name.log start=$SECONDS
	echo "==> $name: start $(date +%T)"
	# In the background so that set -e holds inside: bash ignores it in a subshell used as a condition.
	(
		cd "$wrapper"
		"$go" mod download "$module"
		"$prepare"
		"$go" build -o "$bin/.$out.partial" "$@"
	) >"$log" 2>&1 &
	if wait $!; then
		mv "$bin/.$out.partial" "$bin/$out"
		echo "<== $name: done $(date +%T), $((SECONDS - start)) s"
	elif [ -n "$fallback" ]; then
		rm -f "$bin/.$out.partial"
		echo "<== $name: not available, $((SECONDS - start)) s ($(grep -m1 -o '[0-9]\{3\} [A-Z][a-z]*' "$log" || echo "see $log")); $fallback"
	else
		rm -f "$bin/.$out.partial"
		echo "<== $name: FAILED $(date +%T), $((SECONDS - start)) s; log: $log"
		sed 's/^/    /' "$log" | tail -n 15
		failed+=("$name")
	fi
}

# Our own providers (providers/, README "Our own command and random providers") stand in for official
# ones the proxy refuses. Their source is in this repository, so they are rebuilt on every run (Go's
# build cache makes an unchanged rebuild take seconds) into <set>/providers, which is not on PATH.
own=$K3OU_ENGINE_DIR/providers
# build_own NAME PACKAGE VERSION: builds providers/cmd/NAME, stamped with VERSION, into $own/NAME.
build_own() {
	local name=$1 pkg=$2 version=$3 log=$logs/$1-own.log start=$SECONDS
	echo "==> $name (own, $version): start $(date +%T)"
	(
		cd "$here/providers"
		"$go" build -o "$own/.$name.partial" \
			-ldflags "-s -w -X k3s-over-usb/tools/pulumi-engine/providers/$pkg.Version=$version" "./cmd/$name"
	) >"$log" 2>&1 &
	if wait $!; then
		mv "$own/.$name.partial" "$own/$name"
		echo "<== $name (own): done $(date +%T), $((SECONDS - start)) s"
	else
		rm -f "$own/.$name.partial"
		echo "<== $name (own): FAILED $(date +%T), $((SECONDS - start)) s; log: $log"
		sed 's/^/    /' "$log" | tail -n 15
		failed+=("$name")
	fi
}

# pulumi-kubernetes embeds schema-embed.json and terraform-mapping-embed.json, which upstream generates
# and git-ignores, so the module zip lacks them. Upstream's own generate.go makes them here, and an overlay
# serves them with upstream's main.go as a package of the wrapper module that exists only in the overlay:
# Go refuses overlays of files inside the module cache.
kubernetes_module=github.com/pulumi/pulumi-kubernetes/provider/v4
# shellcheck disable=SC2317 # called through build's PREPARE argument
prepare_kubernetes() {
	local src out=$gen/kubernetes
	src=$("$go" list -m -f '{{.Dir}}' "$kubernetes_module")/cmd/pulumi-resource-kubernetes
	rm -rf "$out"
	mkdir -p "$out"
	"$go" build -o "$out/generate" "$src/generate.go"
	cp "$src/schema.json" "$src/terraform-mapping.json" "$out/"
	(cd "$out" && VERSION=$K3OU_KUBERNETES_VERSION ./generate)
	cat >"$out/overlay.json" <<EOF
{"Replace": {
  "$here/kubernetes/main/main.go": "$src/main.go",
  "$here/kubernetes/main/schema-embed.json": "$out/schema-embed.json",
  "$here/kubernetes/main/terraform-mapping-embed.json": "$out/terraform-mapping-embed.json"
}}
EOF
}

# The official release flags (tags, -s -w, version stamp); without the stamp `pulumi version` is empty and
# the Automation API cannot parse it.
pulumi_ldflags() { echo "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$1"; }

echo "Pulumi engine set $K3OU_ENGINE_SET"
echo "  bin: $bin"
echo "  PULUMI_HOME: $PULUMI_HOME"

if [ -n "$K3OU_OFFICIAL_PULUMI" ]; then
	echo "==> pulumi: using $K3OU_OFFICIAL_PULUMI (v$K3OU_PULUMI_VERSION) and the language host it ships"
	pulumi=$K3OU_OFFICIAL_PULUMI
else
	build pulumi cli github.com/pulumi/pulumi/pkg/v3 pulumi : \
		-tags osusergo,grpcnotrace -ldflags "$(pulumi_ldflags "$K3OU_PULUMI_VERSION")" \
		github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
	build pulumi-language-nodejs nodejs-host github.com/pulumi/pulumi/sdk/v3 pulumi-language-nodejs : \
		-tags osusergo,grpcnotrace -ldflags "$(pulumi_ldflags "$K3OU_NODEJS_HOST_VERSION")" \
		github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
	# Dynamic providers (pulumi.dynamic.Resource) run in this bundled plugin, which Pulumi ships as a
	# script next to the CLI rather than as Go code.
	cat >"$bin/pulumi-resource-pulumi-nodejs" <<'EOF'
#!/bin/sh
# Started by the engine in the program's directory: run @pulumi/pulumi's dynamic provider entry point.
exec node "$(node -p 'require.resolve("@pulumi/pulumi/cmd/dynamic-provider")')" "$@"
EOF
	chmod +x "$bin/pulumi-resource-pulumi-nodejs"
	pulumi=$bin/pulumi
fi

# The official command and random providers first; while the proxy refuses them, our own.
fallback="building our own (README: \"Our own command and random providers\")"
build pulumi-resource-command command github.com/pulumi/pulumi-command/provider pulumi-resource-command : \
	-ldflags "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=v$K3OU_COMMAND_VERSION" \
	github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command
build pulumi-resource-random random github.com/pulumi/pulumi-random/provider/v4 pulumi-resource-random : \
	-ldflags "-s -w -X github.com/pulumi/pulumi-random/provider/v4/pkg/version.Version=$K3OU_RANDOM_VERSION" \
	github.com/pulumi/pulumi-random/provider/v4/cmd/pulumi-resource-random
fallback=
[ -x "$bin/pulumi-resource-command" ] || build_own pulumi-resource-command command "$K3OU_COMMAND_VERSION"
[ -x "$bin/pulumi-resource-random" ] || build_own pulumi-resource-random random "$K3OU_RANDOM_VERSION"
build pulumi-resource-kubernetes kubernetes "$kubernetes_module" pulumi-resource-kubernetes prepare_kubernetes \
	-overlay "$gen/kubernetes/overlay.json" \
	-ldflags "-s -w -X $kubernetes_module/pkg/version.Version=$K3OU_KUBERNETES_VERSION" \
	./main

# The engine takes a provider only from the plugin cache, and only at the exact version the npm package
# declares (env.sh makes it ignore PATH). `plugin install --file` never touches the network.
install_plugin() {
	local name=$1 version=$2 src=$bin/pulumi-resource-$1
	local dir=$PULUMI_HOME/plugins/resource-$name-v$version
	# An official build wins over our own.
	[ -x "$src" ] || src=$own/pulumi-resource-$name
	[ -x "$src" ] || return 0
	if cmp -s "$src" "$dir/pulumi-resource-$name"; then
		echo "==> plugin $name $version: installed"
	elif [ -x "$pulumi" ]; then
		"$pulumi" plugin install resource "$name" "$version" --file "$src" --reinstall
	else
		# Without a CLI, the cache layout itself: a directory per version and no .partial marker beside it.
		mkdir -p "$dir"
		cp "$src" "$dir/"
		rm -f "$dir.partial"
		echo "==> plugin $name $version: copied into $dir"
	fi
}
install_plugin command "$K3OU_COMMAND_VERSION"
install_plugin random "$K3OU_RANDOM_VERSION"
install_plugin kubernetes "$K3OU_KUBERNETES_VERSION"

# The CLI's automatic log: every command writes a compressed debug log of every step and RPC, properties
# and scripts included, to $PULUMI_HOME/logs, and no setting turns it off (the CLI starts it
# unconditionally and goes on without it when it cannot create the file). Writing it took 1.5 of the
# engine's 3.4 CPU-seconds in a 3-phone no-op up (docs/profile.md). In the home this project owns it is
# off: a file named logs stands where the directory would be. K3OU_ENGINE_LOG=on turns it back on; a
# PULUMI_HOME of the caller's own is left as it is.
automatic_log() {
	local dir=$PULUMI_HOME/logs
	if [ "$PULUMI_HOME" != "$K3OU_ENGINE_DIR/home" ]; then
		echo "==> automatic log: as $PULUMI_HOME has it (a PULUMI_HOME of your own)"
	elif [ "${K3OU_ENGINE_LOG:-off}" = on ]; then
		[ ! -f "$dir" ] || rm -f "$dir"
		echo "==> automatic log: on, in $dir"
	else
		if [ -d "$dir" ]; then
			# The logs written so far are kept beside it, out of the engine's way.
			mkdir -p "$dir.kept"
			find "$dir" -mindepth 1 -maxdepth 1 -exec mv -t "$dir.kept" {} +
			rmdir "$dir"
		fi
		[ -f "$dir" ] || echo "Turned off by tools/pulumi-engine/build.sh; K3OU_ENGINE_LOG=on turns it on." >"$dir"
		echo "==> automatic log: off (K3OU_ENGINE_LOG=on turns it on)"
	fi
}
automatic_log

status=0
if [ ! -x "$pulumi" ]; then
	echo "build.sh: no pulumi CLI" >&2
	status=1
elif [ -z "$K3OU_OFFICIAL_PULUMI" ] && [ ! -x "$bin/pulumi-language-nodejs" ]; then
	echo "build.sh: no Node.js language host" >&2
	status=1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "Not built: ${failed[*]} (see tools/pulumi-engine/README.md)"
fi
echo "Use it: . tools/pulumi-engine/env.sh"
exit "$status"

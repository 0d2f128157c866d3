# shellcheck shell=sh
# Source this file (POSIX sh) before running pulumi offline:  . tools/pulumi-engine/env.sh
# It only sets variables: no network, no build. tools/pulumi-engine/build.sh fills the directories it names.
# The backend (pulumi login file://... or PULUMI_BACKEND_URL) and PULUMI_CONFIG_PASSPHRASE are the caller's.

# The version set. The npm packages in package.json must carry the same versions, because the engine asks
# the plugin cache for exactly the version an npm package declares.
K3OU_PULUMI_VERSION=3.259.0      # pulumi CLI = npm @pulumi/pulumi
K3OU_NODEJS_HOST_VERSION=3.68.0  # newest Node.js language host the Go proxy serves (README: "Language host")
K3OU_COMMAND_VERSION=1.2.1       # npm @pulumi/command; proxy refuses its module: our own in providers/ (README)
K3OU_RANDOM_VERSION=4.21.1       # npm @pulumi/random; proxy refuses its module: our own in providers/ (README)
K3OU_KUBERNETES_VERSION=4.25.0   # npm @pulumi/kubernetes; the only provider build the Go proxy serves
export K3OU_PULUMI_VERSION K3OU_NODEJS_HOST_VERSION K3OU_COMMAND_VERSION K3OU_RANDOM_VERSION K3OU_KUBERNETES_VERSION

K3OU_ENGINE_CACHE=${K3OU_ENGINE_CACHE:-/var/cache/k3s-over-usb/engine}
K3OU_ENGINE_SET=cli-${K3OU_PULUMI_VERSION}_nodejs-${K3OU_NODEJS_HOST_VERSION}_command-${K3OU_COMMAND_VERSION}_random-${K3OU_RANDOM_VERSION}_kubernetes-${K3OU_KUBERNETES_VERSION}
K3OU_ENGINE_DIR=$K3OU_ENGINE_CACHE/$K3OU_ENGINE_SET
K3OU_ENGINE_BIN=$K3OU_ENGINE_DIR/bin
export K3OU_ENGINE_CACHE K3OU_ENGINE_SET K3OU_ENGINE_DIR K3OU_ENGINE_BIN

# An official CLI of the same release already on PATH (someone with internet) is used as it is, with the
# language host it ships; then build.sh builds neither. K3OU_OFFICIAL_PULUMI tells build.sh which one.
K3OU_OFFICIAL_PULUMI=
if k3ou_p=$(command -v pulumi 2>/dev/null) && [ "$k3ou_p" != "$K3OU_ENGINE_BIN/pulumi" ] &&
	[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$k3ou_p" version 2>/dev/null)" = "v$K3OU_PULUMI_VERSION" ]; then
	K3OU_OFFICIAL_PULUMI=$k3ou_p
fi
unset k3ou_p
export K3OU_OFFICIAL_PULUMI

if [ -z "$K3OU_OFFICIAL_PULUMI" ]; then
	case ":$PATH:" in
	*":$K3OU_ENGINE_BIN:"*) ;;
	*) PATH=$K3OU_ENGINE_BIN:$PATH ;;
	esac
	export PATH
fi

PULUMI_HOME=${PULUMI_HOME:-$K3OU_ENGINE_DIR/home}
export PULUMI_HOME

# Nothing may reach the network: no update check, no plugin download, no registry look-up.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# The provider binaries sit in the bin dir on PATH too, and a provider found on PATH wins over the plugin
# cache with no version check at all. Only the cache checks versions, so PATH must not count.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

# The program is transpiled, not type-checked, on every run (docs/decisions.md). Pulumi.yaml asks for it
# with runtime.options.tsconfig, which newer language hosts read from the engine's program info; the
# 3.68.0 host built here predates that and takes only its command-line flags, so it gets the same
# setting the way @pulumi/pulumi's own runner reads it.
PULUMI_NODEJS_TRANSPILE_ONLY=true
export PULUMI_NODEJS_TRANSPILE_ONLY

# Pulumi.yaml has the program loaded by ops/program-loader.cjs (runtime.options: typescript false,
# nodeargs), options the 3.68.0 host cannot read either. Preloaded through NODE_OPTIONS, the loader
# acts only in Pulumi's runner of the project in this folder, and does nothing in any other Node
# process. Sourced from another folder, nothing is preloaded, and ts-node loads the program as before.
# The quotes are Node's: NODE_OPTIONS takes a quoted path, so a folder with spaces works.
if [ -z "$K3OU_OFFICIAL_PULUMI" ] && [ -f "$PWD/ops/program-loader.cjs" ]; then
	# shellcheck disable=SC2089
	case "${NODE_OPTIONS:-}" in
	*program-loader.cjs*) ;;
	*) NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require=\"$PWD/ops/program-loader.cjs\"" ;;
	esac
	# shellcheck disable=SC2090
	export NODE_OPTIONS
fi

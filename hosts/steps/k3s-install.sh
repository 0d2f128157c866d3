# K3sServer / K3sAgent: a pinned k3s from a rendered config.yaml, with the join token from stdin into
# a root-only file (never on a command line or in the environment). The official install script does
# the service work; a staged binary takes the air-gap path (INSTALL_K3S_SKIP_DOWNLOAD).
: "${ROLE:?server or agent}" "${VERSION:?pinned k3s version}" "${CONFIG:?config.yaml}"
: "${SOURCE:?official or local}" "${READY_TIMEOUT:?seconds}" "${SCRIPT_SHA256:?pinned SHA-256 of the install script}"

config_path=/etc/rancher/k3s/config.yaml
token_path=$K3OU_TOKEN_FILE
case $ROLE in
server) service=k3s ;;
agent) service=k3s-agent ;;
*) die "unknown role $ROLE" "report this as a bug of k3s-over-usb" ;;
esac
init=$(detect_init)

IFS= read -r token || true
[ -n "${token:-}" ] || die "no join token arrived on stdin" "report this as a bug of k3s-over-usb"

installed=$( (/usr/local/bin/k3s --version 2>/dev/null || true) | awk 'NR == 1 {print $3}')
case $init in
openrc) service_file=/etc/init.d/$service ;;
systemd) service_file=/etc/systemd/system/$service.service ;;
esac
install_needed=1
if [ "$installed" = "$VERSION" ] && [ -f "$service_file" ]; then
	install_needed=0
fi

# Every file this run installs is fetched (or found where the stage step copied it) and checked
# against its pin first: a missing file or a mismatch stops here, with nothing on the host changed.
# Downloads go to a private folder that is removed however the step ends.
need sha256sum "install coreutils or busybox with sha256sum"
work=$(mktemp -d /tmp/k3s-over-usb.XXXXXX) || die "cannot create a private temporary folder in /tmp" "free space in /tmp"
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
check_pin() { # FILE PIN WHAT
	_sum=$(sha256sum "$1" | awk '{print $1}')
	[ "$_sum" = "$2" ] ||
		die "$3 does not match its pin: its SHA-256 is $_sum, the household pins $2; nothing was installed" "check that the pin in k3s.source.sha256 belongs to k3s $VERSION's file; if the file is wrong, run pulumi up again to fetch or copy it anew"
}
binary=
images_new=
if [ "$SOURCE" = local ]; then
	: "${STAGE_USER:?SSH user the files were copied as}" "${STAGE_REL:?folder below the home of that user}"
	home=$(awk -F: -v u="$STAGE_USER" '$1 == u {print $6}' /etc/passwd)
	STAGE_DIR="$home/$STAGE_REL"
	script=$STAGE_DIR/install.sh
	if [ "$install_needed" = 1 ]; then
		{ [ -f "$STAGE_DIR/k3s" ] && [ -f "$script" ]; } ||
			die "the staged k3s files are missing in $STAGE_DIR" "run pulumi up again; the stage step copies them"
		check_pin "$script" "$SCRIPT_SHA256" "the staged install script $script"
		check_pin "$STAGE_DIR/k3s" "$BINARY_SHA256" "the staged binary $STAGE_DIR/k3s"
		binary=$STAGE_DIR/k3s
	fi
	# k3s imports every tarball in agent/images at start: a changed one needs a restart.
	images=/var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar
	if [ -f "$STAGE_DIR/k3s-airgap-images.tar" ] && ! cmp -s "$STAGE_DIR/k3s-airgap-images.tar" "$images"; then
		[ -z "${IMAGES_SHA256:-}" ] || check_pin "$STAGE_DIR/k3s-airgap-images.tar" "$IMAGES_SHA256" "the staged images $STAGE_DIR/k3s-airgap-images.tar"
		images_new=$STAGE_DIR/k3s-airgap-images.tar
	fi
elif [ "$install_needed" = 1 ]; then
	: "${SCRIPT_URL:?install script URL}" "${BINARY_URL:?binary URL}"
	need curl "install curl, or use k3s.source kind: local for an air-gapped household"
	script=$work/install.sh
	curl -sfL "$SCRIPT_URL" -o "$script" ||
		die "cannot download $SCRIPT_URL" "check the host's internet access (phones go through the laptop's NAT)"
	check_pin "$script" "$SCRIPT_SHA256" "the install script from $SCRIPT_URL"
	if [ -n "${BINARY_SHA256:-}" ]; then
		curl -sfL "$BINARY_URL" -o "$work/k3s" ||
			die "cannot download $BINARY_URL" "check the host's internet access (phones go through the laptop's NAT)"
		check_pin "$work/k3s" "$BINARY_SHA256" "the binary from $BINARY_URL"
		binary=$work/k3s
	fi
	# Without a binary pin, the install script downloads k3s and checks it against the release's own
	# sha256sum file.
fi

umask 077
CHANGED=0
put_file "$token_path" 600 "$token
"
put_file "$config_path" 600 "$CONFIG"
settings_changed=$CHANGED
umask 022

if [ -n "$images_new" ]; then
	mkdir -p "${images%/*}"
	cp "$images_new" "$images.k3ou-tmp"
	mv -f "$images.k3ou-tmp" "$images"
	say "wrote: $images"
	settings_changed=1
fi

if [ "$install_needed" = 0 ]; then
	say "already: k3s $VERSION installed as $service"
	if [ "$settings_changed" = 1 ]; then
		case $init in
		openrc) rc-service "$service" restart >/dev/null ;;
		systemd) systemctl restart "$service" ;;
		esac
		say "restarted $service for the new config"
	fi
else
	say "installing k3s $VERSION ($ROLE, was: ${installed:-none})"
	# The install script's env file gets K3S_URL and the token file's path, never the token.
	export INSTALL_K3S_EXEC="$ROLE" INSTALL_K3S_VERSION="$VERSION" K3S_TOKEN_FILE="$token_path"
	if [ "$ROLE" = agent ]; then
		: "${SERVER_URL:?server URL}"
		export K3S_URL="$SERVER_URL"
	fi
	if [ -n "$binary" ]; then
		# A new name then a rename: the running k3s keeps its old file until it restarts.
		cp "$binary" /usr/local/bin/k3s.k3ou-tmp
		chmod 755 /usr/local/bin/k3s.k3ou-tmp
		mv -f /usr/local/bin/k3s.k3ou-tmp /usr/local/bin/k3s
		export INSTALL_K3S_SKIP_DOWNLOAD=true
	fi
	sh "$script" >&2 || die "the k3s install script failed" "read its output above"
	# Settings that changed with an unchanged binary do not make the script restart the service.
	if [ "$settings_changed" = 1 ] && [ -n "$installed" ]; then
		case $init in
		openrc) rc-service "$service" restart >/dev/null ;;
		systemd) systemctl restart "$service" ;;
		esac
	fi
fi

service_running() {
	case $init in
	openrc) rc-service "$service" status >/dev/null 2>&1 ;;
	systemd) systemctl is-active --quiet "$service" ;;
	esac
}
if ! service_running; then
	case $init in
	# A service whose supervisor was killed is "crashed" to OpenRC, which then refuses to start it
	# ("already started"): zap forgets that state first.
	openrc) rc-service "$service" zap >/dev/null 2>&1 || true; rc-service "$service" start >/dev/null ;;
	systemd) systemctl start "$service" ;;
	esac
fi
wait_for "$READY_TIMEOUT" "$service running" service_running ||
	die "$service is not running" "read /var/log/$service.log (OpenRC) or journalctl -u $service (systemd)"

if [ "$ROLE" = server ]; then
	api_ready() { [ "$(/usr/local/bin/k3s kubectl get --raw=/readyz 2>/dev/null)" = ok ]; }
	wait_for "$READY_TIMEOUT" "the API server answers /readyz" api_ready ||
		die "the API server did not become ready within $READY_TIMEOUT s" "read the k3s log on the laptop (journalctl -u k3s)"
fi

# The binary as installed now, for the check (k3s-install.check.sh): while its device, inode, size and
# times are these, it is this version, and the check need not run `k3s --version` (a 70 MB binary).
now_version=$( (/usr/local/bin/k3s --version 2>/dev/null || true) | awk 'NR == 1 {print $3}')
[ "$now_version" = "$VERSION" ] ||
	die "/usr/local/bin/k3s is ${now_version:-not runnable} after the install, not $VERSION" "read the install script's output above"
put_file "$K3OU_STATE/k3s-binary" 644 "$(stat -c '%d:%i %s %Y %Z' /usr/local/bin/k3s) $VERSION
"
say "ok: k3s $VERSION $ROLE"

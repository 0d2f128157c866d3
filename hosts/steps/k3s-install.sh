# K3sServer / K3sAgent: a pinned k3s from a rendered config.yaml, with the join token from stdin into
# a root-only file (never on a command line or in the environment). The official install script does
# the service work; a staged binary takes the air-gap path (INSTALL_K3S_SKIP_DOWNLOAD).
: "${ROLE:?server or agent}" "${VERSION:?pinned k3s version}" "${CONFIG:?config.yaml}"
: "${SOURCE:?official or local}" "${READY_TIMEOUT:?seconds}"

config_path=/etc/rancher/k3s/config.yaml
token_path=/etc/rancher/k3s/k3s-over-usb.token
case $ROLE in
server) service=k3s ;;
agent) service=k3s-agent ;;
*) die "unknown role $ROLE" "report this as a bug of k3s-over-usb" ;;
esac
init=$(detect_init)

IFS= read -r token || true
[ -n "${token:-}" ] || die "no join token arrived on stdin" "report this as a bug of k3s-over-usb"

umask 077
CHANGED=0
put_file "$token_path" 600 "$token
"
put_file "$config_path" 600 "$CONFIG"
settings_changed=$CHANGED
umask 022

if [ "$SOURCE" = local ]; then
	: "${STAGE_USER:?SSH user the files were copied as}" "${STAGE_REL:?folder below the home of that user}"
	home=$(awk -F: -v u="$STAGE_USER" '$1 == u {print $6}' /etc/passwd)
	STAGE_DIR="$home/$STAGE_REL"
	# k3s imports every tarball in agent/images at start: a changed one needs a restart.
	images=/var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar
	if [ -f "$STAGE_DIR/k3s-airgap-images.tar" ] && ! cmp -s "$STAGE_DIR/k3s-airgap-images.tar" "$images"; then
		mkdir -p "${images%/*}"
		cp "$STAGE_DIR/k3s-airgap-images.tar" "$images.k3ou-tmp"
		mv -f "$images.k3ou-tmp" "$images"
		say "wrote: $images"
		settings_changed=1
	fi
fi

installed=$( (/usr/local/bin/k3s --version 2>/dev/null || true) | awk 'NR == 1 {print $3}')
case $init in
openrc) service_file=/etc/init.d/$service ;;
systemd) service_file=/etc/systemd/system/$service.service ;;
esac

if [ "$installed" = "$VERSION" ] && [ -f "$service_file" ]; then
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
	if [ "$SOURCE" = local ]; then
		{ [ -f "$STAGE_DIR/k3s" ] && [ -f "$STAGE_DIR/install.sh" ]; } ||
			die "the staged k3s files are missing in $STAGE_DIR" "run pulumi up again; the stage step copies them"
		install -m 755 "$STAGE_DIR/k3s" /usr/local/bin/k3s
		INSTALL_K3S_SKIP_DOWNLOAD=true sh "$STAGE_DIR/install.sh" >&2 ||
			die "the k3s install script failed" "read its output above"
	else
		: "${SCRIPT_URL:?install script URL}"
		need curl "install curl, or use k3s.source kind: local for an air-gapped household"
		curl -sfL "$SCRIPT_URL" -o /tmp/k3s-over-usb-install.sh ||
			die "cannot download $SCRIPT_URL" "check the host's internet access (phones go through the laptop's NAT)"
		sh /tmp/k3s-over-usb-install.sh >&2 || die "the k3s install script failed" "read its output above"
		rm -f /tmp/k3s-over-usb-install.sh
	fi
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
say "ok: k3s $VERSION $ROLE"

# PmosNode: a postmarketOS phone made a server: its own hostname first, radios off for good, the
# firewall letting pod traffic through, forwarding sysctls, the LAN's resolvers, cgroup v2 for k3s.
: "${NODE_NAME:?hostname}" "${FIREWALL:?keep or flush}"
: "${NFT_DROPIN_PATH:?}" "${NFT_DROPIN:?}" "${SYSCTL_PATH:?}" "${SYSCTL:?}"
: "${RADIOS_SCRIPT_PATH:?}" "${RADIOS_SCRIPT:?}" "${RADIOS_OPENRC_HOOK_PATH:?}" "${RADIOS_OPENRC_HOOK:?}"
: "${RADIOS_UNIT_PATH:?}" "${RADIOS_UNIT:?}" "${RADIOS_UNIT_NAME:?}"

init=$(detect_init)
say "init system: $init"
state=$K3OU_STATE
mkdir -p "$state"

# Hostname first: an agent that joins as the image's default name must be deleted and rejoined.
[ -f "$state/hostname.orig" ] || cat /etc/hostname > "$state/hostname.orig" 2>/dev/null || echo localhost > "$state/hostname.orig"
put_file /etc/hostname 644 "$NODE_NAME
"
hosts_line=$(printf '127.0.0.1\t%s localhost.localdomain localhost' "$NODE_NAME")
if ! grep -qxF "$hosts_line" /etc/hosts; then
	{ grep -v '^127\.0\.0\.1[[:space:]]' /etc/hosts || true; printf '%s\n' "$hosts_line"; } > /etc/hosts.k3ou-tmp
	cat /etc/hosts.k3ou-tmp > /etc/hosts
	rm -f /etc/hosts.k3ou-tmp
	say "wrote: /etc/hosts"
fi
if [ "$(hostname)" != "$NODE_NAME" ]; then
	if [ "$init" = systemd ] && command -v hostnamectl >/dev/null 2>&1; then
		hostnamectl set-hostname "$NODE_NAME"
	else
		hostname "$NODE_NAME"
	fi
	say "hostname: $NODE_NAME"
fi

# Radios: NetworkManager keeps its radio switches across reboots; bluetooth's rfkill state is not
# restored by pmOS (RESTORE_ON_START unset), so a boot hook blocks it every time.
put_file "$RADIOS_SCRIPT_PATH" 755 "$RADIOS_SCRIPT"
case $init in
openrc)
	put_file "$RADIOS_OPENRC_HOOK_PATH" 755 "$RADIOS_OPENRC_HOOK"
	rc-update show default 2>/dev/null | grep -qw local || rc-update add local default >/dev/null
	;;
systemd)
	CHANGED=0
	put_file "$RADIOS_UNIT_PATH" 644 "$RADIOS_UNIT"
	[ "$CHANGED" = 1 ] && systemctl daemon-reload
	systemctl is-enabled --quiet "$RADIOS_UNIT_NAME" || systemctl enable --quiet "$RADIOS_UNIT_NAME"
	;;
esac
"$RADIOS_SCRIPT_PATH"
say "radios: off"

# Firewall. pmOS's forward chain (policy drop) passes only usb*/wlan*; pods arrive on cni0 and
# flannel.1. "keep" adds a drop-in and keeps the host firewall; "flush" is the seed's removal.
need nft "install nftables"
if [ "$FIREWALL" = keep ]; then
	put_file "$NFT_DROPIN_PATH" 644 "$NFT_DROPIN"
	if [ -f /etc/nftables.nft ]; then
		nft -c -f /etc/nftables.nft || die "the firewall with $NFT_DROPIN_PATH does not load" "run nft -c -f /etc/nftables.nft on the phone"
	fi
	if nft list chain inet filter forward 2>/dev/null | grep -q 'k3s-over-usb'; then
		say "already: k3s rules in the live firewall"
	else
		# Loading only the drop-in appends its rules; reloading the whole service would flush the
		# tables k3s keeps in the same ruleset.
		nft -f "$NFT_DROPIN_PATH"
		say "loaded: $NFT_DROPIN_PATH"
	fi
	if [ "$init" = openrc ] && ! rc-update show default 2>/dev/null | grep -qw nftables; then
		rc-update add nftables default >/dev/null
		say "enabled: nftables (the host firewall stays on)"
	fi
else
	[ -f "$state/nftables.nft.orig" ] || cp /etc/nftables.nft "$state/nftables.nft.orig" 2>/dev/null || true
	put_file /etc/nftables.nft 644 "#!/usr/sbin/nft -f
flush ruleset
"
	case $init in
	openrc) rc-update show default 2>/dev/null | grep -qw nftables && rc-update del nftables default >/dev/null ;;
	systemd) systemctl is-enabled --quiet nftables.service 2>/dev/null && systemctl disable --quiet nftables.service ;;
	esac
	if nft list table inet filter >/dev/null 2>&1; then
		nft delete table inet filter
		say "removed: the pmOS firewall (firewall: flush)"
	fi
fi

put_file "$SYSCTL_PATH" 644 "$SYSCTL"
sysctl -p "$SYSCTL_PATH" >/dev/null

# Resolvers: NetworkManager first stops managing /etc/resolv.conf, then the file names the LAN's
# resolvers (reached through the laptop's NAT). The phone's own file (or symlink) is kept to restore.
if [ ! -e "$state/resolv.conf.orig" ] && [ ! -L "$state/resolv.conf.orig" ] && [ ! -e "$state/resolv.conf.none" ]; then
	if [ -e /etc/resolv.conf ] || [ -L /etc/resolv.conf ]; then
		cp -P /etc/resolv.conf "$state/resolv.conf.orig"
	else
		: > "$state/resolv.conf.none"
	fi
fi
CHANGED=0
put_file "$NM_DNS_DROPIN_PATH" 644 "$NM_DNS_DROPIN"
if [ "$CHANGED" = 1 ] && command -v nmcli >/dev/null 2>&1 && nmcli general status >/dev/null 2>&1; then
	nmcli general reload conf >/dev/null 2>&1 || nmcli general reload
fi
[ -L /etc/resolv.conf ] && rm -f /etc/resolv.conf
put_file /etc/resolv.conf 644 "$RESOLV_CONF"

# cgroup v2: the sdm845 kernel has no v1 memory controller, so k3s needs the unified hierarchy.
if [ "$init" = openrc ] && [ -f /etc/rc.conf ]; then
	if ! grep -qx 'rc_cgroup_mode="unified"' /etc/rc.conf; then
		{ grep -v '^#\{0,1\}rc_cgroup_mode=' /etc/rc.conf || true; echo 'rc_cgroup_mode="unified"'; } > /etc/rc.conf.k3ou-tmp
		cat /etc/rc.conf.k3ou-tmp > /etc/rc.conf
		rm -f /etc/rc.conf.k3ou-tmp
		say "rc.conf: rc_cgroup_mode=\"unified\""
	fi
	if ! rc-update show 2>/dev/null | grep -qw cgroups; then
		rc-update add cgroups default >/dev/null
		say "enabled: cgroups"
	fi
fi
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
	say "ok: cgroup v2"
else
	say "cgroup v2 is not mounted yet: reboot pending"
fi
say "ok: $NODE_NAME prepared"

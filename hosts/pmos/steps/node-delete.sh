# PmosNode, on delete: the phone's hostname, firewall, radios and resolvers as they were before.
: "${FIREWALL:?}" "${NFT_DROPIN_PATH:?}" "${SYSCTL_PATH:?}" "${NM_DNS_DROPIN_PATH:?}" "${RADIOS_SCRIPT_PATH:?}"
: "${RADIOS_OPENRC_HOOK_PATH:?}" "${RADIOS_UNIT_PATH:?}" "${RADIOS_UNIT_NAME:?}"

init=$(detect_init)
state=$K3OU_STATE

if [ "$FIREWALL" = keep ]; then
	remove_file "$NFT_DROPIN_PATH"
	for chain in input forward; do
		nft -a list chain inet filter "$chain" 2>/dev/null | sed -n 's/.*k3s-over-usb.*# handle \([0-9]*\)$/\1/p' |
			while read -r handle; do nft delete rule inet filter "$chain" handle "$handle"; done
	done
elif [ -f "$state/nftables.nft.orig" ]; then
	cp "$state/nftables.nft.orig" /etc/nftables.nft
	rm -f "$state/nftables.nft.orig"
	case $init in
	openrc) rc-update add nftables default >/dev/null 2>&1 || true ;;
	systemd) systemctl enable --quiet nftables.service || true ;;
	esac
	nft -f /etc/nftables.nft
	say "restored: the pmOS firewall"
fi

remove_file "$SYSCTL_PATH"
remove_file "$RADIOS_OPENRC_HOOK_PATH"
if [ "$init" = systemd ]; then
	systemctl disable --quiet "$RADIOS_UNIT_NAME" 2>/dev/null || true
	remove_file "$RADIOS_UNIT_PATH"
	systemctl daemon-reload
fi
remove_file "$RADIOS_SCRIPT_PATH"
if command -v nmcli >/dev/null 2>&1; then
	nmcli radio wifi on || true
	nmcli radio wwan on || true
fi
rfkill unblock bluetooth 2>/dev/null || true

if [ -e "$state/resolv.conf.orig" ] || [ -L "$state/resolv.conf.orig" ]; then
	rm -f /etc/resolv.conf
	mv "$state/resolv.conf.orig" /etc/resolv.conf
	say "restored: /etc/resolv.conf"
elif [ -e "$state/resolv.conf.none" ]; then
	remove_file /etc/resolv.conf
	rm -f "$state/resolv.conf.none"
fi
remove_file "$NM_DNS_DROPIN_PATH"
if command -v nmcli >/dev/null 2>&1 && nmcli general status >/dev/null 2>&1; then
	nmcli general reload conf >/dev/null 2>&1 || nmcli general reload || true
fi

if [ -f "$state/hostname.orig" ]; then
	orig=$(cat "$state/hostname.orig")
	printf '%s\n' "$orig" > /etc/hostname
	{ grep -v '^127\.0\.0\.1[[:space:]]' /etc/hosts || true; printf '127.0.0.1\t%s localhost.localdomain localhost\n' "$orig"; } > /etc/hosts.k3ou-tmp
	cat /etc/hosts.k3ou-tmp > /etc/hosts
	rm -f /etc/hosts.k3ou-tmp "$state/hostname.orig"
	hostname "$orig"
	say "hostname back to $orig"
fi
say "ok: node settings removed"

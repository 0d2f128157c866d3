# PmosNode: the hostname, live and persistent; radios off and kept off at boot; the pmOS firewall on
# and passing pod traffic (or flushed, when the household says so); forwarding sysctls; resolvers.
init=$(check_init)
live=$(hostname)
if [ "$live" != "$NODE_NAME" ]; then
	fail hostname "the hostname is $live, not $NODE_NAME" up
elif ! same_file /etc/hostname "$NODE_NAME
"; then
	fail hostname "/etc/hostname is not $NODE_NAME: the next boot would rename the node" up
else
	ok hostname "$NODE_NAME"
fi

case $init in
systemd) hook_path=$RADIOS_UNIT_PATH hook=$RADIOS_UNIT ;;
*) hook_path=$RADIOS_OPENRC_HOOK_PATH hook=$RADIOS_OPENRC_HOOK ;;
esac
on=""
if command -v rfkill >/dev/null 2>&1; then
	on=$(rfkill list 2>/dev/null | awk '/^[0-9]+:/ { dev = $0 } /Soft blocked: no/ { sub(/^[0-9]+: /, "", dev); printf "%s; ", dev }')
fi
if command -v nmcli >/dev/null 2>&1 && [ "$(nmcli radio wifi 2>/dev/null)" = enabled ]; then
	on="${on}NetworkManager wifi; "
fi
if bad=$(first_bad_file "$RADIOS_SCRIPT_PATH" "$RADIOS_SCRIPT" "$hook_path" "$hook"); then
	fail radios "$bad is missing or not what the stack wrote: radios come back at boot" up
elif [ -n "$on" ]; then
	fail radios "radios on: ${on%; }" up
else
	ok radios "off"
fi

if ! same_file /etc/resolv.conf "$RESOLV_CONF"; then
	fail dns "/etc/resolv.conf does not name the LAN's resolvers: the phone cannot resolve names" up
elif ! same_file "$NM_DNS_DROPIN_PATH" "$NM_DNS_DROPIN"; then
	fail dns "$NM_DNS_DROPIN_PATH is missing: NetworkManager may rewrite /etc/resolv.conf" up
else
	ok dns "$(awk '/^nameserver/ { printf "%s%s", s, $2; s = " " }' /etc/resolv.conf)"
fi

if [ "$FIREWALL" = keep ]; then
	if ! same_file "$NFT_DROPIN_PATH" "$NFT_DROPIN"; then
		fail firewall "$NFT_DROPIN_PATH is missing or not what the stack wrote" up
	elif ! nft list chain inet filter forward 2>/dev/null | grep -q 'policy drop'; then
		fail firewall "the pmOS firewall is off (no inet filter forward chain with policy drop)" up
	elif ! nft list chain inet filter forward 2>/dev/null | grep -q 'k3s-over-usb'; then
		fail firewall "the live firewall lacks the pod rules of $NFT_DROPIN_PATH: pod traffic is dropped" up
	elif [ "$init" = openrc ] && ! rc-update show default 2>/dev/null | grep -qw nftables; then
		fail firewall "nftables is not enabled at boot" up
	else
		ok firewall "on, pod rules loaded"
	fi
else
	if nft list table inet filter >/dev/null 2>&1; then
		fail firewall "the pmOS firewall is back (firewall: flush)" up
	else
		ok firewall "flushed"
	fi
fi

sysctl_check forward "$SYSCTL_PATH" "$SYSCTL" "sysctls as written"

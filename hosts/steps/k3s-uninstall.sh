# K3sServer / K3sAgent, on delete: the official uninstall script (services, data, iptables, CNI links).
: "${ROLE:?server or agent}"

case $ROLE in
server) script=/usr/local/bin/k3s-uninstall.sh ;;
agent) script=/usr/local/bin/k3s-agent-uninstall.sh ;;
*) die "unknown role $ROLE" "report this as a bug of k3s-over-usb" ;;
esac
if [ -x "$script" ]; then
	"$script" >&2 || die "$script failed" "read its output above and run it again on the host"
	say "uninstalled k3s ($ROLE)"
else
	say "already: no k3s $ROLE installed"
fi
rm -rf /etc/rancher/k3s
rm -f "$K3OU_STATE/k3s-binary"

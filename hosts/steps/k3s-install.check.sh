# K3sServer / K3sAgent: the pinned binary, the rendered config, the service running and enabled.
case $ROLE in server) service=k3s ;; *) service=k3s-agent ;; esac
init=$(check_init)
# The version the install step saw, while the binary is the file it saw (device, inode, size, times:
# a replaced or rewritten binary differs); otherwise the binary's own answer.
seen=$(cat "$K3OU_STATE/k3s-binary" 2>/dev/null || true)
now=$(stat -c '%d:%i %s %Y %Z' /usr/local/bin/k3s 2>/dev/null || true)
if [ -n "$now" ] && [ "${seen% *}" = "$now" ]; then
	installed=${seen##* }
else
	installed=$( (/usr/local/bin/k3s --version 2>/dev/null || true) | awk 'NR == 1 {print $3}')
fi
state=$(service_state "$service" "$init")
if [ "$installed" != "$VERSION" ]; then
	fail k3s "k3s is ${installed:-not installed}, not $VERSION" up
elif ! same_file /etc/rancher/k3s/config.yaml "$CONFIG"; then
	fail k3s "/etc/rancher/k3s/config.yaml is missing or not what the stack wrote" up
elif [ ! -s "$K3OU_TOKEN_FILE" ]; then
	fail k3s "the join token file is missing" up
elif [ "$state" != running ]; then
	fail k3s "$service is $state" up
else
	ok k3s "$VERSION $service running"
fi

#!/usr/bin/env bash
# End-to-end check of our command and random providers with the real engine: a throwaway sshd in a
# throwaway network namespace, a small TypeScript program (RandomPassword piped as stdin into a
# remote.Command, plus a CopyToRemote), then up / preview --expect-no-changes / up after an input change
# / destroy, every pulumi command run inside the namespace. Asserts what ran on the "host" and that the
# state holds no plaintext password.
#
# Needs: root, ip(8), /usr/sbin/sshd, ssh-keygen, node >= 22 and npm on PATH, tools/pulumi-engine/build.sh
# done. npm install runs outside the namespace (it needs the registry); pulumi runs inside (loopback only).
# Usage: tools/pulumi-engine/providers/e2e/run.sh   (exit 0: all checks passed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
engine=$(cd "$here/../.." && pwd)

[ "$(id -u)" = 0 ] || { echo "e2e: needs root (network namespace)" >&2; exit 1; }
for c in ip /usr/sbin/sshd ssh-keygen node npm; do
	command -v "$c" >/dev/null || { echo "e2e: needs $c" >&2; exit 1; }
done

# shellcheck source=../../env.sh
. "$engine/env.sh"
command -v pulumi >/dev/null || { echo "e2e: no pulumi; run tools/pulumi-engine/build.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/k3ou-provider-e2e.XXXXXX)
ns=k3ou-e2e-$$
sshd_pid=
cleanup() {
	if [ -n "$sshd_pid" ]; then
		kill "$sshd_pid" 2>/dev/null || true
		wait "$sshd_pid" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	if [ -z "${K3OU_E2E_KEEP:-}" ]; then rm -rf "$work"; else echo "e2e: kept $work"; fi
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# --- the "host": sshd in its own namespace, root login with a throwaway key, sftp rooted in $work/home
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir -p "$work/home" "$work/remote" "$work/state" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C k3ou-e2e-host -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -C k3ou-e2e-client -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
cat >"$work/sshd_config" <<EOF
ListenAddress 127.0.0.1:2222
HostKey $work/host_key
PidFile none
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp /usr/lib/openssh/sftp-server -d $work/home
EOF
ip netns exec "$ns" /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 50); do
	grep -q "Server listening" "$work/sshd.log" && break
	sleep 0.1
done
grep -q "Server listening" "$work/sshd.log" || fail "sshd did not start: $(cat "$work/sshd.log")"

# --- the program
proj=$work/project
mkdir -p "$proj"
cat >"$proj/Pulumi.yaml" <<'EOF'
name: k3ou-provider-e2e
runtime:
  name: nodejs
  options:
    typescript: true
EOF
cat >"$proj/tsconfig.json" <<'EOF'
{ "compilerOptions": { "strict": true, "target": "es2022", "module": "commonjs", "moduleResolution": "node",
  "esModuleInterop": true, "skipLibCheck": true }, "files": ["index.ts"] }
EOF
cat >"$proj/index.ts" <<'EOF'
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";

const cfg = new pulumi.Config();
const dir = cfg.require("dir"); // where the remote side writes what it saw
const mark = cfg.require("mark"); // changing it changes `create`: an update
const connection = {
    host: "127.0.0.1",
    port: 2222,
    user: "root",
    privateKey: fs.readFileSync(cfg.require("keyFile"), "utf8"),
    hostKey: cfg.require("hostKey"),
};

const pw = new random.RandomPassword("pw", { length: 48, special: false });

const cmd = new command.remote.Command("cmd", {
    connection,
    create: `read -r pw; printf '%s' "$pw" > ${dir}/received; echo "create ${mark}" >> ${dir}/log; echo "len=\${#pw}"`,
    delete: `echo "delete" >> ${dir}/log`,
    stdin: pw.result,
    addPreviousOutputInEnv: false,
});

// A triggers change replaces: the new create first, then the old resource's delete, with its old inputs.
new command.remote.Command("trig", {
    connection,
    create: `echo "create ${mark}" >> ${dir}/trig`,
    delete: `echo "delete ${mark}" >> ${dir}/trig`,
    triggers: [mark],
    addPreviousOutputInEnv: false,
});

const copy = new command.remote.CopyToRemote("copy", {
    connection,
    source: new pulumi.asset.FileAsset("payload.txt"),
    remotePath: "stage/sub/payload.txt", // relative to the login directory
});

export const stdout = cmd.stdout;
export const copied = copy.remotePath;
EOF
echo "payload from the e2e program" >"$proj/payload.txt"

start=$SECONDS
echo '{ "name": "k3ou-provider-e2e", "private": true }' >"$proj/package.json"
(cd "$proj" && npm install --ignore-scripts --no-audit --no-fund @pulumi/pulumi@3.259.0 @pulumi/command@1.2.1 \
		@pulumi/random@4.21.1 typescript@5 ts-node @types/node@24 >"$work/npm.log" 2>&1) ||
	fail "npm install: $(tail -n 20 "$work/npm.log")"
echo "npm install: $((SECONDS - start)) s"

# Every pulumi command runs in the namespace: loopback only.
export PULUMI_CONFIG_PASSPHRASE=e2e-passphrase
p() { (cd "$proj" && ip netns exec "$ns" env PATH="$PATH" pulumi --non-interactive "$@"); }

p login "file://$work/state" >/dev/null
p stack init e2e >/dev/null
p config set dir "$work/remote"
p config set mark 1
p config set keyFile "$work/client_key"
p config set hostKey "$(cat "$work/host_key.pub")"

step() { # step NAME ARGS...: runs pulumi ARGS, logs to $work/NAME.log, fails on a non-zero exit
	local name=$1 t=$SECONDS
	shift
	if p "$@" >"$work/$name.log" 2>&1; then
		echo "pulumi $*: exit 0, $((SECONDS - t)) s"
	else
		cat "$work/$name.log" >&2
		fail "pulumi $*"
	fi
}

step up1 up --yes
[ "$(cat "$work/remote/log")" = "create 1" ] || fail "after up, remote log: $(cat "$work/remote/log")"
password=$(cat "$work/remote/received")
[ ${#password} = 48 ] || fail "the password that reached the host has ${#password} characters"
[ "$(p stack output stdout)" = "len=48" ] || fail "stdout output: $(p stack output stdout)"
[ "$(cat "$work/home/stage/sub/payload.txt")" = "payload from the e2e program" ] || fail "CopyToRemote"
pass "up: create ran once, the 48-character password arrived on stdin, stdout captured, file copied"

step preview1 preview --expect-no-changes
step refresh refresh --yes
step preview1b preview --expect-no-changes
[ "$(cat "$work/remote/log")" = "create 1" ] || fail "preview or refresh ran something: $(cat "$work/remote/log")"
pass "preview --expect-no-changes, refresh, preview --expect-no-changes again; nothing ran"

p stack export >"$work/state.json"
p stack export --show-secrets >"$work/state-plain.json"
grep -qF "$password" "$work/state-plain.json" || fail "the check is blind: the password is not in --show-secrets either"
if grep -qF "$password" "$work/state.json"; then fail "the state holds the plaintext password"; fi
node - "$work/state.json" <<'EOF' || fail "secret markers"
const state = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const sig = "4dabf18193072939515e22adb298388d";
const isSecret = (v) => v !== null && typeof v === "object" && v[sig] === "1b47061264138c4ac30d75fd1eb44270";
const res = (t, name) => state.deployment.resources.find((r) => r.type === t && (!name || r.urn.endsWith(`::${name}`)));
const checks = [
    ["RandomPassword outputs.result", res("random:index/randomPassword:RandomPassword").outputs.result],
    ["RandomPassword outputs.bcryptHash", res("random:index/randomPassword:RandomPassword").outputs.bcryptHash],
    ["Command inputs.stdin", res("command:remote:Command", "cmd").inputs.stdin],
    ["Command outputs.stdin", res("command:remote:Command", "cmd").outputs.stdin],
    ["Command inputs.connection", res("command:remote:Command", "cmd").inputs.connection],
    ["Command outputs.connection", res("command:remote:Command", "cmd").outputs.connection],
    ["CopyToRemote outputs.connection", res("command:remote:CopyToRemote").outputs.connection],
];
let ok = true;
for (const [name, v] of checks) {
    if (!isSecret(v)) { console.error(`not secret: ${name}`); ok = false; }
}
if (res("random:index/randomPassword:RandomPassword").id !== "none") { console.error("RandomPassword id is not none"); ok = false; }
process.exit(ok ? 0 : 1);
EOF
pass "state: no plaintext password; result, bcryptHash, stdin, connection are secrets; RandomPassword id none"

p config set mark 2
step up2 up --yes
grep -q "command:remote:Command cmd updated" "$work/up2.log" || fail "second up did not update cmd: $(cat "$work/up2.log")"
grep -q "command:remote:Command trig replaced" "$work/up2.log" || fail "second up did not replace trig: $(cat "$work/up2.log")"
[ "$(cat "$work/remote/log")" = "$(printf 'create 1\ncreate 2')" ] || fail "after the update, remote log: $(cat "$work/remote/log")"
[ "$(cat "$work/remote/received")" = "$password" ] || fail "the password changed on an unrelated update"
pass "changed input: an update ran create again with the new input; the password stayed"
[ "$(cat "$work/remote/trig")" = "$(printf 'create 1\ncreate 2\ndelete 1')" ] || fail "triggers replace, log: $(cat "$work/remote/trig")"
pass "changed triggers: replaced (new create, then the old delete with the old inputs)"

step preview2 preview --expect-no-changes
step destroy destroy --yes
[ "$(tail -n 1 "$work/remote/log")" = "delete" ] || fail "after destroy, remote log: $(cat "$work/remote/log")"
[ "$(tail -n 1 "$work/remote/trig")" = "delete 2" ] || fail "after destroy, trig log: $(cat "$work/remote/trig")"
pass "destroy: delete ran"
[ -f "$work/home/stage/sub/payload.txt" ] && pass "CopyToRemote left the file on destroy (as the official provider)"
echo "e2e: all checks passed in $((SECONDS - start)) s (logs in $work while it runs; K3OU_E2E_KEEP=1 keeps them)"

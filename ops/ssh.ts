import { Client, type ClientChannel, type ConnectConfig } from "ssh2";

// The operator's own SSH client (ssh2): the lab tests and the doctor reach hosts with it exactly as
// the program's connections describe them: host keys pinned, phones through the laptop.

export interface Endpoint {
    readonly host: string;
    readonly port?: number;
    readonly user: string;
    readonly privateKey: string;
    /** "ssh-ed25519 AAAA...": the only key accepted for this host. */
    readonly hostKey: string;
    /** A jump host, as pulumi-command's connection.proxy. */
    readonly proxy?: Endpoint;
}

export interface ExecResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

export class HostKeyMismatch extends Error {}

function keyBlob(hostKey: string): Buffer {
    const parts = hostKey.trim().split(/\s+/);
    if (parts.length < 2) {
        throw new Error(`not a host key: ${hostKey}`);
    }
    return Buffer.from(parts[1]!, "base64");
}

function describe(e: Endpoint): string {
    return e.proxy ? `${e.user}@${e.host} via ${describe(e.proxy)}` : `${e.user}@${e.host}`;
}

/**
 * Opens a client; through `proxy` when the endpoint has one (a direct-tcpip channel, like ssh -W).
 * `via`, an open client to the proxy, is shared instead of opening one (the doctor reaches every
 * phone through one laptop connection); it stays open when this client closes.
 */
export async function connect(endpoint: Endpoint, timeoutMs = 15_000, via?: Client): Promise<Client> {
    let sock: ClientChannel | undefined;
    let jump: Client | undefined;
    if (endpoint.proxy) {
        jump = via ?? (await connect(endpoint.proxy, timeoutMs));
        const j = jump;
        sock = await new Promise<ClientChannel>((resolve, reject) => {
            // The jump host's own connect can hang for minutes on a link that is down.
            const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
            timer.unref();
            j.forwardOut("127.0.0.1", 0, endpoint.host, endpoint.port ?? 22, (err, channel) => {
                clearTimeout(timer);
                if (err) {
                    reject(err);
                } else {
                    resolve(channel);
                }
            });
        }).catch((err: Error) => {
            if (!via) {
                j.end();
            }
            throw new Error(`${describe(endpoint)}: the jump host could not reach it: ${err.message}`);
        });
    }
    const expected = keyBlob(endpoint.hostKey);
    const client = new Client();
    let mismatch = false;
    const config: ConnectConfig = {
        host: endpoint.proxy ? undefined : endpoint.host,
        port: endpoint.proxy ? undefined : (endpoint.port ?? 22),
        sock,
        username: endpoint.user,
        privateKey: endpoint.privateKey,
        readyTimeout: timeoutMs,
        hostVerifier: (key: Buffer) => {
            mismatch = !key.equals(expected);
            return !mismatch;
        },
    };
    return new Promise<Client>((resolve, reject) => {
        client.once("ready", () => {
            if (jump && !via) {
                const j = jump;
                client.once("close", () => j.end());
            }
            resolve(client);
        });
        client.once("error", (err: Error) => {
            if (!via) {
                jump?.end();
            }
            reject(mismatch ? new HostKeyMismatch(`${describe(endpoint)}: host key does not match the pinned key`) : new Error(`${describe(endpoint)}: ${err.message}`));
        });
        client.connect(config);
    });
}

/** Runs one command line; stdin, if given, is written and closed. */
export function exec(client: Client, command: string, stdin?: string): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
        client.exec(command, (err, stream) => {
            if (err) {
                reject(err);
                return;
            }
            const out: Buffer[] = [];
            const errs: Buffer[] = [];
            stream.on("data", (d: Buffer) => out.push(d));
            stream.stderr.on("data", (d: Buffer) => errs.push(d));
            stream.on("close", (code: number | null) =>
                resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errs).toString("utf8") }),
            );
            if (stdin !== undefined) {
                stream.end(stdin);
            } else {
                stream.end();
            }
        });
    });
}

/** Connects, runs, disconnects. */
export async function run(endpoint: Endpoint, command: string, stdin?: string): Promise<ExecResult> {
    const client = await connect(endpoint);
    try {
        return await exec(client, command, stdin);
    } finally {
        client.end();
    }
}

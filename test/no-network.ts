import { Client } from "ssh2";

// Loaded before every unit test (vitest.config.mts): no unit test may reach a host, since the
// homelab config names real addresses. Any SSH connection attempt fails at once, naming itself.
Client.prototype.connect = function (this: Client, config: { host?: string; port?: number }): Client {
    throw new Error(`SSH to ${config.host ?? "?"}:${config.port ?? 22} attempted from a unit test (test/no-network.ts forbids it)`);
};

import { describe, expect, it } from "vitest";
import { connect } from "../../ops/ssh";

// The unit project's guard (test/no-network.ts) holds: a connection the code under test attempts
// fails at once, before any packet leaves, instead of dialling the homelab's real addresses.

describe("no unit test reaches a host", () => {
    it("an SSH connection attempt fails at once, naming where it would have gone", async () => {
        const started = Date.now();
        await expect(connect({ host: "192.168.100.52", port: 22, user: "ubuntu", hostKey: "ssh-ed25519 AAAA", privateKey: "x" }, 15_000)).rejects.toThrow(
            /SSH to 192\.168\.100\.52:22 attempted from a unit test/,
        );
        expect(Date.now() - started).toBeLessThan(1000);
    });
});

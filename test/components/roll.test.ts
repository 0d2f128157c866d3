import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { homelabConfig } from "../fixtures";
import { edges, installMocks, mockPrivateKey, previousOutputs, recordEdges, registered, unwrap } from "./mocks";

// The homelab graph when k3s.version changed since the last up: the agents roll, maxUnavailable at a
// time in the household's order, after the server; a downgrade is refused before anything is registered.

type Outputs = Record<string, any>;
const phones = ["one6t", "one62", "one61"];
const cmd = (name: string) => `command:remote:Command::${name}`;
const logged: string[] = [];

function setHousehold(edit: (h: Record<string, any>) => void): void {
    const config = homelabConfig();
    const household = structuredClone(config["k3s-over-usb:household"]) as Record<string, any>;
    edit(household);
    pulumi.runtime.setAllConfig(
        { "k3s-over-usb:household": JSON.stringify(household), "k3s-over-usb:sshPrivateKey": mockPrivateKey, "k3s-over-usb:driftCheck": "false" },
        ["k3s-over-usb:sshPrivateKey"],
    );
}

let program: () => Promise<Outputs>;

beforeAll(async () => {
    installMocks();
    const spy = vi.spyOn(pulumi.log, "info").mockImplementation((message: string) => {
        logged.push(message);
        return Promise.resolve();
    });
    // The last up ran an older k3s; this one pins v1.35.5+k3s1 and lets two phones go at once.
    previousOutputs["k3sVersion"] = "v1.35.4+k3s1";
    setHousehold((h) => {
        h["k3s"].upgrade = { maxUnavailable: 2 };
    });
    await pulumi.runtime.runInPulumiStack(async () => {
        recordEdges();
        program = (await import("../../index")).default;
        const stack = await program();
        await unwrap(stack["nodes"] as pulumi.Input<unknown>);
        return undefined;
    });
    spy.mockRestore();
});

describe("an upgrade's roll", () => {
    it("chains each phone's drain to the Ready of the phone maxUnavailable places before it", () => {
        expect(edges.get(cmd("one6t-drain"))?.dependsOn).toEqual([cmd("one6t-forget-previous")]);
        expect(edges.get(cmd("one62-drain"))?.dependsOn).toEqual([cmd("one62-forget-previous")]);
        expect(edges.get(cmd("one61-drain"))?.dependsOn).toEqual([cmd("one61-forget-previous"), cmd("one6t-ready")]);
        for (const p of phones) {
            // The install waits for its drain and for the server (upgraded first); so does the forget before the drain.
            expect(edges.get(cmd(`${p}-install`))?.dependsOn).toEqual([cmd(`${p}-drain`), "k3s-over-usb:k3s:K3sServer::k3master"]);
            expect(edges.get(cmd(`${p}-forget-previous`))?.dependsOn).toEqual(["k3s-over-usb:k3s:K3sServer::k3master"]);
        }
    });

    it("says the order before anything runs (preview prints it too)", () => {
        expect(logged).toEqual([
            "k3s v1.35.4+k3s1 -> v1.35.5+k3s1: the server k3master first, then the phones in this order, 2 at a time (cordon, drain, upgrade, Ready, uncordon): one6t, one62, one61",
        ]);
    });

    it("hands the drain its version and timeout, and the ready step the version it records", () => {
        const drain = registered.find((r) => r.name === "one62-drain")!.inputs["stdin"] as string;
        expect(drain).toContain("export VERSION='v1.35.5+k3s1'\nexport DRAIN_TIMEOUT='300'\n");
        expect(registered.find((r) => r.name === "one62-ready")!.inputs["stdin"]).toContain("export VERSION='v1.35.5+k3s1'\n");
    });

    it("refuses a downgrade before any resource is registered, naming both versions and the way to allow it", async () => {
        const before = registered.length;
        setHousehold((h) => {
            h["k3s"].version = "v1.35.3+k3s1";
        });
        const refused = program();
        await expect(refused).rejects.toThrow("Pulumi.homelab.yaml, k3s-over-usb:household: the household config has 1 problem; nothing was changed on any host:");
        await expect(refused).rejects.toThrow(
            "k3s.version: is older than v1.35.4+k3s1, which the cluster runs [downgrade]; value v1.35.3+k3s1; fix: pin v1.35.4+k3s1 or newer; to go back on purpose, set k3s.upgrade.allowDowngrade: true",
        );
        // The read of the stack's own last outputs, which touches no host, and nothing that would.
        const after = registered.slice(before).map((r) => r.type);
        expect(after).toContain("pulumi:pulumi:StackReference");
        expect(after.filter((t) => t.startsWith("command:") || t.startsWith("k3s-over-usb:"))).toEqual([]);
    });
});

import { describe, expect, it } from "vitest";
import { effectiveDependencies, profile, timeline } from "../../tools/bench-profile";

const urn = (name: string) => `urn:pulumi:bench::k3s-over-usb::k3s-over-usb:net:UsbLink$command:remote:Command::${name}`;
const pre = (t: number, name: string, op = "create") => ({ timestamp: t, resourcePreEvent: { metadata: { urn: urn(name), op } } });
const out = (t: number, name: string, op = "create") => ({ timestamp: t, resOutputsEvent: { metadata: { urn: urn(name), op } } });

describe("the benchmark's profile of an up", () => {
    it("weighs the longest chain of dependent steps, and ranks steps by their own time", () => {
        // a (0-4) -> c (4-9); b (0-2) -> c; d (1-3) alone; e unchanged.
        const events = [pre(0, "a"), pre(0, "b"), pre(1, "d"), out(2, "b"), out(3, "d"), out(4, "a"), pre(4, "c"), out(9, "c"), pre(9, "e", "same"), out(9, "e", "same")];
        const deps = new Map([
            [urn("c"), [urn("a"), urn("b")]],
            [urn("e"), [urn("c")]],
        ]);
        const p = profile(events, deps);
        expect(p.wall).toBe(9);
        expect(p.critical).toBe(9);
        expect(p.chain).toEqual([urn("a"), urn("c")]);
        expect(p.top.map((s) => [s.urn, s.end - s.start])).toEqual([
            [urn("c"), 5],
            [urn("a"), 4],
            [urn("b"), 2],
            [urn("d"), 2],
        ]);
    });

    it("leaves out the stack and the components, which only span their children", () => {
        const stack = "urn:pulumi:bench::k3s-over-usb::pulumi:pulumi:Stack::k3s-over-usb-bench";
        const agent = "urn:pulumi:bench::k3s-over-usb::k3s-over-usb:k3s:K3sAgent::one6t";
        const events = [
            { timestamp: 0, resourcePreEvent: { metadata: { urn: stack, op: "create" } } },
            { timestamp: 0, resourcePreEvent: { metadata: { urn: agent, op: "create" } } },
            pre(1, "a"),
            out(3, "a"),
            { timestamp: 4, resOutputsEvent: { metadata: { urn: agent, op: "create" } } },
            { timestamp: 5, resOutputsEvent: { metadata: { urn: stack, op: "create" } } },
        ];
        const p = profile(events, new Map());
        expect(p.top.map((s) => s.urn)).toEqual([urn("a")]);
        expect(p.critical).toBe(2);
    });

    it("takes a component's dependsOn as its children's, and a dependency on a component as one on its steps", () => {
        const server = "urn:pulumi:bench::k3s-over-usb::k3s-over-usb:k3s:K3sServer::k3master";
        const agent = "urn:pulumi:bench::k3s-over-usb::k3s-over-usb:k3s:K3sAgent::one6t";
        const deps = effectiveDependencies([
            { urn: server },
            { urn: urn("server-install"), parent: server },
            { urn: urn("server-ready"), parent: server, dependencies: [urn("server-install")] },
            { urn: agent, dependencies: [server] },
            { urn: urn("agent-install"), parent: agent },
        ]);
        expect(deps.get(urn("agent-install"))?.sort()).toEqual([urn("server-install"), urn("server-ready")].sort());
        expect(deps.get(urn("server-ready"))).toEqual([urn("server-install")]);
    });

    it("shows serialized work as wall time above the critical path", () => {
        // Two independent steps that ran one after the other: the chain is 3 s, the wall 6 s.
        const p = profile([pre(0, "a"), out(3, "a"), pre(3, "b"), out(6, "b")], new Map());
        expect(p.critical).toBe(3);
        expect(p.wall).toBe(6);
    });

    it("splits an up with nothing to do into the program's start, the drift check, the diff and the summary", () => {
        const stack = { timestamp: 3, resourcePreEvent: { metadata: { urn: "urn:pulumi:bench::k3s-over-usb::pulumi:pulumi:Stack::k3s-over-usb-bench", op: "same" } } };
        const events = [{ timestamp: 0, preludeEvent: {} }, stack, pre(5, "a", "same"), out(5, "a", "same"), pre(6, "b", "same"), out(8, "b", "same"), { timestamp: 9, summaryEvent: {} }];
        expect(timeline(events)).toEqual({ start: 0, program: 3, probe: 2, steps: 3, finish: 1 });
    });
});

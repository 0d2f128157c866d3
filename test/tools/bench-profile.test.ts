import { describe, expect, it } from "vitest";
import { profile } from "../../tools/bench-profile";

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

    it("shows serialized work as wall time above the critical path", () => {
        // Two independent steps that ran one after the other: the chain is 3 s, the wall 6 s.
        const p = profile([pre(0, "a"), out(3, "a"), pre(3, "b"), out(6, "b")], new Map());
        expect(p.critical).toBe(3);
        expect(p.wall).toBe(6);
    });
});

import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { Checks } from "../../components/drift";
import { doctor } from "../../doctor/cli";
import type { CheckResult, PlannedCheck } from "../../checks/plan";
import { renderJson, renderText, type Report } from "../../doctor/report";
import { attribute, type HostRun } from "../../checks/run";
import { nettestManifest } from "../../manifests/nettest";

// What the doctor makes of the hosts' reports: which failures are causes and which follow from
// them, the table and the fixes, the repair generations `pulumi up` runs steps with, the nettest
// manifest.

const plan: PlannedCheck[] = [
    { key: "one6t-laptop-link", step: "usb-link one6t", host: "k3master", subject: "k3master", cable: "one6t", script: "s", env: {}, urn: "urn:pulumi:lab::k3s-over-usb::x::one6t-laptop-link" },
    { key: "one62-laptop-link", step: "usb-link one62", host: "k3master", subject: "k3master", cable: "one62", script: "s", env: {}, urn: "urn:pulumi:lab::k3s-over-usb::x::one62-laptop-link" },
    { key: "one62-node", step: "pmos-node", host: "one62", subject: "one62", script: "s", env: {}, urn: "urn:pulumi:lab::k3s-over-usb::x::one62-node" },
    { key: "one62-install", step: "k3s-agent", host: "one62", subject: "one62", script: "s", env: {} },
    { key: "one6t-ready", step: "node-ready one6t", host: "k3master", subject: "one6t", script: "s", env: {} },
    { key: "one62-ready", step: "node-ready one62", host: "k3master", subject: "one62", script: "s", env: {} },
];

const res = (key: string, host: string, subject: string, column: CheckResult["column"], status: CheckResult["status"], detail = "d", fix = ""): CheckResult => ({
    key,
    host,
    subject,
    column,
    status,
    detail,
    fix,
});

describe("attribute", () => {
    const runs: HostRun[] = [
        {
            host: "k3master",
            ms: 1,
            results: [
                res("one6t-laptop-link", "k3master", "k3master", "link", "fail", "usb-one6t is down", "up"),
                res("one62-laptop-link", "k3master", "k3master", "link", "ok"),
                res("one6t-ready", "k3master", "one6t", "node", "fail", "node one6t is NotReady", "k3s kubectl describe node one6t on the laptop"),
                res("one62-ready", "k3master", "one62", "node", "fail", "node one62 is NotReady", "k3s kubectl describe node one62 on the laptop"),
            ],
        },
        { host: "one6t", ms: 2, results: [res("-", "one6t", "one6t", "reach", "fail", "no answer within 10 s")] },
        { host: "one62", ms: 2, results: [res("one62-node", "one62", "one62", "hostname", "ok"), res("one62-install", "one62", "one62", "k3s", "fail", "k3s-agent is stopped", "up")] },
    ];
    const out = attribute(runs, plan);

    it("keeps the causes as failures", () => {
        expect(out.filter((r) => r.status === "fail").map((r) => `${r.subject} ${r.column}`)).toEqual(["k3master link", "one62 k3s"]);
    });

    it("shows a phone behind a failed cable, and a node NotReady on a failing host, as following from them", () => {
        const skipped = out.filter((r) => r.status === "skip");
        expect(skipped.map((r) => `${r.subject} ${r.column}`)).toEqual(["one6t node", "one62 node", "one6t reach"]);
        expect(skipped.find((r) => r.column === "reach")!.detail).toBe("not checked: usb-one6t is down (on k3master)");
        expect(skipped.find((r) => r.subject === "one62")!.detail).toBe("node one62 is NotReady: follows from one62 k3s");
    });

    it("shows every node as following from the server when the API does not answer", () => {
        const apiDown = attribute(
            [
                {
                    host: "k3master",
                    ms: 1,
                    results: [
                        res("k3master-install", "k3master", "k3master", "k3s", "fail", "k3s is stopped", "up"),
                        res("k3master-kubeconfig", "k3master", "k3master", "node", "fail", "the API server does not answer kubectl"),
                        res("one6t-ready", "k3master", "one6t", "node", "fail", "the API server does not answer kubectl"),
                    ],
                },
            ],
            plan,
        );
        expect(apiDown.map((r) => `${r.subject} ${r.column} ${r.status}`)).toEqual(["k3master k3s fail", "k3master node skip", "one6t node skip"]);
    });

    it("leaves an unreachable phone with no cause a failure", () => {
        const alone = attribute([{ host: "one6t", ms: 1, results: [res("-", "one6t", "one6t", "reach", "fail")] }], plan);
        expect(alone.map((r) => r.status)).toEqual(["fail"]);
    });
});

describe("the text report", () => {
    const results = [
        res("one6t-laptop-link", "k3master", "k3master", "nat", "ok"),
        res("one62-laptop-link", "k3master", "k3master", "nat", "fail", "table ip k3ou_nat_one62 has lost its masquerade rule", "up"),
        res("one62-node", "one62", "one62", "hostname", "fail", "the hostname is x, not one62", "up"),
        res("one62-install", "one62", "one62", "battery", "warn", "written 3800000 µV; the running kernel reports 4400000 µV until the next boot", "reboot"),
        res("one6t-ready", "k3master", "one6t", "node", "fail", "node one6t is not registered", "restart the k3s service on one6t: it registers the node"),
    ];
    const report: Report = {
        stack: "lab",
        ok: false,
        hosts: ["k3master", "one6t", "one62"],
        results,
        cluster: { status: "not-run", reason: "the laptop is unreachable" },
        timings: { hostChecksMs: 612, clusterMs: 80, totalMs: 1234 },
    };

    it("is a table of hosts by check, then every failure with its fix", () => {
        expect(renderText(report, plan, true)).toBe(
            [
                "host      hostname  link      address   route     dns       forward   nat       firewall  radios    battery   k3s       node",
                "k3master  -         -         -         -         -         -         FAIL 1/2  -         -         -         -         -",
                "one6t     -         -         -         -         -         -         -         -         -         -         -         FAIL",
                "one62     FAIL      -         -         -         -         -         -         -         -         warn      -         -",
                "",
                "FAIL k3master nat: table ip k3ou_nat_one62 has lost its masquerade rule",
                "     fix: pulumi up  (runs one62-laptop-link again)",
                "FAIL one62 hostname: the hostname is x, not one62",
                "     fix: pulumi up  (runs one62-node again)",
                "FAIL one6t node: node one6t is not registered (read on k3master)",
                "     fix: restart the k3s service on one6t: it registers the node",
                "warn one62 battery: written 3800000 µV; the running kernel reports 4400000 µV until the next boot",
                "     fix: reboot one62",
                "",
                "cluster proof: not run: the laptop is unreachable",
                "",
                "lab: 3 problem(s)  (host checks 0.61 s, cluster 0.1 s, total 1.23 s)",
                "",
            ].join("\n"),
        );
    });

    it("as JSON, spells every fix out as a command", () => {
        const json = JSON.parse(renderJson(report, plan, true)) as { results: Array<{ key: string; fixCommand?: string }> };
        expect(json.results.find((r) => r.key === "one62-node")!.fixCommand).toBe("pulumi up  (runs one62-node again)");
        expect(json.results.find((r) => r.key === "one6t-laptop-link")!.fixCommand).toBeUndefined();
    });

    it("names the step to replace when the drift check is off", () => {
        expect(renderText(report, plan, false)).toContain("fix: pulumi up --replace 'urn:pulumi:lab::k3s-over-usb::x::one62-node'  (driftCheck is off)");
    });
});

describe("repair generations", () => {
    function probe(previous: Record<string, number> | undefined, results: CheckResult[]): Promise<Record<string, number>> {
        const checks = new Checks(true);
        for (const c of plan) {
            checks.add(c, pulumi.output(c.urn ?? "urn"));
        }
        return new Promise((resolve) => checks.probe(previous, undefined, () => Promise.resolve(results)).apply(resolve));
    }

    it("rise by one only for a step whose check failed with fix up; the rest keep theirs, new steps start at 0", async () => {
        const next = await probe({ "one62-node": 3, "one62-install": 1 }, [
            res("one62-node", "one62", "one62", "hostname", "fail", "the hostname is x", "up"),
            res("one62-install", "one62", "one62", "k3s", "ok"),
            res("one6t-ready", "k3master", "one6t", "node", "fail", "NotReady", "k3s kubectl describe node one6t on the laptop"),
            res("-", "one6t", "one6t", "reach", "fail", "no answer", "check one6t's cable"),
        ]);
        expect(next).toEqual({ "one6t-laptop-link": 0, "one62-laptop-link": 0, "one62-node": 4, "one62-install": 1, "one6t-ready": 0, "one62-ready": 0 });
    });

    it("stay as they were when no host could be checked", async () => {
        expect(await probe({ "one62-node": 2 }, [])).toMatchObject({ "one62-node": 2, "one62-install": 0 });
    });

    it("refuse two steps of the same name", () => {
        const checks = new Checks(true);
        checks.add(plan[0]!, pulumi.output("u"));
        expect(() => checks.add(plan[0]!, pulumi.output("u"))).toThrow("two steps named one6t-laptop-link");
    });

    it("fail every step loudly, naming the cure, when the program never probes", async () => {
        const checks = new Checks(true);
        checks.add(plan[0]!, pulumi.output("u"));
        await expect(checks.generation(plan[0]!.key)).rejects.toThrow(/the drift probe never ran.*call probeDrift/);
    });

    it("refuse a step registered after the probe, which would never be checked, and a second probe", async () => {
        const checks = new Checks(true);
        checks.add(plan[0]!, pulumi.output("u"));
        const generation = checks.generation(plan[0]!.key);
        checks.probe(undefined, undefined, () => Promise.resolve([]));
        expect(() => checks.add(plan[1]!, pulumi.output("u"))).toThrow(`step ${plan[1]!.key} was registered after the drift probe ran`);
        expect(() => checks.probe(undefined, undefined, () => Promise.resolve([]))).toThrow("once per program");
        expect(await generation).toBe("0");
    });
});

describe("the nettest manifest", () => {
    const docs = (lb: boolean) =>
        nettestManifest({ image: "registry.lan/busybox:1.37", loadBalancer: lb })
            .split(/^---$/m)
            .map((d) => parse(d) as Record<string, any>);

    it("runs one pod per node, phones' taint tolerated, with the configured image", () => {
        const ds = docs(false).find((d) => d["kind"] === "DaemonSet")!;
        const spec = ds["spec"]["template"]["spec"];
        expect(spec.tolerations).toEqual([{ operator: "Exists" }]);
        expect(spec.containers[0].image).toBe("registry.lan/busybox:1.37");
        expect(spec.containers[0].readinessProbe).toEqual({ tcpSocket: { port: 8080 }, periodSeconds: 2 });
        expect(docs(false).map((d) => d["kind"])).toEqual(["Namespace", "DaemonSet"]);
    });

    it("adds a LoadBalancer service only when MetalLB is configured", () => {
        const svc = docs(true).find((d) => d["kind"] === "Service")!;
        expect(svc["spec"]).toMatchObject({ type: "LoadBalancer", ports: [{ port: 80, targetPort: 8080 }] });
    });
});

describe("the doctor's arguments", () => {
    it("are refused with the usage before anything is read or reached", async () => {
        const errors: string[] = [];
        const original = console.error;
        console.error = (m: string) => errors.push(m);
        try {
            expect(await doctor(["--deadline", "soon"])).toBe(2);
            expect(await doctor(["--colour"])).toBe(2);
        } finally {
            console.error = original;
        }
        expect(errors[0]).toBe("doctor: --deadline takes whole seconds, e.g. 180\nusage: npm run doctor -- [--stack STACK] [--json] [--hosts-only] [--image IMAGE] [--deadline SECONDS]");
        expect(errors[1]).toMatch(/^doctor: unknown argument --colour\n/);
    });
});

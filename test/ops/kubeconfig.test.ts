import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { parse, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { KubeconfigError, kubeconfigPath, mergeIntoFile, mergeKubeconfig } from "../../ops/kubeconfig";

// `npm run kubeconfig`'s merge: only the stack's own cluster, user and context change; the rest of
// the operator's file stays byte for byte; the file is written 0600 and atomically.

const name = "k3s-over-usb-homelab";

/** The stack output as K3sServer renders it (hosts/k3s/kubeconfig.ts). */
function stackKubeconfig(server = "https://192.168.100.52:6443", ca = "Q0EtMQ=="): string {
    return [
        "apiVersion: v1",
        "clusters:",
        "- cluster:",
        `    certificate-authority-data: ${ca}`,
        `    server: ${server}`,
        `  name: ${name}`,
        "contexts:",
        "- context:",
        `    cluster: ${name}`,
        `    user: ${name}`,
        `  name: ${name}`,
        `current-context: ${name}`,
        "kind: Config",
        "preferences: {}",
        "users:",
        `- name: ${name}`,
        "  user:",
        "    client-certificate-data: Q0VSVA==",
        "    client-key-data: S0VZ",
        "",
    ].join("\n");
}

/** A file kubectl wrote for two other clusters, with a comment and quoting the user added. */
const theirs = [
    "apiVersion: v1",
    "clusters:",
    "- cluster:",
    "    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2sxSlNVSmtla05EUVZJeVowRjNTVUpCWjBsQ1FVUkJTMEpuWjNGb2EycFBVRkZSUkVGcVFXcE5VMFYz",
    "    server: https://10.1.2.3:6443",
    "  name: work",
    "- cluster:",
    "    server: https://kind.local:6443",
    "    insecure-skip-tls-verify: true",
    "  name: kind",
    "# the work cluster needs the VPN",
    "contexts:",
    "- context:",
    "    cluster: work",
    '    namespace: "prod"',
    "    user: work-admin",
    "  name: work",
    "- context:",
    "    cluster: kind",
    "    user: kind",
    "  name: kind",
    "current-context: work",
    "kind: Config",
    "preferences: {}",
    "users:",
    "- name: work-admin",
    "  user:",
    "    exec:",
    "      apiVersion: client.authentication.k8s.io/v1beta1",
    "      args: [\"--region\", 'eu-west-1']",
    "      command: aws",
    "- name: kind",
    "  user:",
    "    token: abc",
    "",
].join("\n");

/** The merged file with our three entries taken out again, written as the merge writes. */
function withoutOurs(text: string): string {
    const doc = parseDocument(text);
    for (const section of ["clusters", "contexts", "users"]) {
        const seq = doc.get(section, true) as YAMLSeq;
        seq.items = seq.items.filter((item) => (item as YAMLMap).get("name") !== name);
    }
    return doc.toString({ lineWidth: 0, indentSeq: false, flowCollectionPadding: false });
}

function tmpdir(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-kubeconfig-"));
}

describe("merging the stack's kubeconfig", () => {
    it("into a file with other contexts: ours appended, everything else byte for byte, the current context kept", () => {
        const merged = mergeKubeconfig(theirs, stackKubeconfig(), { name, use: false, where: "config" });
        const doc = parse(merged) as { clusters: Array<{ name: string }>; contexts: Array<{ name: string }>; users: Array<{ name: string }>; "current-context": string };
        expect(doc.clusters.map((c) => c.name)).toEqual(["work", "kind", name]);
        expect(doc.contexts.map((c) => c.name)).toEqual(["work", "kind", name]);
        expect(doc.users.map((c) => c.name)).toEqual(["work-admin", "kind", name]);
        expect(doc["current-context"]).toBe("work");
        expect(withoutOurs(merged)).toBe(theirs);
        expect(merged).toContain("# the work cluster needs the VPN\n");
    });

    it("again, after the server's CA changed: our entries replaced where they are, nothing duplicated, the rest unchanged", () => {
        const once = mergeKubeconfig(theirs, stackKubeconfig(), { name, use: false, where: "config" });
        expect(mergeKubeconfig(once, stackKubeconfig(), { name, use: false, where: "config" })).toBe(once);
        const again = mergeKubeconfig(once, stackKubeconfig(undefined, "Q0EtMg=="), { name, use: false, where: "config" });
        expect(again).toBe(once.replace("certificate-authority-data: Q0EtMQ==", "certificate-authority-data: Q0EtMg=="));
    });

    it("--use switches the current context, and nothing else", () => {
        const merged = mergeKubeconfig(theirs, stackKubeconfig(), { name, use: true, where: "config" });
        expect((parse(merged) as { "current-context": string })["current-context"]).toBe(name);
        expect(merged.replace(`current-context: ${name}`, "current-context: work")).toBe(mergeKubeconfig(theirs, stackKubeconfig(), { name, use: false, where: "config" }));
    });

    it("into an empty file: a kubeconfig of the stack alone, its context current", () => {
        for (const empty of [undefined, "", "\n"]) {
            const merged = mergeKubeconfig(empty, stackKubeconfig(), { name, use: false, where: "config" });
            expect(parse(merged)).toEqual(parse(stackKubeconfig()));
        }
    });

    it("into a file whose lists are empty or null: block lists of ours", () => {
        const merged = mergeKubeconfig("apiVersion: v1\nclusters: []\ncontexts: null\nkind: Config\n", stackKubeconfig(), { name, use: false, where: "config" });
        const doc = parse(merged) as Record<string, unknown>;
        expect(doc["clusters"]).toEqual((parse(stackKubeconfig()) as Record<string, unknown>)["clusters"]);
        expect(doc["contexts"]).toEqual((parse(stackKubeconfig()) as Record<string, unknown>)["contexts"]);
        expect(doc["current-context"]).toBe(name);
        expect(merged).toMatch(/^clusters:\n- cluster:/m);
    });

    it("refuses a file it cannot keep byte for byte, or that is not a kubeconfig, naming the file and the way out", () => {
        // The same file with its lists indented under their keys, as many editors write it.
        const indentedLists = parseDocument(theirs).toString({ lineWidth: 0, indentSeq: true, flowCollectionPadding: false });
        expect(indentedLists).not.toBe(theirs);
        expect(() => mergeKubeconfig(indentedLists, stackKubeconfig(), { name, use: false, where: "/home/op/.kube/config" })).toThrow(
            /^\/home\/op\/\.kube\/config: is not laid out as kubectl writes it .*; fix: kubectl config view --raw > a new file/,
        );
        expect(() => mergeKubeconfig("clusters: [\n", stackKubeconfig(), { name, use: false, where: "cfg" })).toThrow(/^cfg: is not valid YAML .*; fix: repair it/);
        expect(() => mergeKubeconfig("- a\n- b\n", stackKubeconfig(), { name, use: false, where: "cfg" })).toThrow(/^cfg: is not a kubeconfig/);
        expect(() => mergeKubeconfig(theirs, stackKubeconfig().replace(/k3s-over-usb-homelab/g, "default"), { name, use: false, where: "cfg" })).toThrow(
            /the stack's kubeconfig has no cluster named k3s-over-usb-homelab/,
        );
    });
});

describe("writing the operator's kubeconfig", () => {
    it("a missing file and folder are created: folder 0700, file 0600", () => {
        const dir = tmpdir();
        const file = path.join(dir, ".kube", "config");
        mergeIntoFile(file, stackKubeconfig(), { name, use: false });
        expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect((parse(fs.readFileSync(file, "utf8")) as { "current-context": string })["current-context"]).toBe(name);
        expect(fs.readdirSync(path.dirname(file))).toEqual(["config"]);
    });

    it("an existing file becomes 0600 by the rename of a private temporary file; no temporary file is left", () => {
        const dir = tmpdir();
        const file = path.join(dir, "config");
        fs.writeFileSync(file, theirs, { mode: 0o644 });
        const inode = fs.statSync(file).ino;
        mergeIntoFile(file, stackKubeconfig(), { name, use: true });
        expect(fs.statSync(file).ino).not.toBe(inode);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.readdirSync(dir)).toEqual(["config"]);
        expect(withoutOurs(fs.readFileSync(file, "utf8")).replace(`current-context: ${name}`, "current-context: work")).toBe(theirs);
    });

    it("a read-only file is refused and left as it was", () => {
        const dir = tmpdir();
        const file = path.join(dir, "config");
        fs.writeFileSync(file, theirs, { mode: 0o444 });
        expect(() => mergeIntoFile(file, stackKubeconfig(), { name, use: false })).toThrow(KubeconfigError);
        expect(() => mergeIntoFile(file, stackKubeconfig(), { name, use: false })).toThrow(new RegExp(`^${file}: is read-only \\(mode 0444\\); fix: chmod u\\+w`));
        expect(fs.readFileSync(file, "utf8")).toBe(theirs);
        expect(fs.readdirSync(dir)).toEqual(["config"]);
    });

    it("a file that cannot be merged is left as it was", () => {
        const dir = tmpdir();
        const file = path.join(dir, "config");
        fs.writeFileSync(file, "clusters: [\n", { mode: 0o600 });
        expect(() => mergeIntoFile(file, stackKubeconfig(), { name, use: false })).toThrow(/is not valid YAML/);
        expect(fs.readFileSync(file, "utf8")).toBe("clusters: [\n");
        expect(fs.readdirSync(dir)).toEqual(["config"]);
    });

    it("the file is $KUBECONFIG's first, else ~/.kube/config", () => {
        expect(kubeconfigPath({ KUBECONFIG: `/a/one${path.delimiter}/b/two` }, "/home/op")).toBe("/a/one");
        expect(kubeconfigPath({ KUBECONFIG: "" }, "/home/op")).toBe("/home/op/.kube/config");
        expect(kubeconfigPath({}, "/home/op")).toBe("/home/op/.kube/config");
    });
});

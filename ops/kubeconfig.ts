import * as fs from "fs";
import * as path from "path";
import { isMap, isScalar, isSeq, parse, parseDocument, type YAMLMap } from "yaml";
import { writePrivateFile } from "./private-file";

// The stack's kubeconfig merged into the operator's, as k3sup does: its cluster, user and context
// (all named k3s-over-usb-<stack>) replace entries of that name or are appended; everything else in
// the file is kept byte for byte. The merge is pure; writing is atomic and 0600.

/** How kubectl writes a kubeconfig; a file that does not read back identically is not rewritten. */
const style = { lineWidth: 0, indentSeq: false, flowCollectionPadding: false } as const;

const sections = ["clusters", "contexts", "users"] as const;

export class KubeconfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "KubeconfigError";
    }
}

type Entry = { name: string } & Record<string, unknown>;

/** The cluster, context and user named `name` in the stack's kubeconfig. */
function stackEntries(stackKubeconfig: string, name: string): Record<(typeof sections)[number], Entry> {
    const doc = (parse(stackKubeconfig) ?? {}) as Record<string, unknown>;
    const pick = (section: (typeof sections)[number]): Entry => {
        const list = Array.isArray(doc[section]) ? (doc[section] as Entry[]) : [];
        const found = list.find((e) => e !== null && typeof e === "object" && e.name === name);
        if (found === undefined) {
            throw new KubeconfigError(`the stack's kubeconfig has no ${section.slice(0, -1)} named ${name}; fix: run pulumi up (the stack output kubeconfig names everything ${name})`);
        }
        return found;
    };
    return { clusters: pick("clusters"), contexts: pick("contexts"), users: pick("users") };
}

export interface MergeOptions {
    /** The name of the cluster, user and context: k3s-over-usb-<stack>. */
    readonly name: string;
    /** Make it the current context. A file without one gets it anyway. */
    readonly use: boolean;
    /** Names the file in errors. */
    readonly where: string;
}

/** `existing` (undefined or empty: no file yet) with the stack's entries merged in. */
export function mergeKubeconfig(existing: string | undefined, stackKubeconfig: string, o: MergeOptions): string {
    const entries = stackEntries(stackKubeconfig, o.name);
    if (existing === undefined || existing.trim() === "") {
        const fresh = parseDocument("");
        fresh.contents = fresh.createNode({
            apiVersion: "v1",
            clusters: [entries.clusters],
            contexts: [entries.contexts],
            "current-context": o.name,
            kind: "Config",
            preferences: {},
            users: [entries.users],
        }) as never;
        return fresh.toString(style);
    }
    const doc = parseDocument(existing);
    if (doc.errors.length > 0) {
        throw new KubeconfigError(`${o.where}: is not valid YAML (${doc.errors[0]!.message.split("\n")[0]}); fix: repair it, or write elsewhere with KUBECONFIG=<file>, or use --print`);
    }
    if (!isMap(doc.contents)) {
        throw new KubeconfigError(`${o.where}: is not a kubeconfig (its top level is not a mapping); fix: move it aside, or use --print`);
    }
    if (doc.toString(style) !== existing) {
        throw new KubeconfigError(
            `${o.where}: is not laid out as kubectl writes it (2-space indents, list items at their key's indent), so merging would rewrite entries that are not ours; fix: kubectl config view --raw > a new file and point KUBECONFIG at it, or use --print and merge by hand`,
        );
    }
    const root = doc.contents as YAMLMap;
    for (const section of sections) {
        const node = doc.createNode(entries[section]);
        const seq = root.get(section, true);
        if (seq === undefined || seq === null || (isScalar(seq) && seq.value === null)) {
            root.set(section, doc.createNode([entries[section]]));
            continue;
        }
        if (!isSeq(seq)) {
            throw new KubeconfigError(`${o.where}: ${section} is not a list; fix: repair it, or use --print`);
        }
        const at = seq.items.findIndex((item) => isMap(item) && item.get("name") === o.name);
        if (at >= 0) {
            seq.items[at] = node;
        } else {
            if (seq.items.length === 0) {
                seq.flow = false; // "clusters: []" becomes a block list
            }
            seq.items.push(node);
        }
    }
    const current = root.get("current-context");
    if (o.use || current === undefined || current === null || current === "") {
        root.set("current-context", o.name);
    }
    return doc.toString(style);
}

/** The file kubectl reads first: the first entry of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(env: NodeJS.ProcessEnv, home: string): string {
    const first = (env["KUBECONFIG"] ?? "").split(path.delimiter).find((p) => p !== "");
    return first ?? path.join(home, ".kube", "config");
}

/**
 * Merges into the file at `file`: refuses a read-only one, writes a private temporary file beside it
 * (0600, never readable by others, even for a moment) and renames it over the old one.
 */
export function mergeIntoFile(file: string, stackKubeconfig: string, o: Omit<MergeOptions, "where">): void {
    let existing: string | undefined;
    if (fs.existsSync(file)) {
        const st = fs.statSync(file);
        if ((st.mode & 0o222) === 0) {
            throw new KubeconfigError(`${file}: is read-only (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}); fix: chmod u+w ${file}, or use --print`);
        }
        existing = fs.readFileSync(file, "utf8");
    }
    const merged = mergeKubeconfig(existing, stackKubeconfig, { ...o, where: file });
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writePrivateFile(file, merged);
}

import { parse, stringify } from "yaml";

// k3s writes its admin kubeconfig for 127.0.0.1 with everything named "default". The operator needs
// the laptop's reachable address and a name that does not collide with other clusters on merge.

interface Named<T> {
    name: string;
    [key: string]: unknown;
    cluster?: T;
}

export function rewriteKubeconfig(text: string, server: string, contextName: string): string {
    const doc = parse(text) as {
        clusters?: Array<Named<{ server?: string }>>;
        users?: Array<Named<unknown>>;
        contexts?: Array<{ name: string; context?: { cluster?: string; user?: string } }>;
        "current-context"?: string;
    };
    if (!doc || !Array.isArray(doc.clusters) || doc.clusters.length !== 1 || !Array.isArray(doc.contexts) || !Array.isArray(doc.users)) {
        throw new Error("the k3s kubeconfig does not have exactly one cluster, context and user; is /etc/rancher/k3s/k3s.yaml from k3s?");
    }
    for (const c of doc.clusters) {
        c.name = contextName;
        c.cluster = { ...(c.cluster ?? {}), server };
    }
    for (const u of doc.users) {
        u.name = contextName;
    }
    for (const c of doc.contexts) {
        c.name = contextName;
        c.context = { ...(c.context ?? {}), cluster: contextName, user: contextName };
    }
    doc["current-context"] = contextName;
    return stringify(doc, { lineWidth: 0 });
}

import { stringify } from "yaml";

// The doctor's cluster proof: one small pod on every node (phones' taint tolerated), each answering
// HTTP on 8080 with its node's name, and a LoadBalancer service in front of them when MetalLB is on.
// Applied by `npm run doctor`, deleted afterwards (the namespace goes with it).

export const nettestNamespace = "k3s-over-usb-doctor";
export const nettestPort = 8080;
/** busybox has ping, nslookup and httpd: everything the proof runs inside a pod. */
export const defaultNettestImage = "busybox:1.37";

export interface NettestOptions {
    readonly image: string;
    /** Add the LoadBalancer service (MetalLB configured). */
    readonly loadBalancer: boolean;
}

export function nettestObjects(o: NettestOptions): object[] {
    const labels = { "app.kubernetes.io/name": "nettest", "app.kubernetes.io/managed-by": "k3s-over-usb-doctor" };
    const objects: object[] = [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: nettestNamespace, labels } },
        {
            apiVersion: "apps/v1",
            kind: "DaemonSet",
            metadata: { name: "nettest", namespace: nettestNamespace, labels },
            spec: {
                selector: { matchLabels: { "app.kubernetes.io/name": "nettest" } },
                template: {
                    metadata: { labels },
                    spec: {
                        // Every node: the phones carry the household's agent taint, the laptop may carry its own.
                        tolerations: [{ operator: "Exists" }],
                        terminationGracePeriodSeconds: 1,
                        containers: [
                            {
                                name: "nettest",
                                image: o.image,
                                command: ["sh", "-c", `mkdir -p /tmp/www && echo "nettest $NODE_NAME" > /tmp/www/index.html && exec httpd -f -p ${nettestPort} -h /tmp/www`],
                                env: [{ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
                                ports: [{ name: "http", containerPort: nettestPort }],
                                readinessProbe: { tcpSocket: { port: nettestPort }, periodSeconds: 2 },
                                resources: { requests: { cpu: "5m", memory: "8Mi" }, limits: { memory: "32Mi" } },
                            },
                        ],
                    },
                },
            },
        },
    ];
    if (o.loadBalancer) {
        objects.push({
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "nettest-lb", namespace: nettestNamespace, labels },
            spec: { type: "LoadBalancer", selector: { "app.kubernetes.io/name": "nettest" }, ports: [{ name: "http", port: 80, targetPort: nettestPort }] },
        });
    }
    return objects;
}

export function nettestManifest(o: NettestOptions): string {
    return nettestObjects(o)
        .map((x) => stringify(x, { lineWidth: 0 }))
        .join("---\n");
}

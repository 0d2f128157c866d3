import { renderYaml, managedBy } from "../render";
import { serverTlsSans } from "../laptop/files";
import { serverUrlFor, type Household, type Phone } from "../../household/model";
import type { AdditiveK3sFlag, ManagedK3sFlag } from "../../household/rules";
import { hostValues } from "../scripts";

// /etc/rancher/k3s/config.yaml for each side. Settings derived from the household come first; extra
// flags (validated not to touch those) are merged in as k3s reads repeated flags: as lists.

export const tokenFilePath = hostValues.K3OU_TOKEN_FILE;

type K3sConfig = Record<string, string | boolean | string[]>;
/** What the program writes: only the flags the household rules call managed or additive. */
type BaseConfig = Partial<Record<ManagedK3sFlag, string | boolean | string[]> & Record<AdditiveK3sFlag, string[]>>;

function mergeFlags(base: BaseConfig, flags: ReadonlyArray<string>): K3sConfig {
    const out: K3sConfig = { ...(base as K3sConfig) };
    for (const flag of flags) {
        const eq = flag.indexOf("=");
        const key = (eq < 0 ? flag : flag.slice(0, eq)).replace(/^--/, "");
        if (eq < 0) {
            out[key] = true;
            continue;
        }
        const value = flag.slice(eq + 1);
        const prev = out[key];
        out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
    }
    return out;
}

export function serverConfig(h: Household): string {
    return renderYaml(
        [managedBy, "The k3s server on the laptop."],
        mergeFlags(
            {
                "node-name": h.laptop.name,
                "node-ip": h.k3s.server.nodeIp,
                // host-gw needs one L2 domain; the phones share none, each sits on its own /30.
                "flannel-backend": "vxlan",
                "flannel-iface": h.k3s.server.flannelIface,
                "cluster-cidr": h.k3s.clusterCidr,
                "service-cidr": h.k3s.serviceCidr,
                // MetalLB answers for LoadBalancer services instead of ServiceLB (Klipper).
                disable: ["servicelb"],
                "tls-san": serverTlsSans(h),
                "token-file": tokenFilePath,
                "write-kubeconfig-mode": "0600",
            },
            h.k3s.server.extraFlags,
        ),
    );
}

export function agentConfig(h: Household, phone: Phone): string {
    const base: BaseConfig = {
        server: serverUrlFor(phone),
        "token-file": tokenFilePath,
        "node-name": phone.name,
        "node-ip": phone.link.phoneAddress,
        "flannel-iface": phone.link.phoneInterface,
    };
    if (h.k3s.agent.taint !== null) {
        base["node-taint"] = [h.k3s.agent.taint];
    }
    return renderYaml([managedBy, `The k3s agent on ${phone.name}.`], mergeFlags(base, h.k3s.agent.extraFlags));
}

/** The official install script at the pinned release tag, so a later upstream change cannot alter a run. */
export function installScriptUrl(version: string): string {
    return `https://raw.githubusercontent.com/k3s-io/k3s/${encodeURIComponent(version)}/install.sh`;
}

import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sha256File } from "../ops/digest";

// The lab's household, as a stack config would describe it: built from what the lab actually runs
// (`lab/lab.sh status --json`: addresses, users, host keys), so the program meets the lab exactly as
// it would meet a real household.

export interface LabPhone {
    readonly name: string;
    readonly device: string;
    readonly netns: string;
    readonly hubPort: string;
    readonly laptopIfaceDayZero: string;
    readonly user: string;
    readonly hostKey: string;
    readonly dayZeroHostname: string;
    readonly initSystem: "openrc" | "systemd";
}

export interface LabStatus {
    readonly stateDir: string;
    readonly operatorNetns: string;
    readonly sshPrivateKeyPath: string;
    readonly sshPublicKey: string;
    readonly lan: { readonly cidr: string; readonly gateway: string };
    readonly operator: { readonly netns: string; readonly address: string };
    readonly laptop: {
        readonly name: string;
        readonly netns: string;
        readonly address: string;
        readonly user: string;
        readonly hostKey: string;
        readonly lanInterface: string;
        readonly lanMac: string;
        readonly usbControllerPath: string;
    };
    readonly phones: ReadonlyArray<LabPhone>;
}

export const labScript = path.join(__dirname, "lab.sh");

export function labStatus(): LabStatus {
    const r = spawnSync("bash", [labScript, "status", "--json"], { encoding: "utf8" });
    if (r.status !== 0) {
        throw new Error(`lab status failed (is the lab up? npm run lab:up):\n${r.stderr}`);
    }
    return JSON.parse(r.stdout) as LabStatus;
}

export function labPrivateKey(status: LabStatus): string {
    return fs.readFileSync(status.sshPrivateKeyPath, "utf8");
}

// The seed's gadget MACs for its three phones; the lab's extra phones get locally administered ones.
const seedMacs: Record<string, string> = { one6t: "16:26:d6:df:e9:bb", one62: "9a:e8:dd:73:77:5d", one61: "f2:1c:05:01:4e:d5" };

function gadgetMac(name: string, index: number): string {
    return seedMacs[name] ?? `02:6b:33:75:73:${(index + 1).toString(16).padStart(2, "0")}`;
}

/** The household config (the value of k3s-over-usb:household) for the running lab. */
export function labHousehold(status: LabStatus): Record<string, unknown> {
    const prefix = status.lan.cidr.split("/")[1];
    return {
        laptop: {
            name: status.laptop.name,
            ssh: { address: status.laptop.address, user: status.laptop.user, hostKey: status.laptop.hostKey },
            escalation: "sudo",
            lan: {
                interface: status.laptop.lanInterface,
                mac: status.laptop.lanMac,
                address: `${status.laptop.address}/${prefix}`,
                gateway: status.lan.gateway,
                dns: [status.lan.gateway],
            },
            usbController: status.laptop.usbControllerPath,
        },
        phones: status.phones.map((p, i) => ({
            name: p.name,
            device: p.device,
            hubPort: p.hubPort,
            link: { subnet: `10.0.${i + 1}.0/30` },
            gadgetHostMac: gadgetMac(p.name, i),
            batteryCapMicrovolts: 3800000,
            init: "auto",
            ssh: { user: p.user, hostKey: p.hostKey },
        })),
        k3s: {
            version: "v1.35.5+k3s1",
            server: { flannelIface: status.laptop.lanInterface },
            agent: { taint: "node-role/phone=true:NoSchedule" },
            // As Pulumi.homelab.yaml pins it; the lab's stacks take the air-gap path (tools/lab-stack.ts).
            source: {
                kind: "official",
                sha256: {
                    installScript: "8598e002e61d658fed7b7542fc6d2c66d8da6eae69e088830105d2ee1ffb6d91",
                    binaries: { amd64: "267d18da7b3c837d82283f0588fb9031a8a6ff3c0dac772c260c40852ce515f6" },
                },
            },
        },
        metallb: {
            // As Pulumi.homelab.yaml pins it; served offline from manifests/upstream by its digest. The
            // lab's air-gap images carry this version's controller and speaker (lab/k3s/build.sh).
            version: "v0.15.2",
            manifest: {
                url: "https://raw.githubusercontent.com/metallb/metallb/v0.15.2/config/manifests/metallb-native.yaml",
                sha256: "a1b04c376fb39c93265f551fe23716a3ae6e09b790edb3bf257d3fc784c35a18",
            },
            pool: { name: "homelab-pool", addresses: "192.168.100.200-192.168.100.220" },
            l2: { name: "homelab-l2" },
        },
    };
}

/**
 * The air-gap source the lab's stacks install from: lab/k3s/build.sh's output (K3S_DIR: k3s and
 * k3s-airgap-images-amd64.tar) and the lab's install script, pinned by their digests. The lab's k3s is
 * built for the machine's own architecture, which the phones share here.
 */
export function labK3sSource(k3sDir: string, installScript: string): Record<string, unknown> {
    const binary = path.resolve(k3sDir, "k3s");
    const images = path.resolve(k3sDir, "k3s-airgap-images-amd64.tar");
    const script = path.resolve(installScript);
    const digest = (file: string): string => {
        const sum = sha256File(file);
        if (sum === undefined) {
            throw new Error(`${file} cannot be read: build the lab's k3s first (lab/k3s/build.sh)`);
        }
        return sum;
    };
    const [binarySum, imagesSum] = [digest(binary), digest(images)];
    return {
        kind: "local",
        installScript: script,
        binaries: { amd64: binary, arm64: binary },
        images: { amd64: images, arm64: images },
        sha256: { installScript: digest(script), binaries: { amd64: binarySum, arm64: binarySum }, images: { amd64: imagesSum, arm64: imagesSum } },
    };
}

import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Arch, K3s } from "../household/model";
import type { HostAccess } from "./remote-step";

// The air-gap path (k3s.source kind: local): the operator's copies of the install script and binary
// are copied to the host over SFTP, below the SSH user's home; the install step takes them from there
// with INSTALL_K3S_SKIP_DOWNLOAD. The seed staged both from the laptop the same way.

/** The name the install step looks for in the staging folder. */
export const airgapImagesFile = "k3s-airgap-images.tar";

export interface Stage {
    readonly resources: pulumi.Resource[];
    readonly env: Record<string, string>;
}

export function stageK3s(name: string, k3s: K3s, arch: Arch, host: HostAccess, user: string, hostKey: string, parent: pulumi.Resource): Stage {
    if (k3s.source.kind !== "local") {
        return { resources: [], env: {} };
    }
    const binary = k3s.source.binaries[arch];
    if (binary === undefined) {
        throw new pulumi.ResourceError(`k3s.source.binaries.${arch} is required for ${host.name}`, parent);
    }
    const rel = `.cache/k3s-over-usb/${k3s.version}`;
    // A reflashed host has a new key and an empty home: copy again.
    const triggers = [hostKey];
    const files: Array<readonly [string, string]> = [
        ["k3s", binary],
        ["install.sh", k3s.source.installScript],
    ];
    const images = k3s.source.images?.[arch];
    if (images !== undefined) {
        files.push([airgapImagesFile, images]);
    }
    const resources = files.map(
        ([file, local]) =>
            new command.remote.CopyToRemote(
                `${name}-stage-${file.replace(/\.tar$/, "").replace(".", "-")}`,
                { connection: host.connection, source: new pulumi.asset.FileAsset(local), remotePath: `${rel}/${file}`, triggers },
                { parent },
            ),
    );
    return { resources, env: { STAGE_USER: user, STAGE_REL: rel } };
}

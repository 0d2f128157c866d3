import * as pulumi from "@pulumi/pulumi";
import { batteryCapFiles } from "../hosts/pmos/files";
import type { Phone } from "../household/model";
import type { Access } from "./access";
import { remoteStep } from "./remote-step";

export interface BatteryCapArgs {
    /** The phone whose charge ceiling is set; its batteryCapMicrovolts null means stock. */
    readonly phone: Phone;
    /** Connections to the hosts. */
    readonly access: Access;
}

export interface BatteryState {
    /** Microvolts written into the DTB that boots; null when the phone keeps the stock value. */
    readonly written: number | null;
    /** Microvolts the running kernel reports; null when unknown. */
    readonly live: number | null;
    /** The cap is written but the running kernel has not booted with it yet. */
    readonly rebootPending: boolean;
}

/**
 * The charge ceiling in the device tree that really boots: /boot/dtbs/... patched with fdtput as
 * exact decimal microvolts, the boot image rebuilt (mkinitfs), a boot-deploy hook so kernel upgrades
 * keep it, the original kept outside /boot/dtbs*. On delete the stock value comes back.
 */
export class BatteryCap extends pulumi.ComponentResource {
    public readonly state: pulumi.Output<BatteryState>;

    constructor(name: string, args: BatteryCapArgs, opts?: pulumi.ComponentResourceOptions) {
        super("k3s-over-usb:node:BatteryCap", name, {}, opts);
        const { phone, access } = args;
        const cap = phone.batteryCapMicrovolts;
        if (cap === null) {
            this.state = pulumi.output({ written: null, live: null, rebootPending: false });
        } else {
            const files = batteryCapFiles(phone, cap);
            const { node, property, safeMinMicrovolts, safeMaxMicrovolts } = phone.device.battery;
            const env = {
                DTB: files.dtb,
                NODE: node,
                PROP: property,
                CAP: String(cap),
                SAFE_MIN: String(safeMinMicrovolts),
                SAFE_MAX: String(safeMaxMicrovolts),
                HOOK_PATH: files.hook.path,
                HOOK: files.hook.content,
            };
            const step = remoteStep(
                `${name}-battery-cap`,
                {
                    host: access.phone(phone),
                    step: "battery-cap",
                    script: "hosts/pmos/steps/battery-cap.sh",
                    env,
                    onDelete: { script: "hosts/pmos/steps/battery-cap-delete.sh", env },
                    check: { script: "hosts/pmos/steps/battery-cap.check.sh" },
                },
                { parent: this },
            );
            this.state = step.stdout.apply((out) => parseBatteryReport(out, cap));
        }
        this.registerOutputs({ state: this.state });
    }
}

/** The step's last stdout line is {"written":N,"live":N|null}. */
export function parseBatteryReport(stdout: string | undefined, cap: number): BatteryState {
    const last = (stdout ?? "").trim().split("\n").pop() ?? "";
    try {
        const parsed = JSON.parse(last) as { written?: unknown; live?: unknown };
        const written = typeof parsed.written === "number" ? parsed.written : cap;
        const live = typeof parsed.live === "number" ? parsed.live : null;
        return { written, live, rebootPending: live !== written };
    } catch {
        return { written: cap, live: null, rebootPending: true };
    }
}

import * as pulumi from "@pulumi/pulumi";
import type { Household, Phone } from "../household/model";
import type { Checks } from "./drift";
import type { Connection, HostAccess } from "./remote-step";

// How the operator's machine reaches each host. Phones have no route from the LAN: they are reached
// through the laptop as an SSH jump host. Every connection pins the host's key.

export class Access {
    private readonly laptopConnection: Connection;

    constructor(
        private readonly household: Household,
        private readonly privateKey: pulumi.Output<string>,
        /** Where every step registers its check; without it, steps run unchecked (component tests). */
        private readonly checks?: Checks,
    ) {
        const { ssh } = household.laptop;
        this.laptopConnection = { host: ssh.address, port: ssh.port, user: ssh.user, privateKey, hostKey: ssh.hostKey };
    }

    laptop(): HostAccess {
        const { laptop } = this.household;
        return { name: laptop.name, connection: this.laptopConnection, escalation: laptop.escalation, init: "systemd", ...(this.checks ? { checks: this.checks } : {}) };
    }

    /** The phone at `address` (default: its end of the /30), through the laptop. */
    phone(phone: Phone, address: pulumi.Input<string> = phone.ssh.address): HostAccess {
        return {
            name: phone.name,
            connection: {
                host: address,
                port: phone.ssh.port,
                user: phone.ssh.user,
                privateKey: this.privateKey,
                hostKey: phone.ssh.hostKey,
                proxy: this.laptopConnection,
            },
            escalation: phone.escalation,
            init: phone.init,
            ...(this.checks ? { checks: this.checks } : {}),
        };
    }
}

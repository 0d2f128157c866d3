import * as pulumi from "@pulumi/pulumi";
import { hostEndpoint, hostPrivilege, laptopEndpoint } from "../hosts/endpoints";
import type { Household, Phone } from "../household/model";
import type { Checks } from "./drift";
import type { HostAccess } from "./remote-step";

// How the program's steps reach each host: the endpoints and privilege of hosts/endpoints.ts (the same
// the doctor and the tools use), with the private key as a secret Output and the step checks' registry.

export class Access {
    constructor(
        private readonly household: Household,
        private readonly privateKey: pulumi.Output<string>,
        /** Where every step registers its check; without it, steps run unchecked (component tests). */
        private readonly checks?: Checks,
    ) {}

    laptop(): HostAccess {
        const { laptop } = this.household;
        return { ...hostPrivilege(this.household, laptop.name), connection: laptopEndpoint(this.household, this.privateKey), ...(this.checks ? { checks: this.checks } : {}) };
    }

    /** The phone at `address` (default: its end of the /30), through the laptop. */
    phone(phone: Phone, address: pulumi.Input<string> = phone.ssh.address): HostAccess {
        return {
            ...hostPrivilege(this.household, phone.name),
            connection: { ...hostEndpoint(this.household, phone.name, this.privateKey), host: address },
            ...(this.checks ? { checks: this.checks } : {}),
        };
    }
}

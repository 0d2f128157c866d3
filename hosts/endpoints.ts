import type { Escalation, Household } from "../household/model";

// How the operator's machine reaches each host, and how a command becomes root there: the one place
// the program (components/access.ts), the checks, the doctor and the tools get them from. Phones have
// no route from the LAN: they are reached through the laptop as an SSH jump host. Every endpoint pins
// the host's key. `K` is the private key's form: a string for the tools, a Pulumi Output for the program.

export interface HostEndpoint<K> {
    readonly host: string;
    readonly port: number;
    readonly user: string;
    readonly privateKey: K;
    readonly hostKey: string;
    /** The jump host (the laptop), for phones. */
    readonly proxy?: HostEndpoint<K>;
}

/** What renderCommand needs to run a step as root on a host. */
export interface HostPrivilege {
    readonly name: string;
    readonly escalation: Escalation;
    readonly init: string;
}

function phoneOf(household: Household, name: string): Household["phones"][number] {
    const phone = household.phones.find((p) => p.name === name);
    if (phone === undefined) {
        throw new Error(`${name} is not a host of this household (the laptop is ${household.laptop.name}; phones: ${household.phones.map((p) => p.name).join(", ")})`);
    }
    return phone;
}

/** The laptop's endpoint. */
export function laptopEndpoint<K>(household: Household, privateKey: K): HostEndpoint<K> {
    const { ssh } = household.laptop;
    return { host: ssh.address, port: ssh.port, user: ssh.user, privateKey, hostKey: ssh.hostKey };
}

/** A host's endpoint by name; a phone's `address` defaults to its end of the /30. */
export function hostEndpoint<K>(household: Household, name: string, privateKey: K, address?: string): HostEndpoint<K> {
    const laptop = laptopEndpoint(household, privateKey);
    if (name === household.laptop.name) {
        return laptop;
    }
    const { ssh } = phoneOf(household, name);
    return { host: address ?? ssh.address, port: ssh.port, user: ssh.user, privateKey, hostKey: ssh.hostKey, proxy: laptop };
}

/** Every host's endpoint, by name, the laptop first. */
export function hostEndpoints<K>(household: Household, privateKey: K): Map<string, HostEndpoint<K>> {
    return new Map([household.laptop.name, ...household.phones.map((p) => p.name)].map((n) => [n, hostEndpoint(household, n, privateKey)]));
}

/** How a command becomes root on a host: the laptop runs systemd; a phone's init and escalation are its own. */
export function hostPrivilege(household: Household, name: string): HostPrivilege {
    if (name === household.laptop.name) {
        return { name, escalation: household.laptop.escalation, init: "systemd" };
    }
    const phone = phoneOf(household, name);
    return { name, escalation: phone.escalation, init: phone.init };
}

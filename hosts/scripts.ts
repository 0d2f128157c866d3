import * as fs from "fs";
import * as path from "path";
import { shellQuote } from "./command";

// The scripts a host receives, read once per process, and the values they share with the TypeScript:
// each is defined here once and reaches every step and every check as an exported variable, set
// right after the prelude, so a path cannot differ between what the program renders and what a script reads.

/** Values both sides use. */
export const hostValues = {
    /** Where steps keep what they must restore on undo (the phone's own files, marks of what was done). */
    K3OU_STATE: "/var/lib/k3s-over-usb",
    /** The k3s join token, root-only; k3s's config.yaml names it as token-file. */
    K3OU_TOKEN_FILE: "/etc/rancher/k3s/k3s-over-usb.token",
    /** The address pmOS's initramfs gives usb0 on every fresh or reflashed phone. */
    K3OU_PMOS_USB_ADDRESS: "172.16.42.1",
} as const;

const root = path.join(__dirname, "..");
const texts = new Map<string, string>();

/** A file of the repository (a script), read once. */
export function readScript(relative: string): string {
    let text = texts.get(relative);
    if (text === undefined) {
        text = fs.readFileSync(path.join(root, relative), "utf8");
        texts.set(relative, text);
    }
    return text;
}

function valuesBlock(): string {
    return Object.entries(hostValues)
        .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
        .join("");
}

/** What a step's host runs: the step prelude (hosts/steps/lib.sh), the shared values, then the step. */
export function stepScript(relative: string): string {
    return `${readScript("hosts/steps/lib.sh")}${valuesBlock()}\n${readScript(relative)}`;
}

/** The start of a host's check script: hosts/steps/check-lib.sh, then the shared values. */
export function checkPrelude(): string {
    return `${readScript("hosts/steps/check-lib.sh")}${valuesBlock()}`;
}

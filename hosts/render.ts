import { stringify } from "yaml";

// Serializers for the file formats hosts read. Files are built as objects and serialized here, never
// assembled by string concatenation in components or scripts.

export type IniSection = readonly [name: string, entries: ReadonlyArray<readonly [key: string, value: string]>];

/** systemd unit syntax (.link, .service): "[Section]" then "Key=Value" lines; keys may repeat. */
export function renderIni(header: ReadonlyArray<string>, sections: ReadonlyArray<IniSection>): string {
    const lines = header.map((h) => `# ${h}`);
    for (const [name, entries] of sections) {
        if (lines.length > 0) {
            lines.push("");
        }
        lines.push(`[${name}]`);
        for (const [key, value] of entries) {
            if (/[\n\r]/.test(value)) {
                throw new Error(`renderIni: ${name}.${key} must be one line`);
            }
            lines.push(`${key}=${value}`);
        }
    }
    return `${lines.join("\n")}\n`;
}

/** YAML with a comment header; the yaml library does quoting and layout. */
export function renderYaml(header: ReadonlyArray<string>, doc: unknown): string {
    const comment = header.map((h) => `# ${h}\n`).join("");
    return comment + stringify(doc, { lineWidth: 0 });
}

/** KEY="value" lines as /etc/deviceinfo expects them (double quotes only, per pmOS). */
export function renderShellAssignments(pairs: ReadonlyArray<readonly [string, string]>): string {
    return pairs
        .map(([k, v]) => {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || /["\\$`\n]/.test(v)) {
                throw new Error(`renderShellAssignments: ${k} cannot be written safely`);
            }
            return `${k}="${v}"\n`;
        })
        .join("");
}

export const managedBy = "Managed by k3s-over-usb (pulumi up); local edits are overwritten.";

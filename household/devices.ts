import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

// Device profiles are data: adding a phone model means adding a JSON file to hosts/pmos/devices/.

const profileSchema = z.strictObject({
    name: z.string().regex(/^[a-z0-9-]+$/),
    model: z.string(),
    arch: z.enum(["arm64", "armhf"]),
    /** deviceinfo_dtb: the DTB path below /boot/dtbs, without ".dtb". */
    dtb: z.string().regex(/^[a-z0-9_/.-]+$/),
    defaultHostname: z.string(),
    battery: z.strictObject({
        node: z.string().startsWith("/"),
        property: z.string(),
        stockMicrovolts: z.number().int().positive(),
        safeMinMicrovolts: z.number().int().positive(),
        safeMaxMicrovolts: z.number().int().positive(),
    }),
});

export type DeviceProfile = z.infer<typeof profileSchema>;

const devicesDir = path.join(__dirname, "..", "hosts", "pmos", "devices");

function loadProfiles(): ReadonlyMap<string, DeviceProfile> {
    const profiles = new Map<string, DeviceProfile>();
    for (const file of fs.readdirSync(devicesDir).filter((f) => f.endsWith(".json")).sort()) {
        const parsed = profileSchema.safeParse(JSON.parse(fs.readFileSync(path.join(devicesDir, file), "utf8")));
        if (!parsed.success) {
            throw new Error(`hosts/pmos/devices/${file}: not a valid device profile: ${parsed.error.message}`);
        }
        if (`${parsed.data.name}.json` !== file) {
            throw new Error(`hosts/pmos/devices/${file}: name "${parsed.data.name}" must match the file name`);
        }
        profiles.set(parsed.data.name, parsed.data);
    }
    return profiles;
}

export const deviceProfiles: ReadonlyMap<string, DeviceProfile> = loadProfiles();

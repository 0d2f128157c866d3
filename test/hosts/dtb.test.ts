import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describe, expect, it } from "vitest";
import { batteryCapFiles } from "../../hosts/pmos/files";
import { parseHousehold } from "../../household/model";
import { homelabHousehold } from "../fixtures";
import { run } from "../run";

// The charge cap as the charger reads it: one big-endian 32-bit cell in /battery of the DTB that
// boots. Everything here runs the real dtc, fdtget and fdtput.

const household = parseHousehold(homelabHousehold(), "test");
const one6t = household.phones[0]!;

function stockDtb(dir: string): string {
    const dts = path.join(dir, "fajita.dts");
    fs.writeFileSync(
        dts,
        [
            "/dts-v1/;",
            "/ {",
            '\tmodel = "OnePlus 6T";',
            "\tbattery: battery {",
            '\t\tcompatible = "simple-battery";',
            "\t\tcharge-full-design-microamp-hours = <3700000>;",
            "\t\tvoltage-min-design-microvolt = <3400000>;",
            "\t\tvoltage-max-design-microvolt = <4400000>;",
            "\t};",
            "};",
            "",
        ].join("\n"),
    );
    const dtb = path.join(dir, "boot/dtbs/qcom/sdm845-oneplus-fajita.dtb");
    fs.mkdirSync(path.dirname(dtb), { recursive: true });
    run("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", dtb, dts]);
    return dtb;
}

function cellBytes(dtb: string): string {
    return run("fdtget", ["-t", "bx", dtb, "/battery", "voltage-max-design-microvolt"]).trim();
}

describe("the battery cap in the device tree", () => {
    it("encodes 3,800,000 µV as bytes 00 39 fb c0, and the seed's hex is wrong twice", () => {
        expect((3_800_000).toString(16).padStart(8, "0").match(/../g)).toEqual(["00", "39", "fb", "c0"]);
        expect(0x39f740).toBe(3_798_848);
        expect(0x432380).toBe(4_400_000);
    });

    it("the boot-deploy hook writes exact decimal microvolts into /boot/dtbs, once", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3ou-dtb-"));
        const dtb = stockDtb(dir);
        expect(cellBytes(dtb)).toBe("0 43 23 80");
        const files = batteryCapFiles(one6t, 3_800_000);
        expect(files.dtb).toBe("/boot/dtbs/qcom/sdm845-oneplus-fajita.dtb");
        const hook = path.join(dir, "hook");
        fs.writeFileSync(hook, files.hook.content);
        // The hook names /boot itself, as on the phone: give it this test's /boot in a private mount namespace.
        const runHook = () => run("unshare", ["--mount", "--propagation", "private", "sh", "-c", `mount --bind ${dir}/boot /boot && busybox sh ${hook}`]);
        runHook();
        expect(run("fdtget", ["-t", "u", dtb, "/battery", "voltage-max-design-microvolt"]).trim()).toBe("3800000");
        expect(cellBytes(dtb)).toBe("0 39 fb c0");
        const once = fs.readFileSync(dtb);
        const mtime = fs.statSync(dtb).mtimeMs;
        runHook();
        expect(fs.readFileSync(dtb).equals(once)).toBe(true);
        expect(fs.statSync(dtb).mtimeMs).toBe(mtime);
        // Only that property changed.
        const stock = path.join(dir, "stock.dtb");
        run("dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", stock, path.join(dir, "fajita.dts")]);
        const before = run("dtc", ["-q", "-I", "dtb", "-O", "dts", stock]).split("\n");
        const after = run("dtc", ["-q", "-I", "dtb", "-O", "dts", dtb]).split("\n");
        expect(after.filter((l, i) => l !== before[i])).toEqual(["\t\tvoltage-max-design-microvolt = <0x39fbc0>;"]);
    });
});

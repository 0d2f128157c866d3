import type { DeviceProfile } from "../../household/devices";

/** The DTB that the bootloader really boots is built from this file (boot-deploy appends it). */
export function bootDtbPath(profile: DeviceProfile): string {
    return `/boot/dtbs/${profile.dtb}.dtb`;
}

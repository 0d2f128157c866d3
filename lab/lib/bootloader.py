#!/usr/bin/python3
"""The lab's stand-in for the phone's Android bootloader (ABL).

Reads the phone's flashed boot partition exactly as boot-deploy left it, and
does what ABL + the kernel would do with it:

* the kernel region of boot.img ends with the appended DTB (deviceinfo
  append_dtb="true"); the first FDT blob found there is the tree the kernel
  boots with, so it is unflattened into FWDIR/devicetree/base, one directory
  per node and one file of raw bytes per property, like
  /sys/firmware/devicetree/base;
* the ramdisk is the initramfs mkinitfs built; the initramfs reads
  /usr/share/deviceinfo/deviceinfo then /etc/deviceinfo (and
  /etc/unudhcpd.conf) from it to set up the USB gadget, so the values that
  matter for the USB link are printed as KEY=VALUE lines on stdout.

Nothing read from the phone is ever executed: deviceinfo lines are parsed,
not sourced (the lab runs as root on the machine).

usage: bootloader.py PARTITION FWDIR
exit 0 = bootable; exit 1 = no valid boot image (the phone stays in the
bootloader, as a real one would).
"""
import gzip
import io
import os
import re
import struct
import sys

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9
ASSIGN = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)="([^"$`\\]*)"\s*$')
SAFE_VALUE = re.compile(r'^[A-Za-z0-9 ._:/,=+@-]*$')


def fail(msg):
    print(f"bootloader: {msg}", file=sys.stderr)
    sys.exit(1)


def align(n, page):
    return (n + page - 1) // page * page


def parse_bootimg(data):
    if data[:8] != b"ANDROID!":
        fail("no boot image in the boot partition (magic ANDROID! missing)")
    kernel_size, _, ramdisk_size = struct.unpack_from("<III", data, 8)
    page = struct.unpack_from("<I", data, 36)[0]
    if page not in (2048, 4096, 16384) or kernel_size == 0:
        fail(f"corrupt boot image header (page={page} kernel={kernel_size})")
    k0 = page
    r0 = page + align(kernel_size, page)
    if r0 + ramdisk_size > len(data):
        fail("boot image is truncated")
    return data[k0:k0 + kernel_size], data[r0:r0 + ramdisk_size]


def find_appended_dtb(kernel):
    # ABL scans the kernel image for the first FDT header after the kernel.
    magic = struct.pack(">I", FDT_MAGIC)
    pos = kernel.find(magic)
    while pos >= 0:
        if pos + 40 <= len(kernel):
            total = struct.unpack_from(">I", kernel, pos + 4)[0]
            if 40 <= total <= len(kernel) - pos:
                return kernel[pos:pos + total]
        pos = kernel.find(magic, pos + 1)
    fail("no device tree appended to the kernel (append_dtb)")


def unflatten(dtb, base):
    (_, _, off_struct, off_strings, _, _, _, _, size_strings, size_struct) = struct.unpack_from(">10I", dtb, 0)
    strings = dtb[off_strings:off_strings + size_strings]
    pos, end = off_struct, off_struct + size_struct
    path = []
    names_seen = []
    while pos < end:
        token = struct.unpack_from(">I", dtb, pos)[0]
        pos += 4
        if token == FDT_BEGIN_NODE:
            nul = dtb.index(b"\0", pos)
            name = dtb[pos:nul].decode()
            pos = align(nul + 1, 4)
            path.append(name)
            d = os.path.join(base, *[p for p in path if p])
            os.makedirs(d, exist_ok=True)
            names_seen.append(False)
            if name:
                # Linux synthesises a "name" property (node name without unit address).
                with open(os.path.join(d, "name"), "wb") as f:
                    f.write(name.split("@")[0].encode() + b"\0")
        elif token == FDT_END_NODE:
            path.pop()
            names_seen.pop()
        elif token == FDT_PROP:
            length, nameoff = struct.unpack_from(">II", dtb, pos)
            pos += 8
            value = dtb[pos:pos + length]
            pos = align(pos + length, 4)
            pname = strings[nameoff:strings.index(b"\0", nameoff)].decode()
            d = os.path.join(base, *[p for p in path if p])
            with open(os.path.join(d, pname), "wb") as f:
                f.write(value)
        elif token == FDT_NOP:
            continue
        elif token == FDT_END:
            break
        else:
            fail(f"corrupt device tree (token {token})")


def cpio_files(archive):
    files = {}
    pos = 0
    while pos + 110 <= len(archive):
        hdr = archive[pos:pos + 110]
        if hdr[:6] not in (b"070701", b"070702"):
            break
        fields = [int(hdr[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = archive[name_start:name_start + namesize - 1].decode()
        data_start = align(name_start + namesize, 4)
        if name == "TRAILER!!!":
            break
        if mode & 0o170000 == 0o100000:
            files[name.lstrip("./")] = archive[data_start:data_start + filesize]
        pos = align(data_start + filesize, 4)
    return files


def parse_assignments(text, into):
    for line in text.decode(errors="replace").splitlines():
        m = ASSIGN.match(line)
        if m and SAFE_VALUE.match(m.group(2)):
            into[m.group(1)] = m.group(2)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    partition, fwdir = sys.argv[1:]
    with open(partition, "rb") as f:
        data = f.read()
    kernel, ramdisk = parse_bootimg(data)
    dtb = find_appended_dtb(kernel)
    base = os.path.join(fwdir, "devicetree", "base")
    os.makedirs(base, exist_ok=True)
    unflatten(dtb, base)
    with open(os.path.join(fwdir, "fdt"), "wb") as f:
        f.write(dtb)

    try:
        archive = gzip.decompress(ramdisk)
    except (OSError, EOFError):
        archive = ramdisk
    files = cpio_files(archive)
    values = {}
    # source_deviceinfo order: the package's file, then the user's overrides.
    for name in ("usr/share/deviceinfo/deviceinfo", "etc/deviceinfo", "etc/unudhcpd.conf"):
        if name in files:
            parse_assignments(files[name], values)
    out = io.StringIO()
    for key in sorted(values):
        if key.startswith(("deviceinfo_", "unudhcpd_")):
            out.write(f"{key}={values[key]}\n")
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()

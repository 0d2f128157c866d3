"""Stand-ins for the systemd pieces of the lab laptop ("Ubuntu" with netplan).

The machine's PID 1 is not systemd, so systemd-udevd, systemd-networkd and
PID 1's unit manager cannot run inside the laptop's namespaces. This module
does their jobs for the lab, on the real files they read:

* udev (net subsystem only): runs the rules files in /etc/udev/rules.d,
  /run/udev/rules.d and /usr/lib/udev/rules.d in lexical order, with the
  builtins path_id, usb_id, net_id, net_driver and net_setup_link; the latter
  applies the first matching systemd .link file (Path=, MACAddress=,
  PermanentMACAddress=, OriginalName=, Driver=, Type=, Kind=, Property=;
  Name=, NamePolicy=, MACAddress=, MTUBytes=). A NAME= rename takes the link
  down, renames it and restores its state, as udev does at "add" time.
  The USB identity of a link (what sysfs/usb_id would report) is the lab's
  "hardware": the link's ifalias, set by lab.sh when the phone is plugged.
* networkd: applies /run/systemd/network/*.network (+ /etc, /usr/lib): [Match]
  Name/MACAddress/PermanentMACAddress/Driver/Path/Type; [Network] Address,
  Gateway, DNS, LinkLocalAddressing; [Address] Address; [Route] Destination,
  Gateway, Metric, Table, Scope, PreferredSource, GatewayOnLink; [Link]
  MTUBytes, MACAddress. It does not do DHCP, RA, bonds, bridges or VLANs (it
  says so when a file asks for them).
* systemctl: unit files in /etc/systemd/system, /run/systemd/system and
  /usr/lib/systemd/system, Type=oneshot/simple/exec/notify/forking, Restart=,
  enable/disable symlinks, boot ordering by After=/Before=.
"""
import fnmatch
import glob
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

RUN = "/run"
UDEV_DB = "/run/udev/data"
NETWORKD_STATE = "/run/lab-networkd"
SYSTEMD_STATE = "/run/lab-systemd"
JOURNAL = "/var/log/lab-journal"
LOCK = "/run/lab-udev-networkd.lock"


def journal(unit, msg):
    os.makedirs(JOURNAL, exist_ok=True)
    with open(os.path.join(JOURNAL, unit + ".log"), "a") as f:
        f.write(time.strftime("%b %d %H:%M:%S ") + msg.rstrip("\n") + "\n")


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


class Lock:
    def __enter__(self):
        import fcntl
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        self.f = open(LOCK, "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *a):
        self.f.close()


# --- links -------------------------------------------------------------------

def links():
    out = run(["ip", "-d", "-j", "link", "show"]).stdout
    return json.loads(out)


def link(name):
    for l in links():
        if l["ifname"] == name:
            return l
    return None


def hw_props(l):
    """The simulated hardware behind a link, from its ifalias (set by lab.sh)."""
    alias = l.get("ifalias", "") or ""
    if not alias.startswith("k3ou-hw"):
        return None
    props = {}
    for tok in alias.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            props[k] = v
    return props


def link_kind(l):
    return (l.get("linkinfo") or {}).get("info_kind", "")


def path_name(id_path):
    """udev-builtin-net_id's path name for a USB NIC behind a PCI xHCI."""
    m = re.match(r"pci-([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])-usb-0:([0-9.]+):(\d+)\.(\d+)$", id_path)
    if not m:
        return None
    dom, bus, slot, fn, ports, cfg, intf = m.groups()
    name = "en"
    if int(dom, 16):
        name += f"P{int(dom, 16)}"
    name += f"p{int(bus, 16)}s{int(slot, 16)}f{int(fn)}"
    name += "u" + ports.replace(".", "u")
    if cfg != "1":
        name += f"c{cfg}"
    if intf != "0":
        name += f"i{intf}"
    return name if len(name) <= 15 else None


# --- udev ----------------------------------------------------------------------

RULES_DIRS = ["/etc/udev/rules.d", "/run/udev/rules.d", "/usr/lib/udev/rules.d"]
LINK_DIRS = ["/etc/systemd/network", "/run/systemd/network", "/usr/lib/systemd/network"]


def config_files(dirs, suffix):
    """systemd/udev precedence: same basename -> earlier dir wins; lexical order."""
    chosen = {}
    for d in dirs:
        for p in sorted(glob.glob(os.path.join(d, "*" + suffix))):
            chosen.setdefault(os.path.basename(p), p)
    return [chosen[k] for k in sorted(chosen)]


def parse_ini(path):
    """[(section, key, value)] in file order; systemd syntax incl. continuations."""
    entries, section, buf = [], None, ""
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return entries
    for raw in lines:
        line = buf + raw.strip()
        buf = ""
        if line.endswith("\\"):
            buf = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" in line and section:
            k, v = line.split("=", 1)
            entries.append((section, k.strip(), v.strip()))
    return entries


def ini_get(entries, section, key, default=None):
    v = default
    for s, k, val in entries:
        if s == section and k == key:
            v = val
    return v


def ini_all(entries, section, key):
    vals = []
    for s, k, val in entries:
        if s == section and k == key:
            if val == "":
                vals = []
            else:
                vals.append(val)
    return vals


class Device:
    def __init__(self, l, action):
        self.l = l
        self.action = action
        self.name = l["ifname"]
        self.hw = hw_props(l)
        self.env = {
            "ACTION": action,
            "SUBSYSTEM": "net",
            "INTERFACE": self.name,
            "IFINDEX": str(l["ifindex"]),
            "DEVPATH": self.devpath(),
        }
        self.assigned_name = ""
        self.name_final = False
        db = read_db(l["ifindex"])
        self.renamed_before = db.get("K3OU_RENAMED") == "1"
        self.original_name = db.get("K3OU_ORIGINAL_NAME", self.name)

    def devpath(self):
        if self.hw:
            port = self.hw.get("path", "").split("-usb-0:")[-1].split(":")[0]
            return f"/devices/pci0000:00/0000:00:14.0/usb2/2-{port}/2-{port}:1.0/net/{self.name}"
        return f"/devices/virtual/net/{self.name}"

    def mac(self):
        return (self.l.get("address") or "").lower()

    def subsystems(self):
        return {"net", "usb", "pci"} if self.hw else {"net"}

    def drivers(self):
        return {self.hw.get("driver", ""), "usb", "xhci_hcd"} if self.hw else set()

    def attr(self, name):
        if name == "address":
            return self.mac()
        if name == "type":
            return "1"
        if name == "addr_assign_type":
            return "0" if self.hw else "3"
        if name == "mtu":
            return str(self.l.get("mtu", ""))
        if name == "ifindex":
            return str(self.l["ifindex"])
        if name == "operstate":
            return (self.l.get("operstate") or "").lower()
        return None

    def attrs(self, name):
        vals = []
        own = self.attr(name)
        if own is not None:
            vals.append(own)
        if self.hw:
            m = {"serial": "serial", "idVendor": "vid", "idProduct": "pid",
                 "manufacturer": "vendor", "product": "model"}
            if name in m:
                vals.append(self.hw.get(m[name], "").replace("_", " ") if name in ("manufacturer", "product")
                            else self.hw.get(m[name], ""))
        return vals

    # builtins
    def builtin(self, spec):
        name = spec.split()[0] if spec else ""
        if name == "path_id":
            if self.hw and self.hw.get("path"):
                self.env["ID_PATH"] = self.hw["path"]
                self.env["ID_PATH_TAG"] = re.sub(r"[^A-Za-z0-9]", "_", self.hw["path"])
                return True
            return False
        if name == "usb_id":
            if not self.hw:
                return False
            h = self.hw
            self.env.update({
                "ID_BUS": "usb", "ID_VENDOR": h.get("vendor", ""), "ID_VENDOR_ENC": h.get("vendor", ""),
                "ID_VENDOR_ID": h.get("vid", ""), "ID_MODEL": h.get("model", ""), "ID_MODEL_ENC": h.get("model", ""),
                "ID_MODEL_ID": h.get("pid", ""), "ID_REVISION": "0510",
                "ID_SERIAL": f"{h.get('vendor', '')}_{h.get('model', '')}_{h.get('serial', '')}",
                "ID_SERIAL_SHORT": h.get("serial", ""), "ID_USB_DRIVER": h.get("driver", ""),
                "ID_USB_INTERFACE_NUM": "00",
                "ID_USB_INTERFACES": ":020d00:0a0001:" if h.get("driver") == "cdc_ncm" else ":ff0000:",
            })
            return True
        if name == "net_id":
            mac = self.mac().replace(":", "")
            if mac:
                self.env["ID_NET_NAME_MAC"] = "enx" + mac
            if self.hw:
                p = path_name(self.hw.get("path", ""))
                if p:
                    self.env["ID_NET_NAME_PATH"] = p
            self.env["ID_NET_NAMING_SCHEME"] = "v255"
            return True
        if name == "net_driver":
            drv = self.hw.get("driver") if self.hw else link_kind(self.l)
            if drv:
                self.env["ID_NET_DRIVER"] = drv
            return True
        if name == "net_setup_link":
            self.net_setup_link()
            return True
        # hwdb, blkid, input_id, ...: nothing to add for the lab's links.
        return True

    def link_matches(self, entries):
        checks = [(k, v) for s, k, v in entries if s == "Match"]
        for k, v in checks:
            words = v.split()
            neg = False
            if words and words[0].startswith("!"):
                neg = True
                words[0] = words[0][1:]
            if k in ("MACAddress", "PermanentMACAddress"):
                ok = self.mac() in [w.lower() for w in words]
            elif k == "OriginalName":
                ok = any(fnmatch.fnmatchcase(self.original_name, w) for w in words)
            elif k == "Name":
                ok = any(fnmatch.fnmatchcase(self.name, w) for w in words)
            elif k == "Path":
                ok = any(fnmatch.fnmatchcase(self.env.get("ID_PATH", ""), w) for w in words)
            elif k == "Driver":
                drv = self.hw.get("driver") if self.hw else link_kind(self.l)
                ok = any(fnmatch.fnmatchcase(drv or "", w) for w in words)
            elif k == "Type":
                ok = "ether" in words
            elif k == "Kind":
                ok = link_kind(self.l) in words
            elif k == "Property":
                ok = True
                for w in words:
                    pk, _, pv = w.partition("=")
                    if not fnmatch.fnmatchcase(self.env.get(pk, ""), pv):
                        ok = False
            else:
                # Host=, Virtualization=, KernelCommandLine=, ...: not simulated; match.
                ok = True
            if neg:
                ok = not ok
            if not ok:
                return False
        return True

    def net_setup_link(self):
        for path in config_files(LINK_DIRS, ".link"):
            entries = parse_ini(path)
            if not self.link_matches(entries):
                continue
            self.env["ID_NET_LINK_FILE"] = path
            self.link_file = entries
            policy = ini_get(entries, "Link", "NamePolicy")
            chosen = None
            if policy:
                for p in policy.split():
                    if p == "keep" and self.renamed_before:
                        chosen = None
                        break
                    if p == "path" and self.env.get("ID_NET_NAME_PATH"):
                        chosen = self.env["ID_NET_NAME_PATH"]
                        break
                    if p == "mac" and self.env.get("ID_NET_NAME_MAC"):
                        chosen = self.env["ID_NET_NAME_MAC"]
                        break
                    # kernel, database, onboard, slot: never apply to the lab's USB NICs.
            if not chosen and ini_get(entries, "Link", "Name") and not (policy and "keep" in policy.split() and self.renamed_before):
                chosen = ini_get(entries, "Link", "Name")
            if chosen:
                self.env["ID_NET_NAME"] = chosen
            return
        self.link_file = None


def read_db(ifindex):
    props = {}
    try:
        for line in open(os.path.join(UDEV_DB, f"n{ifindex}")):
            if line.startswith("E:"):
                k, _, v = line[2:].rstrip("\n").partition("=")
                props[k] = v
    except OSError:
        pass
    return props


def write_db(dev):
    os.makedirs(UDEV_DB, exist_ok=True)
    with open(os.path.join(UDEV_DB, f"n{dev.l['ifindex']}"), "w") as f:
        for k in sorted(dev.env):
            f.write(f"E:{k}={dev.env[k]}\n")


TOKEN = re.compile(r'\s*([A-Za-z_]+)(?:\{([^}]*)\})?\s*(==|!=|\+=|-=|:=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_rules(path):
    rules = []
    try:
        text = open(path).read()
    except OSError:
        return rules
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        toks, pos = [], 0
        while pos < len(line):
            m = TOKEN.match(line, pos)
            if not m:
                break
            toks.append(m.groups())
            pos = m.end()
        if toks:
            rules.append(toks)
    return rules


def subst(dev, s):
    def env(m):
        return dev.env.get(m.group(1), "")
    s = re.sub(r"\$env\{([^}]*)\}|%E\{([^}]*)\}", lambda m: dev.env.get(m.group(1) or m.group(2), ""), s)
    s = re.sub(r"\$attr\{([^}]*)\}|%s\{([^}]*)\}", lambda m: dev.attr(m.group(1) or m.group(2)) or "", s)
    s = s.replace("$kernel", dev.name).replace("%k", dev.name)
    s = s.replace("$name", dev.assigned_name or dev.name)
    return s


def glob_match(value, pattern):
    return any(fnmatch.fnmatchcase(value, alt) for alt in pattern.split("|"))


def rule_matches(dev, key, attr, op, val):
    """None = not a match key; True/False = match result."""
    val_s = subst(dev, val) if key in ("TEST",) else val
    if key == "ACTION":
        cands = [dev.action]
    elif key == "SUBSYSTEM":
        cands = ["net"]
    elif key == "SUBSYSTEMS":
        cands = list(dev.subsystems())
    elif key in ("KERNEL", "KERNELS"):
        cands = [dev.name]
    elif key == "NAME" and op in ("==", "!="):
        cands = [dev.assigned_name]
    elif key == "DRIVER":
        cands = [""]
    elif key == "DRIVERS":
        cands = list(dev.drivers())
    elif key == "ENV" and op in ("==", "!="):
        cands = [dev.env.get(attr, "")]
    elif key == "ATTR" and op in ("==", "!="):
        a = dev.attr(attr)
        if a is None:
            return op == "!="
        cands = [a]
    elif key == "ATTRS":
        cands = dev.attrs(attr)
        if not cands:
            return op == "!="
    elif key == "TEST":
        exists = os.path.exists(val_s)
        return exists if op == "==" else not exists
    elif key in ("PROGRAM", "RESULT"):
        return False  # not simulated: the rule does not match
    elif key == "IMPORT":
        if attr == "builtin":
            return dev.builtin(subst(dev, val))
        if attr == "cmdline":
            return False
        return False
    elif key == "CONST":
        cands = ["none"] if attr == "virt" else ["linux"]
    else:
        return None
    if not cands:
        cands = [""]
    hit = any(glob_match(c, val) for c in cands)
    if key == "ATTRS" and op == "!=":
        return not hit
    return hit if op == "==" else not hit


def udev_event(l, action="add", log=True):
    dev = Device(l, action)
    rules = []
    for path in config_files(RULES_DIRS, ".rules"):
        rules.extend(parse_rules(path))
    goto = None
    for toks in rules:
        if goto:
            for key, attr, op, val in toks:
                if key == "LABEL" and val == goto:
                    goto = None
            continue
        ok = True
        for key, attr, op, val in toks:
            if op in ("==", "!=") or key in ("IMPORT", "TEST", "PROGRAM"):
                r = rule_matches(dev, key, attr, op, val)
                if r is False:
                    ok = False
                    break
        if not ok:
            continue
        for key, attr, op, val in toks:
            if op in ("==", "!=") or key in ("IMPORT", "TEST", "PROGRAM", "LABEL"):
                continue
            if key == "NAME" and not dev.name_final:
                dev.assigned_name = subst(dev, val)
                if op == ":=":
                    dev.name_final = True
            elif key == "ENV":
                v = subst(dev, val)
                if op == "+=":
                    dev.env[attr] = (dev.env.get(attr, "") + " " + v).strip()
                else:
                    dev.env[attr] = v
            elif key == "GOTO":
                goto = val
        # GOTO found in this rule: skip to the label.
    renamed = False
    new = dev.assigned_name
    if action == "add" and new and new != dev.name:
        renamed = rename(dev.name, new)
        if renamed:
            dev.env["INTERFACE"] = new
            dev.env["DEVPATH"] = dev.devpath().rsplit("/", 1)[0] + "/" + new
    # Link settings from the .link file (MTU, MAC), as net_setup_link applies them.
    lf = getattr(dev, "link_file", None)
    target = new if renamed else dev.name
    if lf and action == "add":
        mtu = ini_get(lf, "Link", "MTUBytes")
        if mtu:
            run(["ip", "link", "set", "dev", target, "mtu", mtu], check=False)
        mac = ini_get(lf, "Link", "MACAddress")
        if mac:
            run(["ip", "link", "set", "dev", target, "address", mac], check=False)
    dev.env["K3OU_ORIGINAL_NAME"] = dev.original_name
    dev.env["K3OU_RENAMED"] = "1" if (renamed or dev.renamed_before) else "0"
    write_db(dev)
    if log:
        msg = f"{dev.name}: {action}"
        if renamed:
            msg += f", renamed to {new}"
        elif new and new != dev.name and action == "add":
            msg += f", rename to {new} FAILED"
        if dev.env.get("ID_NET_LINK_FILE"):
            msg += f" (link file {dev.env['ID_NET_LINK_FILE']})"
        journal("systemd-udevd.service", msg)
    return target


def rename(old, new):
    l = link(old)
    if link(new):
        journal("systemd-udevd.service", f"{old}: Failed to rename network interface to '{new}': File exists")
        return False
    was_up = "UP" in (l.get("flags") or [])
    if was_up:
        run(["ip", "link", "set", "dev", old, "down"])
    r = run(["ip", "link", "set", "dev", old, "name", new], check=False)
    if r.returncode != 0:
        journal("systemd-udevd.service", f"{old}: Failed to rename network interface to '{new}': {r.stderr.strip()}")
        if was_up:
            run(["ip", "link", "set", "dev", old, "up"], check=False)
        return False
    if was_up:
        run(["ip", "link", "set", "dev", new, "up"])
    return True


def udevadm_main(argv):
    if not argv:
        print("udevadm: missing command (info, trigger, settle, control, test-builtin)", file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "info":
        query, dev = "all", None
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-q", "--query"):
                query = args[i + 1]
                i += 1
            elif a.startswith("--query="):
                query = a.split("=", 1)[1]
            elif a in ("-p", "--path"):
                dev = args[i + 1]
                i += 1
            elif a.startswith("--path="):
                dev = a.split("=", 1)[1]
            elif a in ("-n", "--name"):
                dev = args[i + 1]
                i += 1
            elif not a.startswith("-"):
                dev = a
            i += 1
        if not dev:
            print("udevadm info: a device is required", file=sys.stderr)
            return 2
        name = dev.rstrip("/").split("/")[-1]
        l = link(name)
        if not l:
            print(f"Unknown device \"{dev}\": No such device", file=sys.stderr)
            return 4
        props = read_db(l["ifindex"])
        if not props:
            d = Device(l, "add")
            for b in ("path_id", "usb_id", "net_id", "net_driver", "net_setup_link"):
                d.builtin(b)
            props = d.env
        props = {k: v for k, v in props.items() if not k.startswith("K3OU_")}
        props["INTERFACE"] = name
        props["DEVPATH"] = props.get("DEVPATH", "").rsplit("/", 1)[0] + "/" + name
        if query == "property":
            for k in sorted(props):
                print(f"{k}={props[k]}")
        elif query == "path":
            print(props["DEVPATH"])
        elif query == "name":
            print(name)
        else:
            print(f"P: {props['DEVPATH']}")
            for k in sorted(props):
                print(f"E: {k}={props[k]}")
        return 0
    if cmd == "trigger":
        action, subsystems, sysnames, dry = "change", [], [], False
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-c", "--action"):
                action = args[i + 1]
                i += 1
            elif a.startswith("--action="):
                action = a.split("=", 1)[1]
            elif a in ("-s", "--subsystem-match"):
                subsystems.append(args[i + 1])
                i += 1
            elif a.startswith("--subsystem-match="):
                subsystems.append(a.split("=", 1)[1])
            elif a in ("-y", "--sysname-match"):
                sysnames.append(args[i + 1])
                i += 1
            elif a.startswith("--sysname-match="):
                sysnames.append(a.split("=", 1)[1])
            elif a in ("-n", "--dry-run"):
                dry = True
            i += 1
        if subsystems and "net" not in subsystems:
            return 0
        with Lock():
            for l in links():
                if l["ifname"] == "lo":
                    continue
                if sysnames and not any(fnmatch.fnmatchcase(l["ifname"], s) for s in sysnames):
                    continue
                if not dry:
                    udev_event(l, action)
        return 0
    if cmd == "settle":
        return 0  # events are processed synchronously by trigger
    if cmd == "control":
        return 0  # rules and .link files are read afresh at every event
    if cmd == "test-builtin":
        if len(args) < 2:
            print("usage: udevadm test-builtin COMMAND DEVPATH", file=sys.stderr)
            return 2
        l = link(args[1].rstrip("/").split("/")[-1])
        if not l:
            print(f"Failed to open device '{args[1]}'", file=sys.stderr)
            return 1
        d = Device(l, "add")
        if args[0] == "net_setup_link":
            d.builtin("path_id")
            d.builtin("net_id")
            d.builtin("net_driver")
        d.builtin(args[0])
        for k in sorted(d.env):
            if k.startswith("ID_"):
                print(f"{k}={d.env[k]}")
        return 0
    print(f"udevadm: '{cmd}' is not implemented by the lab stand-in", file=sys.stderr)
    return 2


# --- networkd --------------------------------------------------------------------

def network_matches(entries, l):
    hw = hw_props(l)
    db = read_db(l["ifindex"])
    any_key = False
    for s, k, v in entries:
        if s != "Match":
            continue
        any_key = True
        words = v.split()
        neg = bool(words) and words[0].startswith("!")
        if neg:
            words[0] = words[0][1:]
        if k == "Name":
            ok = any(fnmatch.fnmatchcase(l["ifname"], w) for w in words)
        elif k in ("MACAddress", "PermanentMACAddress"):
            ok = (l.get("address") or "").lower() in [w.lower() for w in words]
        elif k == "Driver":
            drv = hw.get("driver") if hw else link_kind(l)
            ok = any(fnmatch.fnmatchcase(drv or "", w) for w in words)
        elif k == "Path":
            ok = any(fnmatch.fnmatchcase(hw.get("path", "") if hw else "", w) for w in words)
        elif k == "Type":
            ok = "ether" in words
        elif k == "Kind":
            ok = link_kind(l) in words
        elif k == "Property":
            ok = all(fnmatch.fnmatchcase(db.get(w.partition("=")[0], ""), w.partition("=")[2]) for w in words)
        else:
            ok = True
        if neg:
            ok = not ok
        if not ok:
            return False
    return any_key


def networkd_apply(only=None):
    """Configures every link (or only `only`) that a .network file matches."""
    files = config_files(LINK_DIRS, ".network")
    parsed = [(p, parse_ini(p)) for p in files]
    os.makedirs(NETWORKD_STATE, exist_ok=True)
    dns = []
    for l in links():
        name = l["ifname"]
        if name == "lo" or (only and name != only):
            continue
        for path, entries in parsed:
            if network_matches(entries, l):
                dns += configure_link(l, path, entries)
                break
    if dns or only is None:
        write_resolv(dns)


def configure_link(l, path, e):
    name = l["ifname"]
    unit = "systemd-networkd.service"
    for s, k, v in e:
        if (s, k) in (("Network", "DHCP"),) and v.lower() not in ("no", "false"):
            journal(unit, f"{name}: lab stand-in: DHCP={v} is not simulated (no DHCP server in the lab)")
        if s in ("Bond", "Bridge", "VLAN", "NetDev"):
            journal(unit, f"{name}: lab stand-in: [{s}] is not simulated")
    mtu = ini_get(e, "Link", "MTUBytes")
    if mtu:
        run(["ip", "link", "set", "dev", name, "mtu", mtu], check=False)
    mac = ini_get(e, "Link", "MACAddress")
    if mac:
        run(["ip", "link", "set", "dev", name, "address", mac], check=False)
    ll = (ini_get(e, "Network", "LinkLocalAddressing", "ipv6") or "ipv6").lower()
    if ll in ("no", "false", "ipv4", "fallback"):
        run(["ip", "link", "set", "dev", name, "addrgenmode", "none"], check=False)
        run(["ip", "-6", "addr", "flush", "dev", name, "scope", "link"], check=False)
    else:
        run(["ip", "link", "set", "dev", name, "addrgenmode", "eui64"], check=False)
    run(["ip", "link", "set", "dev", name, "up"])

    want_addrs = ini_all(e, "Network", "Address") + ini_all(e, "Address", "Address")
    statef = os.path.join(NETWORKD_STATE, f"{l['ifindex']}.json")
    try:
        old = json.load(open(statef))
    except (OSError, ValueError):
        old = {"addresses": [], "routes": []}
    for a in old.get("addresses", []):
        if a not in want_addrs:
            run(["ip", "addr", "del", a, "dev", name], check=False)
    for a in want_addrs:
        r = run(["ip", "addr", "replace", a, "dev", name], check=False)
        if r.returncode:
            journal(unit, f"{name}: could not set address {a}: {r.stderr.strip()}")

    routes = routes_from(path, e)
    applied = []
    for r in old.get("routes", []):
        if r not in [route_args(x) for x in routes]:
            run(ip_route("del", r) + ["dev", name], check=False)
    for r in routes:
        args = route_args(r)
        res = run(ip_route("replace", args) + ["dev", name, "proto", "static"], check=False)
        if res.returncode:
            journal(unit, f"{name}: could not add route {' '.join(args)}: {res.stderr.strip()}")
        else:
            applied.append(args)
    json.dump({"file": path, "addresses": want_addrs, "routes": applied}, open(statef, "w"))
    journal(unit, f"{name}: configured from {path}")
    return ini_all(e, "Network", "DNS")


def routes_from(path, e):
    """Routes of a .network file: Gateway= lines and one per [Route] section."""
    routes = []
    for gw in ini_all(e, "Network", "Gateway"):
        routes.append({"dst": "::/0" if ":" in gw else "default", "gw": gw})
    section, cur = None, None
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return routes
    for raw in lines + ["[_end]"]:
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if cur:
                routes.append(cur)
            section = line[1:-1]
            cur = {} if section == "Route" else None
            continue
        if section == "Route" and "=" in line:
            k, v = (x.strip() for x in line.split("=", 1))
            key = {"Destination": "dst", "Gateway": "gw", "Metric": "metric", "Table": "table",
                   "Scope": "scope", "PreferredSource": "src", "GatewayOnLink": "onlink",
                   "GatewayOnlink": "onlink"}.get(k)
            if key:
                cur[key] = v
    return [r for r in routes if r]


def ip_route(verb, args):
    if args and args[0] == "-6":
        return ["ip", "-6", "route", verb] + args[1:]
    return ["ip", "route", verb] + args


def route_args(r):
    dst = r.get("dst", "default")
    if dst in ("0.0.0.0/0", "::/0"):
        dst = "default"
    # "ip -6 route" needs -6 before the subcommand: route_args() keeps it first
    # and the callers put it right after "ip".
    args = ["-6"] if ":" in (r.get("gw", "") + r.get("dst", "")) else []
    args += [dst]
    if r.get("gw"):
        args += ["via", r["gw"]]
    if r.get("onlink", "").lower() in ("yes", "true", "1"):
        args += ["onlink"]
    if r.get("metric"):
        args += ["metric", r["metric"]]
    if r.get("table"):
        args += ["table", r["table"]]
    if r.get("scope"):
        args += ["scope", r["scope"]]
    if r.get("src"):
        args += ["src", r["src"]]
    return args


def write_resolv(dns):
    d = "/run/systemd/resolve"
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "resolv.conf"), "w") as f:
        f.write("# This is /run/systemd/resolve/resolv.conf (lab stand-in for systemd-resolved).\n")
        for s in dns:
            for a in s.split():
                f.write(f"nameserver {a}\n")
    with open(os.path.join(d, "stub-resolv.conf"), "w") as f:
        f.write("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n")


def networkctl_main(argv):
    cmd = argv[0] if argv else "list"
    if cmd in ("reload",):
        with Lock():
            networkd_apply()
        return 0
    if cmd in ("reconfigure", "up"):
        with Lock():
            for name in argv[1:]:
                networkd_apply(only=name)
        return 0
    if cmd in ("list", "status"):
        for l in links():
            if len(argv) > 1 and l["ifname"] not in argv[1:]:
                continue
            managed = os.path.exists(os.path.join(NETWORKD_STATE, f"{l['ifindex']}.json"))
            print(f"{l['ifindex']:>3} {l['ifname']:<16} {'ether':<8} {(l.get('operstate') or '').lower():<10} "
                  f"{'configured' if managed else 'unmanaged'}")
        return 0
    print(f"networkctl: '{cmd}' is not implemented by the lab stand-in", file=sys.stderr)
    return 2


# --- netplan -------------------------------------------------------------------

def real_netplan(args):
    code = ("import sys; sys.path.insert(0, '/usr/share/netplan'); sys.argv = ['netplan'] + sys.argv[1:]; "
            "from netplan import Netplan; Netplan().main()")
    return subprocess.call(["/usr/bin/python3", "-c", code] + args)


def netplan_main(argv):
    if argv and argv[0] == "apply":
        rc = real_netplan(["generate"])
        if rc:
            return rc
        with Lock():
            # netplan apply replugs links that are still down so udev can
            # rename them (doc/netplan-apply.md), then restarts networkd.
            for l in links():
                if l["ifname"] != "lo" and "UP" not in (l.get("flags") or []):
                    udev_event(l, "add")
            networkd_apply()
        return 0
    if argv and argv[0] == "try":
        print("netplan try: needs a terminal to confirm; the lab stand-in does not implement it "
              "(use netplan apply)", file=sys.stderr)
        return 2
    return real_netplan(argv)


# --- systemctl -----------------------------------------------------------------

UNIT_DIRS = ["/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
             "/usr/lib/systemd/system", "/lib/systemd/system"]
PSEUDO_TARGETS = {"network-online.target", "network.target", "multi-user.target", "default.target",
                  "sysinit.target", "basic.target", "graphical.target", "local-fs.target",
                  "remote-fs.target", "nss-lookup.target", "time-sync.target", "sockets.target",
                  "timers.target", "paths.target", "network-pre.target", "cloud-init.target"}
BOOT_TARGETS = ["sysinit.target", "basic.target", "network.target", "network-online.target",
                "multi-user.target", "default.target", "graphical.target"]


def unit_name(n):
    return n if "." in n else n + ".service"


def find_unit(name):
    name = unit_name(name)
    for d in UNIT_DIRS:
        p = os.path.join(d, name)
        if os.path.lexists(p):
            real = os.path.realpath(p)
            if real == "/dev/null":
                return p, name, True
            return real, os.path.basename(real), False
    return None, name, False


class Unit:
    def __init__(self, name):
        self.path, self.name, self.masked = find_unit(name)
        self.e = parse_ini(self.path) if self.path and not self.masked else []
        if self.path and not self.masked:
            for d in UNIT_DIRS:
                for p in sorted(glob.glob(os.path.join(d, self.name + ".d", "*.conf"))):
                    self.e += parse_ini(p)

    def exists(self):
        return self.path is not None

    def get(self, s, k, d=None):
        return ini_get(self.e, s, k, d)

    def all(self, s, k):
        return ini_all(self.e, s, k)

    def words(self, s, k):
        out = []
        for v in self.all(s, k):
            out += v.split()
        return out

    @property
    def type(self):
        return self.get("Service", "Type", "simple")


def state_path(name):
    return os.path.join(SYSTEMD_STATE, name + ".json")


def get_state(name):
    try:
        return json.load(open(state_path(name)))
    except (OSError, ValueError):
        return {"state": "inactive"}


def set_state(name, **kw):
    os.makedirs(SYSTEMD_STATE, exist_ok=True)
    st = get_state(name)
    st.update(kw)
    tmp = state_path(name) + ".tmp"
    json.dump(st, open(tmp, "w"))
    os.replace(tmp, state_path(name))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def unit_env(u):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "HOME": "/root", "USER": "root", "LOGNAME": "root", "SHELL": "/bin/sh",
           "INVOCATION_ID": os.urandom(16).hex()}
    for ef in u.all("Service", "EnvironmentFile"):
        optional = ef.startswith("-")
        ef = specifiers(u, ef.lstrip("-"))
        try:
            for line in open(ef):
                line = line.strip()
                if not line or line[0] in "#;" or "=" not in line:
                    continue
                k, v = line.split("=", 1)
                v = v.strip()
                if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                    v = v[1:-1]
                env[k.strip().removeprefix("export ").strip()] = v
        except OSError:
            if not optional:
                raise RuntimeError(f"{u.name}: EnvironmentFile {ef} is missing")
    for e in u.all("Service", "Environment"):
        for tok in shlex.split(e):
            if "=" in tok:
                k, v = tok.split("=", 1)
                env[k] = v
    return env


def specifiers(u, s):
    base = u.name.rsplit(".", 1)[0]
    return s.replace("%%", "\0").replace("%n", u.name).replace("%N", base).replace(
        "%p", base.split("@")[0]).replace("%i", base.split("@")[1] if "@" in base else "").replace("\0", "%")


def exec_argv(u, line, env):
    line = specifiers(u, line)
    ignore = False
    while line and line[0] in "-@+!:":
        if line[0] == "-":
            ignore = True
        line = line[1:]
    argv = []
    for tok in shlex.split(line):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", tok)
        if m:
            argv += env.get(m.group(1), "").split()
            continue
        tok = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), tok)
        argv.append(tok)
    return argv, ignore


def user_preexec(u):
    user = u.get("Service", "User")
    wd = u.get("Service", "WorkingDirectory")

    def pre():
        os.setsid()
        if user and user != "root":
            import pwd
            pw = pwd.getpwnam(user)
            os.initgroups(user, pw.pw_gid)
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        if wd:
            os.chdir(wd.lstrip("-~") or "/")
    return pre


def run_sync(u, key, env, log):
    for line in u.all("Service", key):
        argv, ignore = exec_argv(u, line, env)
        if not argv:
            continue
        rc = subprocess.call(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             preexec_fn=user_preexec(u))
        if rc != 0 and not ignore:
            journal(u.name, f"{key}={' '.join(argv)} exited {rc}")
            return rc
    return 0


def conditions_ok(u):
    for k in ("ConditionPathExists", "AssertPathExists"):
        for v in u.all("Unit", k):
            neg = v.startswith("!")
            exists = os.path.exists(v.lstrip("!"))
            if exists == neg:
                return False
    for v in u.all("Unit", "ConditionPathIsDirectory"):
        neg = v.startswith("!")
        if os.path.isdir(v.lstrip("!")) == neg:
            return False
    return True


def start_unit(name, seen=None):
    seen = seen or set()
    u = Unit(name)
    if u.name in seen:
        return 0
    seen.add(u.name)
    if u.name in PSEUDO_TARGETS or u.name.endswith(".target"):
        return 0
    if u.masked:
        print(f"Failed to start {u.name}: Unit {u.name} is masked.", file=sys.stderr)
        return 1
    if not u.exists():
        print(f"Failed to start {u.name}: Unit {u.name} not found.", file=sys.stderr)
        return 5
    st = get_state(u.name)
    if st.get("state") in ("active", "activating") and (st.get("type") == "oneshot" or pid_alive(st.get("main_pid"))):
        return 0
    for dep in u.words("Unit", "Requires") + u.words("Unit", "BindsTo"):
        if start_unit(dep, seen):
            print(f"A dependency job for {u.name} failed.", file=sys.stderr)
            return 1
    for dep in u.words("Unit", "Wants"):
        start_unit(dep, seen)
    if not conditions_ok(u):
        set_state(u.name, state="inactive", condition="failed", type=u.type)
        journal(u.name, f"{u.name} was skipped because of an unmet condition check.")
        return 0
    try:
        env = unit_env(u)
    except RuntimeError as ex:
        journal(u.name, str(ex))
        set_state(u.name, state="failed", result="resources", type=u.type)
        print(f"Job for {u.name} failed.", file=sys.stderr)
        return 1
    for rd in u.words("Service", "RuntimeDirectory"):
        os.makedirs(os.path.join("/run", rd), exist_ok=True)
        os.chmod(os.path.join("/run", rd), int(u.get("Service", "RuntimeDirectoryMode", "0755"), 8))
    os.makedirs(JOURNAL, exist_ok=True)
    log = open(os.path.join(JOURNAL, u.name + ".log"), "a")
    journal(u.name, f"Starting {u.get('Unit', 'Description', u.name)}...")
    set_state(u.name, state="activating", type=u.type, result="success")
    if run_sync(u, "ExecStartPre", env, log):
        set_state(u.name, state="failed", result="exit-code")
        print(f"Job for {u.name} failed because the control process exited with error code.", file=sys.stderr)
        return 1
    t = u.type
    if t == "oneshot":
        rc = run_sync(u, "ExecStart", env, log)
        if rc == 0:
            rc = run_sync(u, "ExecStartPost", env, log)
        if rc:
            set_state(u.name, state="failed", result="exit-code")
            print(f"Job for {u.name} failed because the control process exited with error code.", file=sys.stderr)
            return 1
        remain = (u.get("Service", "RemainAfterExit", "no") or "no").lower() in ("yes", "true", "1", "on")
        set_state(u.name, state="active" if remain else "inactive", main_pid=None)
        journal(u.name, f"Finished {u.get('Unit', 'Description', u.name)}.")
        return 0
    if t == "forking":
        rc = run_sync(u, "ExecStart", env, log)
        if rc:
            set_state(u.name, state="failed", result="exit-code")
            print(f"Job for {u.name} failed.", file=sys.stderr)
            return 1
        pid = None
        pf = u.get("Service", "PIDFile")
        for _ in range(50):
            if pf and os.path.exists(pf):
                try:
                    pid = int(open(pf).read().split()[0])
                    break
                except (ValueError, IndexError):
                    pass
            time.sleep(0.05)
        set_state(u.name, state="active", main_pid=pid)
        run_sync(u, "ExecStartPost", env, log)
        return 0
    # simple, exec, notify, idle, dbus: a supervisor keeps the main process and
    # restarts it per Restart=. notify units count as started once running
    # (no sd_notify READY=1 is awaited: callers must poll real readiness).
    set_state(u.name, state="activating", main_pid=None, stop=False)
    sup = subprocess.Popen([sys.executable, "/usr/bin/systemctl", "--lab-supervise", u.name],
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                           env=env)
    for _ in range(100):
        st = get_state(u.name)
        if st.get("main_pid") or st.get("state") in ("failed", "inactive"):
            break
        time.sleep(0.02)
    st = get_state(u.name)
    if st.get("state") == "failed":
        print(f"Job for {u.name} failed because the control process exited with error code.", file=sys.stderr)
        return 1
    set_state(u.name, supervisor=sup.pid)
    run_sync(u, "ExecStartPost", env, log)
    journal(u.name, f"Started {u.get('Unit', 'Description', u.name)}.")
    return 0


def supervise(name):
    u = Unit(name)
    env = dict(os.environ)
    line = (u.all("Service", "ExecStart") or [""])[-1]
    argv, _ = exec_argv(u, line, env)
    restart = (u.get("Service", "Restart", "no") or "no").lower()
    sec = u.get("Service", "RestartSec", "0.1") or "0.1"
    delay = float(re.sub(r"[^0-9.]", "", sec) or 0.1) * (60 if sec.endswith("min") else 1)
    prevent = set(u.words("Service", "RestartPreventExitStatus"))
    while True:
        try:
            p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, preexec_fn=user_preexec(u))
        except OSError as ex:
            journal(u.name, f"Failed to execute {argv[0] if argv else '?'}: {ex}")
            set_state(u.name, state="failed", main_pid=None, result="exit-code")
            return
        set_state(u.name, state="active", main_pid=p.pid)
        rc = p.wait()
        st = get_state(u.name)
        if st.get("stop"):
            set_state(u.name, state="inactive", main_pid=None)
            return
        journal(u.name, f"Main process exited, status={rc}")
        again = restart == "always" or (restart in ("on-failure", "on-abnormal", "on-abort") and rc != 0) \
            or (restart == "on-success" and rc == 0)
        if str(rc) in prevent or not again:
            set_state(u.name, state="inactive" if rc == 0 else "failed", main_pid=None,
                      result="success" if rc == 0 else "exit-code")
            return
        set_state(u.name, state="activating", main_pid=None)
        time.sleep(delay)
        if get_state(u.name).get("stop"):
            set_state(u.name, state="inactive", main_pid=None)
            return


def session_pids(sid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:
                    pids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return pids


def stop_unit(name):
    u = Unit(name)
    st = get_state(u.name)
    if st.get("state") not in ("active", "activating", "reloading"):
        if st.get("state") == "failed":
            return 0
        return 0
    set_state(u.name, stop=True)
    env = unit_env(u) if u.exists() else {}
    main = st.get("main_pid")
    if main:
        env["MAINPID"] = str(main)
    os.makedirs(JOURNAL, exist_ok=True)
    log = open(os.path.join(JOURNAL, u.name + ".log"), "a")
    journal(u.name, f"Stopping {u.get('Unit', 'Description', u.name)}...")
    run_sync(u, "ExecStop", env, log)
    mode = (u.get("Service", "KillMode", "control-group") or "control-group").lower()
    targets = []
    if main and pid_alive(main):
        targets.append(main)
    if mode in ("control-group", "mixed"):
        for key in ("supervisor", "main_pid"):
            pid = st.get(key)
            if pid:
                try:
                    targets += session_pids(os.getsid(pid))
                except OSError:
                    pass
    sup = st.get("supervisor")
    for pid in set(targets):
        if pid != sup and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.time() + 10
    while time.time() < deadline and any(pid_alive(p) for p in targets if p != sup):
        time.sleep(0.05)
    for pid in set(targets):
        if pid_alive(pid) and pid != os.getpid() and pid != sup:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    if sup and pid_alive(sup):
        deadline = time.time() + 2
        while time.time() < deadline and pid_alive(sup):
            time.sleep(0.05)
    run_sync(u, "ExecStopPost", env, log)
    set_state(u.name, state="inactive", main_pid=None, supervisor=None, stop=False)
    journal(u.name, f"Stopped {u.get('Unit', 'Description', u.name)}.")
    return 0


def is_active(name):
    u = Unit(name)
    if u.name in PSEUDO_TARGETS:
        return "active"
    st = get_state(u.name)
    s = st.get("state", "inactive")
    if s == "active" and st.get("type") != "oneshot" and st.get("main_pid") and not pid_alive(st["main_pid"]):
        return "failed"
    return s


def wants_dirs():
    out = []
    for d in ("/etc/systemd/system", "/run/systemd/system"):
        out += glob.glob(os.path.join(d, "*.wants")) + glob.glob(os.path.join(d, "*.requires"))
    return out


def enablement(name):
    u = Unit(name)
    if u.masked:
        return "masked"
    if not u.exists():
        return "not-found"
    for d in wants_dirs():
        for p in glob.glob(os.path.join(d, "*")):
            if os.path.basename(p) == u.name or os.path.basename(os.path.realpath(p)) == u.name:
                return "enabled"
    if not (u.all("Install", "WantedBy") or u.all("Install", "RequiredBy") or u.all("Install", "Alias")):
        return "static"
    return "disabled"


def enable_unit(name):
    u = Unit(name)
    if not u.exists():
        print(f"Failed to enable unit: Unit file {unit_name(name)} does not exist.", file=sys.stderr)
        return 1
    made = False
    for key, suffix in (("WantedBy", ".wants"), ("RequiredBy", ".requires")):
        for t in u.words("Install", key):
            d = os.path.join("/etc/systemd/system", t + suffix)
            os.makedirs(d, exist_ok=True)
            link_path = os.path.join(d, u.name)
            if not os.path.lexists(link_path):
                os.symlink(u.path, link_path)
                print(f"Created symlink {link_path} \u2192 {u.path}.", file=sys.stderr)
            made = True
    for a in u.words("Install", "Alias"):
        link_path = os.path.join("/etc/systemd/system", a)
        if not os.path.lexists(link_path):
            os.symlink(u.path, link_path)
            print(f"Created symlink {link_path} \u2192 {u.path}.", file=sys.stderr)
    if not made and not u.words("Install", "Alias"):
        print(f"The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
              f"Alias= settings in the [Install] section, and DefaultInstance= for template\n"
              f"units). This means they are not meant to be enabled or disabled using systemctl.", file=sys.stderr)
    return 0


def disable_unit(name):
    u = Unit(name)
    for d in wants_dirs():
        for p in glob.glob(os.path.join(d, "*")):
            if os.path.basename(p) == u.name or os.path.basename(os.path.realpath(p)) == u.name:
                os.unlink(p)
                print(f"Removed \"{p}\".", file=sys.stderr)
    for a in u.words("Install", "Alias"):
        p = os.path.join("/etc/systemd/system", a)
        if os.path.islink(p):
            os.unlink(p)
            print(f"Removed \"{p}\".", file=sys.stderr)
    return 0


def boot_order():
    """Enabled units (and what they pull in), ordered by After=/Before=."""
    names = []
    for t in BOOT_TARGETS:
        for suffix in (".wants", ".requires"):
            for d in ("/etc/systemd/system", "/run/systemd/system"):
                for p in sorted(glob.glob(os.path.join(d, t + suffix, "*"))):
                    n = os.path.basename(os.path.realpath(p)) if os.path.realpath(p) != "/dev/null" else None
                    if n and n.endswith(".service") and n not in names:
                        names.append(n)
    i = 0
    while i < len(names):
        u = Unit(names[i])
        for dep in u.words("Unit", "Requires") + u.words("Unit", "Wants"):
            dep = unit_name(dep)
            if dep.endswith(".service") and dep not in names:
                names.append(dep)
        i += 1
    after = {n: set() for n in names}
    for n in names:
        u = Unit(n)
        for a in u.words("Unit", "After"):
            if unit_name(a) in after:
                after[n].add(unit_name(a))
        for b in u.words("Unit", "Before"):
            if unit_name(b) in after:
                after[unit_name(b)].add(n)
    order, done = [], set()

    def visit(n, stack=()):
        if n in done or n in stack:
            return
        for a in sorted(after[n]):
            visit(a, stack + (n,))
        done.add(n)
        order.append(n)
    for n in names:
        visit(n)
    return order


def systemctl_main(argv):
    flags = [a for a in argv if a.startswith("-")]
    args = [a for a in argv if not a.startswith("-")]
    quiet = "-q" in flags or "--quiet" in flags
    now = "--now" in flags
    if "--lab-supervise" in flags:
        supervise(args[0])
        return 0
    if "--lab-boot" in flags:
        os.makedirs("/run/systemd/system", exist_ok=True)
        for n in boot_order():
            rc = start_unit(n)
            print(f"lab-boot: {n}: {'started' if rc == 0 else 'FAILED'}")
        return 0
    if "--lab-shutdown" in flags:
        for n in reversed(boot_order()):
            stop_unit(n)
        for p in glob.glob(os.path.join(SYSTEMD_STATE, "*.json")):
            n = os.path.basename(p)[:-5]
            if is_active(n) == "active":
                stop_unit(n)
        return 0
    if not args:
        args = ["list-units"]
    cmd, units = args[0], [unit_name(u) for u in args[1:]]
    if cmd == "daemon-reload" or cmd == "daemon-reexec":
        return 0  # unit files are read afresh on every command
    if cmd in ("start", "restart", "reload-or-restart", "try-restart", "condrestart"):
        rc = 0
        for n in units:
            if cmd != "start":
                if cmd in ("try-restart", "condrestart") and is_active(n) != "active":
                    continue
                stop_unit(n)
            rc = rc or start_unit(n)
        return rc
    if cmd == "stop":
        for n in units:
            stop_unit(n)
        return 0
    if cmd == "reload":
        rc = 0
        for n in units:
            u = Unit(n)
            st = get_state(u.name)
            env = unit_env(u)
            if st.get("main_pid"):
                env["MAINPID"] = str(st["main_pid"])
            if not u.all("Service", "ExecReload"):
                print(f"Failed to reload {u.name}: Job type reload is not applicable for unit {u.name}.",
                      file=sys.stderr)
                rc = 1
                continue
            rc = rc or run_sync(u, "ExecReload", env, open(os.path.join(JOURNAL, u.name + ".log"), "a"))
        return rc
    if cmd == "is-active":
        rc = 3
        for n in units:
            s = is_active(n)
            if not quiet:
                print(s)
            if s == "active":
                rc = 0
        return rc
    if cmd == "is-failed":
        rc = 1
        for n in units:
            s = is_active(n)
            if not quiet:
                print(s)
            if s == "failed":
                rc = 0
        return rc
    if cmd == "is-enabled":
        rc = 1
        for n in units:
            s = enablement(n)
            if s == "not-found":
                print(f"Failed to get unit file state for {n}: No such file or directory", file=sys.stderr)
                return 1
            if not quiet:
                print(s)
            if s in ("enabled", "static", "alias", "indirect", "generated"):
                rc = 0
        return rc
    if cmd == "enable":
        rc = 0
        for n in units:
            rc = rc or enable_unit(n)
            if now and rc == 0:
                rc = start_unit(n)
        return rc
    if cmd == "disable":
        for n in units:
            disable_unit(n)
            if now:
                stop_unit(n)
        return 0
    if cmd == "mask":
        for n in units:
            p = os.path.join("/etc/systemd/system", n)
            if not os.path.lexists(p):
                os.symlink("/dev/null", p)
                print(f"Created symlink {p} \u2192 /dev/null.", file=sys.stderr)
        return 0
    if cmd == "unmask":
        for n in units:
            p = os.path.join("/etc/systemd/system", n)
            if os.path.islink(p) and os.readlink(p) == "/dev/null":
                os.unlink(p)
                print(f"Removed \"{p}\".", file=sys.stderr)
        return 0
    if cmd == "reset-failed":
        for n in units or [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(SYSTEMD_STATE, "*.json"))]:
            if get_state(n).get("state") == "failed":
                set_state(n, state="inactive")
        return 0
    if cmd == "status":
        rc = 0
        for n in units:
            u = Unit(n)
            s = is_active(u.name)
            st = get_state(u.name)
            print(f"\u25cf {u.name} - {u.get('Unit', 'Description', u.name)}")
            print(f"     Loaded: {'loaded' if u.exists() else 'not-found'} ({u.path}; {enablement(u.name)})")
            print(f"     Active: {s}" + (f"\n   Main PID: {st['main_pid']}" if st.get("main_pid") else ""))
            logf = os.path.join(JOURNAL, u.name + ".log")
            if os.path.exists(logf):
                print()
                print("".join(open(logf).readlines()[-10:]), end="")
            if s != "active":
                rc = 3
        return rc
    if cmd == "show":
        props = None
        value_only = "--value" in flags
        for i, a in enumerate(argv):
            if a in ("-p", "--property") and i + 1 < len(argv):
                props = (props or []) + argv[i + 1].split(",")
            elif a.startswith("--property="):
                props = (props or []) + a.split("=", 1)[1].split(",")
        units = [unit_name(u) for u in args[1:] if not props or u not in sum([p.split(",") for p in props], [])]
        for n in units:
            u = Unit(n)
            st = get_state(u.name)
            s = is_active(u.name)
            allp = {"Id": u.name, "LoadState": "loaded" if u.exists() else "not-found",
                    "ActiveState": s, "SubState": {"active": "running" if st.get("main_pid") else "exited"}.get(s, "dead"),
                    "MainPID": str(st.get("main_pid") or 0), "UnitFileState": enablement(u.name),
                    "FragmentPath": u.path or "", "Result": st.get("result", "success")}
            for k in props or sorted(allp):
                if k in allp:
                    print(allp[k] if value_only else f"{k}={allp[k]}")
        return 0
    if cmd in ("list-units", "list-unit-files"):
        for p in sorted(glob.glob(os.path.join(SYSTEMD_STATE, "*.json"))):
            n = os.path.basename(p)[:-5]
            print(f"{n:<40} {enablement(n):<10} {is_active(n)}")
        return 0
    print(f"systemctl: '{cmd}' is not implemented by the lab stand-in", file=sys.stderr)
    return 1


def journalctl_main(argv):
    units, n, follow = [], None, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-u", "--unit"):
            units.append(unit_name(argv[i + 1]))
            i += 1
        elif a.startswith("--unit="):
            units.append(unit_name(a.split("=", 1)[1]))
        elif a.startswith("-u") and len(a) > 2:
            units.append(unit_name(a[2:]))
        elif a in ("-n", "--lines"):
            n = int(argv[i + 1])
            i += 1
        elif a.startswith("--lines="):
            n = int(a.split("=", 1)[1])
        elif a in ("-f", "--follow"):
            follow = True
        i += 1
    files = [os.path.join(JOURNAL, u + ".log") for u in units] if units else sorted(glob.glob(os.path.join(JOURNAL, "*.log")))
    if follow and len(files) == 1:
        os.execvp("tail", ["tail", "-n", str(n or 10), "-F", files[0]])
    lines = []
    for f in files:
        try:
            lines += open(f).readlines()
        except OSError:
            pass
    if not lines:
        print("-- No entries --")
        return 0
    if n is not None:
        lines = lines[-n:]
    sys.stdout.write("".join(lines))
    return 0


def hostnamectl_main(argv):
    args = [a for a in argv if not a.startswith("-")]
    if args and args[0] in ("set-hostname", "hostname") and len(args) > 1:
        name = args[1]
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", name):
            print(f"Invalid hostname '{name}'", file=sys.stderr)
            return 1
        with open("/etc/hostname", "w") as f:
            f.write(name + "\n")
        subprocess.check_call(["hostname", name])
        return 0
    if args and args[0] == "hostname":
        print(os.uname().nodename)
        return 0
    print(f" Static hostname: {open('/etc/hostname').read().strip() if os.path.exists('/etc/hostname') else 'n/a'}")
    print(f"Operating System: Ubuntu 24.04.3 LTS (k3s-over-usb lab)")
    print(f"          Kernel: Linux {os.uname().release}")
    return 0


# --- boot and hotplug ------------------------------------------------------------

def lab_boot():
    """The laptop's boot, in systemd's order, on the real config files."""
    hn = open("/etc/hostname").read().strip() if os.path.exists("/etc/hostname") else "localhost"
    subprocess.check_call(["hostname", hn or "localhost"])
    # systemd-sysctl: kernel-wide keys fail (read-only here) and are reported.
    subprocess.call(["sysctl", "-q", "--system"])
    # The netplan systemd generator runs before udev's coldplug.
    rc = real_netplan(["generate"])
    if rc:
        print(f"lab-boot: netplan generate failed ({rc}); the network stays unconfigured", file=sys.stderr)
    with Lock():
        for l in links():
            if l["ifname"] != "lo":
                udev_event(l, "add")
        os.makedirs(NETWORKD_STATE, exist_ok=True)
        open(os.path.join(NETWORKD_STATE, "running"), "w").close()
        networkd_apply()
    return systemctl_main(["--lab-boot"])


def lab_hotplug(argv):
    """A USB NIC appeared (phone booted): udev add, then networkd if running."""
    if len(argv) != 2 or argv[0] != "add":
        print("usage: lab-hotplug add IFNAME", file=sys.stderr)
        return 2
    with Lock():
        l = link(argv[1])
        if not l:
            print(f"lab-hotplug: no link {argv[1]}", file=sys.stderr)
            return 1
        name = udev_event(l, "add")
        if os.path.exists(os.path.join(NETWORKD_STATE, "running")):
            networkd_apply(only=name)
    return 0

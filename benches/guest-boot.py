#!/usr/bin/env python3
"""Time a Linux boot in oxbox, QEMU (TCG) and Bochs, side by side.

Boots the test guest of testsuite/guests/build.sh (Debian 12's i386 "686"
kernel with the busybox initramfs whose /init prints GUEST-BOOT-OK, runs a
workload and powers off) the same way in each emulator, one after another,
and prints the wall-clock seconds from the emulator's start to the marker
line and to the kernel's power-off line ("reboot: Power down" or "reboot:
System halted") on the serial console, with oxbox's time over each other
emulator's.

Boot methods (the same kernel, initramfs and command line everywhere):
  direct  --kernel/--initrd/--append: oxbox (oxbios) and QEMU (SeaBIOS).
          Bochs has no direct Linux boot.
  disk    hd-syslinux.img through syslinux: oxbox (oxbios), QEMU (SeaBIOS)
          and Bochs 2.7 (its rombios and the LGPL VGA BIOS).
Every guest has 256 MiB and a P6-class CPU (oxbox p6, QEMU pentium3, Bochs
p3_katmai). Every run's serial console must show the marker, every
workload line of expected.txt and the power-off, or the script fails.

It installs what it needs with apt-get (qemu-system-x86, bochs, bochsbios,
vgabios, bochs-term), builds oxbox (cargo build --release -p oxbox) and
the guests if the cache lacks them. Timings are wall-clock, so they are
only comparable within one run on one machine: run it on a quiet machine,
and use --runs for medians.

Exit status: 0 when every boot reached the marker and powered off with the
expected results, 1 when one did not (after the table), 2 when the tools,
the build or the guests could not be set up.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CMDLINE = "console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 panic=-1"
MEMORY_MIB = 256
MARKER = re.compile(r"GUEST-BOOT-OK")
WORKLOAD_DONE = re.compile(r"GUEST-WORKLOAD-DONE")
POWEROFF = re.compile(r"reboot: (Power down|System halted)")
PANIC = re.compile(r"Kernel panic")
# After the power-off line, how long an emulator may take to exit by itself
# (Bochs may not) before it is stopped.
EXIT_GRACE = 5.0

BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGA_BIOS = "/usr/share/vgabios/vgabios.bin"
APT_PACKAGES = ["qemu-system-x86", "bochs", "bochsbios", "vgabios", "bochs-term"]
GUEST_FILES = ["vmlinuz-686", "initrd-test.cpio.gz", "hd-syslinux.img", "expected.txt"]


class SetupError(Exception):
    """The tools, the build or the guests could not be set up (status 2)."""


def log(msg):
    print(f"[guest-boot] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the cases


def cases(oxbox, guests, work):
    """(boot method, emulator, command, serial file) for every boot."""
    kernel = os.path.join(guests, "vmlinuz-686")
    initrd = os.path.join(guests, "initrd-test.cpio.gz")
    disk = os.path.join(guests, "hd-syslinux.img")
    serial = lambda name: os.path.join(work, f"{name}.serial")
    # --exit-on-halt: the kernel's poweroff -f halts with interrupts off,
    # which is the end of the run (headless runs end there anyway).
    ox = [oxbox, "-m", str(MEMORY_MIB), "--display", "none", "--debugcon", "none",
          "--exit-on-halt"]
    qemu = ["qemu-system-i386", "-accel", "tcg", "-cpu", "pentium3", "-m", str(MEMORY_MIB),
            "-display", "none", "-monitor", "none", "-no-reboot"]
    bochs_rc = os.path.join(work, "disk-bochs.bochsrc")
    # Debian's Bochs has no headless display and its debugger built in: it
    # runs on a pseudo-terminal (script) with the term display, and the
    # debugger's script continues, then quits once the simulation ends.
    bochs = ["script", "-qfec",
             f"TERM=vt100 bochs -q -unlock -f {shlex.quote(bochs_rc)} "
             f"-rc {shlex.quote(os.path.join(work, 'bochs-debugger.rc'))}",
             "/dev/null"]
    direct = ["--kernel", kernel, "--initrd", initrd, "--append", CMDLINE]
    return [
        ("direct", "oxbox", ox + ["--serial", "file:" + serial("direct-oxbox")] + direct,
         serial("direct-oxbox")),
        ("direct", "qemu", qemu + ["-serial", "file:" + serial("direct-qemu"),
                                   "-kernel", kernel, "-initrd", initrd, "-append", CMDLINE],
         serial("direct-qemu")),
        ("disk", "oxbox", ox + ["--serial", "file:" + serial("disk-oxbox"),
                                "--hda", disk, "--snapshot"],
         serial("disk-oxbox")),
        ("disk", "qemu", qemu + ["-serial", "file:" + serial("disk-qemu"),
                                 "-drive", f"file={disk},format=raw,if=ide,snapshot=on"],
         serial("disk-qemu")),
        ("disk", "bochs", bochs, serial("disk-bochs")),
    ]


def bochsrc(disk, serial):
    """A headless Bochs 2.7 configuration booting `disk` (after
    ../shared/guests/mk-bochsrc.sh)."""
    cylinders = os.path.getsize(disk) // 512 // (16 * 63)
    return f"""megs: {MEMORY_MIB}
cpu: model=p3_katmai, count=1, ips=200000000, reset_on_triple_fault=1
romimage: file={BOCHS_BIOS}
vgaromimage: file={VGA_BIOS}
vga: extension=vbe
display_library: term
pci: enabled=1, chipset=i440fx
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=disk, path={disk}, mode=flat, cylinders={cylinders}, heads=16, spt=63, translation=lba
ata1: enabled=0
com1: enabled=1, mode=file, dev={serial}
clock: sync=none, time0=946684800
log: -
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
mouse: enabled=0
speaker: enabled=0
private_colormap: enabled=0
boot: disk
"""


def prepare_bochs(guests, work):
    # Bochs writes to its disk image: it gets a copy, the cache stays as built.
    disk = os.path.join(work, "hd-syslinux.img")
    shutil.copyfile(os.path.join(guests, "hd-syslinux.img"), disk)
    with open(os.path.join(work, "disk-bochs.bochsrc"), "w") as f:
        f.write(bochsrc(disk, os.path.join(work, "disk-bochs.serial")))
    with open(os.path.join(work, "bochs-debugger.rc"), "w") as f:
        f.write("c\nquit\n")


# ------------------------------------------------------------------- setup


def missing_tools():
    missing = [c for c in ["qemu-system-i386", "bochs", "script"] if not shutil.which(c)]
    missing += [f for f in [BOCHS_BIOS, VGA_BIOS] if not os.path.exists(f)]
    return missing


def install_tools():
    if not missing_tools():
        return
    log(f"missing {', '.join(missing_tools())}: apt-get install {' '.join(APT_PACKAGES)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env)
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + APT_PACKAGES, env=env)
    if r.returncode != 0 or missing_tools():
        raise SetupError(f"cannot install {' '.join(APT_PACKAGES)} "
                         f"(still missing: {', '.join(missing_tools()) or 'none'})")


def build_oxbox():
    log("cargo build --release -p oxbox")
    r = subprocess.run(["cargo", "build", "--release", "-p", "oxbox"], cwd=REPO)
    if r.returncode != 0:
        raise SetupError("cargo build --release -p oxbox failed")
    return oxbox_path()


def oxbox_path():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SetupError(f"cargo metadata failed: {out.stderr.strip()}")
    return os.path.join(json.loads(out.stdout)["target_directory"], "release", "oxbox")


def ensure_guests(guests):
    if all(os.path.exists(os.path.join(guests, f)) for f in GUEST_FILES):
        return
    log(f"building the guests into {guests} (testsuite/guests/build.sh)")
    r = subprocess.run(["bash", os.path.join(REPO, "testsuite/guests/build.sh"), guests])
    if r.returncode != 0:
        raise SetupError("testsuite/guests/build.sh failed (it needs Debian's archive)")


def versions(oxbox):
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "?"
        except OSError:
            return "?"
    commit = first_line(["git", "describe", "--always", "--dirty"])
    qemu = re.search(r"version (\S+)", first_line(["qemu-system-i386", "--version"]))
    bochs = first_line(["dpkg-query", "-W", "-f", "${Version}\n", "bochs"])
    return {
        "oxbox": f"oxbox {commit}",
        "qemu": f"QEMU {qemu.group(1) if qemu else '?'} TCG",
        "bochs": f"Bochs {bochs.split('+')[0]}",
    }


# ------------------------------------------------------------------ one run


def run_one(boot, emulator, cmd, serial_path, work, timeout, expected):
    """Run one emulator until the guest has powered off (or the timeout);
    the times in seconds since its start, and what went wrong if anything."""
    name = f"{boot}-{emulator}"
    if os.path.exists(serial_path):
        os.unlink(serial_path)
    out_log = open(os.path.join(work, f"{name}.log"), "wb")
    t0 = time.monotonic()
    try:
        # Its own process group, so that stopping it stops only what it started.
        p = subprocess.Popen(cmd, cwd=work, stdin=subprocess.PIPE, stdout=out_log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        return {"boot": boot, "emulator": emulator, "error": f"cannot run {cmd[0]}: {e}"}
    times = {"marker": None, "workload_done": None, "poweroff": None, "panic": None,
             "exit": None}
    lines, partial, serial = [], b"", None
    timed_out = False

    def read_serial(now):
        nonlocal partial, serial
        if serial is None:
            if not os.path.exists(serial_path):
                return
            serial = open(serial_path, "rb", buffering=0)
        chunk = serial.read()
        if not chunk:
            return
        partial += chunk
        *whole, partial = partial.split(b"\n")
        for raw in whole:
            line = raw.decode("utf-8", "replace").replace("\r", "")
            lines.append(line)
            for key, rx in (("marker", MARKER), ("workload_done", WORKLOAD_DONE),
                            ("poweroff", POWEROFF), ("panic", PANIC)):
                if times[key] is None and rx.search(line):
                    times[key] = now

    try:
        while True:
            now = time.monotonic() - t0
            exited = p.poll() is not None
            read_serial(now)
            if exited:
                times["exit"] = now
                break
            if times["poweroff"] is not None and now - times["poweroff"] > EXIT_GRACE:
                break
            if times["panic"] is not None or now > timeout:
                timed_out = times["panic"] is None
                break
            time.sleep(0.01)
    finally:
        if p.poll() is None:
            stop(p)
        out_log.close()
        if serial is not None:
            serial.close()
    if partial:
        lines.append(partial.decode("utf-8", "replace"))

    have = {l.strip() for l in lines}
    problems = []
    if times["marker"] is None:
        problems.append("no GUEST-BOOT-OK marker")
    if times["panic"] is not None:
        problems.append("kernel panic")
    missing = [w for w in expected if w not in have]
    if missing and times["marker"] is not None:
        problems.append(f"workload lines missing or wrong: {missing}")
    if times["workload_done"] is None and times["marker"] is not None:
        problems.append("no GUEST-WORKLOAD-DONE")
    if times["poweroff"] is None and times["marker"] is not None:
        problems.append("no power-off line")
    if timed_out:
        problems.append(f"timed out after {timeout:.0f} s")
    # Bochs (under script) ends with status 1 even after a clean power-off.
    if times["exit"] is not None and p.returncode != 0 and emulator != "bochs":
        problems.append(f"exit status {p.returncode}")
    result = {"boot": boot, "emulator": emulator, "command": cmd,
              "t_marker": times["marker"], "t_poweroff": times["poweroff"],
              "t_exit": times["exit"], "status": p.returncode}
    if problems:
        tail = "\n    ".join(lines[-15:])
        result["error"] = (f"{'; '.join(problems)} (log {work}/{name}.log, "
                           f"serial console ends:\n    {tail})")
    return result


def stop(p):
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# ------------------------------------------------------------------- report


def table(results, vers, runs):
    order = list(dict.fromkeys((r["boot"], r["emulator"]) for r in results))

    def median(boot, emulator, key):
        v = [r[key] for r in results
             if (r["boot"], r["emulator"]) == (boot, emulator) and r.get(key) is not None]
        return statistics.median(v) if v else None

    def secs(v):
        return f"{v:8.2f}" if v is not None else "       -"

    def ratio(ox, other):
        return f"{ox / other:8.1f}x" if ox is not None and other else "        -"

    head = (f"{'boot':7} {'emulator':22} {'marker s':>9} {'power-off s':>12} "
            f"{'oxbox/this marker':>18} {'oxbox/this power-off':>21}")
    print(head)
    print("-" * len(head))
    for boot, emulator in order:
        m = median(boot, emulator, "t_marker")
        o = median(boot, emulator, "t_poweroff")
        if emulator == "oxbox":
            rm = ro = "        -"
        else:
            rm = ratio(median(boot, "oxbox", "t_marker"), m)
            ro = ratio(median(boot, "oxbox", "t_poweroff"), o)
        print(f"{boot:7} {vers[emulator]:22} {secs(m):>9} {secs(o):>12} {rm:>18} {ro:>21}")
    print(f"\nwall-clock seconds from the emulator's start, "
          f"{'median of ' + str(runs) + ' runs' if runs > 1 else 'one run'}; "
          f"ratio > 1: oxbox is slower.")
    print("firmware: oxbox oxbios; QEMU SeaBIOS; Bochs rombios + LGPL VGA BIOS. "
          f"{MEMORY_MIB} MiB; CPU oxbox p6, QEMU pentium3, Bochs p3_katmai.")
    print(f"kernel command line: {CMDLINE}")


def main():
    ap = argparse.ArgumentParser(
        description="Boot the Debian test guest in oxbox, qemu-system-i386 -accel tcg and "
                    "Bochs 2.7 one after another and print the time to its GUEST-BOOT-OK "
                    "marker and to power-off, with oxbox's ratio to each.",
        epilog="Needs apt-get (for qemu-system-x86, bochs, bochsbios, vgabios, bochs-term), "
               "cargo, and Debian's archive for testsuite/guests/build.sh if the guests "
               "are not built yet.")
    ap.add_argument("--runs", type=int, default=1,
                    help="boots per emulator and method, interleaved; the table shows "
                         "medians (default 1)")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds one boot may take before it counts as failed (default 900)")
    ap.add_argument("--only", default=".", metavar="REGEX",
                    help="only the boots whose 'method-emulator' name matches, "
                         "e.g. 'direct' or 'qemu|bochs' (default: all)")
    ap.add_argument("--guests", default=os.environ.get("OXBOX_GUESTS",
                                                       os.path.join(REPO, "cache", "guests")),
                    help="the guests' directory (default $OXBOX_GUESTS or cache/guests)")
    ap.add_argument("--work", metavar="DIR",
                    help="serial consoles, logs and results.json (default "
                         "<cargo target dir>/guest-boot)")
    ap.add_argument("--oxbox", metavar="PATH",
                    help="this oxbox binary instead of building one")
    ap.add_argument("--no-install", action="store_true",
                    help="do not apt-get install missing emulators")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the emulator commands and exit, without setting anything up")
    a = ap.parse_args()
    if a.runs < 1:
        ap.error("--runs must be at least 1")
    try:
        only = re.compile(a.only)
    except re.error as e:
        ap.error(f"--only: {e}")
    guests = os.path.abspath(a.guests)

    if a.dry_run:
        work = os.path.abspath(a.work or "guest-boot")
        for boot, emulator, cmd, _ in cases(a.oxbox or "oxbox", guests, work):
            if only.search(f"{boot}-{emulator}"):
                print(f"{boot}-{emulator}: {shlex.join(cmd)}")
        return 0

    try:
        if not a.no_install:
            install_tools()
        elif missing_tools():
            raise SetupError(f"missing {', '.join(missing_tools())} "
                             f"(apt-get install {' '.join(APT_PACKAGES)})")
        oxbox = os.path.abspath(a.oxbox) if a.oxbox else build_oxbox()
        if not os.access(oxbox, os.X_OK):
            raise SetupError(f"no oxbox binary at {oxbox}")
        ensure_guests(guests)
        work = os.path.abspath(a.work or os.path.join(os.path.dirname(os.path.dirname(
            oxbox_path())), "guest-boot"))
        os.makedirs(work, exist_ok=True)
        todo = [c for c in cases(oxbox, guests, work) if only.search(f"{c[0]}-{c[1]}")]
        if not todo:
            raise SetupError(f"--only {a.only!r} matches no boot")
        if any(c[1] == "bochs" for c in todo):
            prepare_bochs(guests, work)
    except SetupError as e:
        print(f"guest-boot: {e}", file=sys.stderr)
        return 2

    with open(os.path.join(guests, "expected.txt")) as f:
        expected = [l.strip() for l in f if l.strip()]
    vers = versions(oxbox)
    results = []
    for i in range(a.runs):
        # One emulator at a time: they would share the machine's cores.
        for boot, emulator, cmd, serial in todo:
            log(f"run {i + 1}/{a.runs}: {boot} boot in {emulator}")
            r = run_one(boot, emulator, cmd, serial, work, a.timeout, expected)
            results.append(r)
            if "error" in r:
                log(f"{boot}-{emulator} FAILED: {r['error']}")
            else:
                log(f"{boot}-{emulator}: marker {r['t_marker']:.2f} s, "
                    f"power-off {r['t_poweroff']:.2f} s")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({"versions": vers, "runs": a.runs, "results": results}, f, indent=1)

    ok = [r for r in results if "error" not in r]
    print()
    table(ok, vers, a.runs)
    failed = [r for r in results if "error" in r]
    if failed:
        print(f"\nFAILED ({len(failed)} of {len(results)} boots; logs in {work}):",
              file=sys.stderr)
        for r in failed:
            print(f"  {r['boot']}-{r['emulator']}: {r['error']}", file=sys.stderr)
        return 1
    print(f"logs and results.json in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

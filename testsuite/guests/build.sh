#!/usr/bin/env bash
# testsuite/guests/build.sh [OUTDIR]
#
# Builds the real guests oxbox is tested on, from Debian packages only, into a
# git-ignored cache (default: <repo>/cache/guests, or $OXBOX_GUESTS). Nothing
# it downloads is ever committed. Adapted from the reference recipe in
# ../shared/guests/build-guests.sh.
#
# Outputs (in OUTDIR):
#   vmlinuz-686, vmlinuz-686-pae   Debian 12 i386 kernels (non-PAE and PAE)
#   initrd-test.cpio.gz            busybox initramfs: GUEST-BOOT-OK marker, a CPU
#                                  workload whose results are in expected.txt, poweroff -f
#   initrd-shell.cpio.gz           the same userland; /init runs a shell on the console
#   initrd-diskroot.cpio.gz        loads ata_piix/sd_mod/ext4, mounts /dev/sda2, switch_root
#   hd-syslinux.img                MBR + FAT16 boot partition (syslinux, kernel, initrds,
#                                  memtest) + ext2 root partition; default label "test"
#   hd-syslinux-diskroot.img       the same disk, default label "diskroot"
#   hd-grub.img                    the same layout booted by GRUB 2 (i386-pc)
#   fd-memtest86+.img              1.44 MB floppy booting memtest86+ (legacy BIOS)
#   hd-bootsector.img              testsuite/roms/bootsector.asm + a marker sector
#   expected.txt                   the workload's results, computed on the host
#
# Idempotent: downloads and extractions are kept; images are rebuilt (seconds).
# Host tools are installed with apt-get unless OXBOX_GUESTS_NO_APT=1.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-${OXBOX_GUESTS:-$REPO/cache/guests}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { printf '[guests] %s\n' "$*" >&2; }
export PATH="$PATH:/sbin:/usr/sbin"

# ------------------------------------------------------------ host tools
HOST_PKGS="cpio gzip dosfstools mtools syslinux syslinux-common fdisk e2fsprogs kmod
           grub-pc-bin grub-common memtest86+ nasm"
if [ "${OXBOX_GUESTS_NO_APT:-0}" != 1 ]; then
    missing=""
    for p in $HOST_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        log "installing host packages:$missing"
        apt-get update -q >/dev/null || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
fi

# ------------------------------------------- i386 packages without multiarch
# apt-get with its own state directories for i386: `apt-get download` works
# without `dpkg --add-architecture`, and the host's apt state stays untouched.
APT_O="-oAPT::Sandbox::User=root -oAPT::Architecture=i386 -oAPT::Architectures=i386 -oDir::State::Lists=$OUT/apt/lists -oDir::Cache=$OUT/apt/cache"
mkdir -p "$OUT/apt/lists/partial" "$OUT/apt/cache/archives/partial" "$OUT/debs"
if [ ! -e "$OUT/apt/lists/.updated" ]; then
    log "apt-get update (i386 indexes)"
    # one failing index (e.g. a security mirror mid-sync) must not stop the build
    apt-get $APT_O update -q >/dev/null 2>&1 || true
    touch "$OUT/apt/lists/.updated"
fi

# kernel_package META FLAVOUR: the linux-image-<abi>-<flavour>-unsigned package META depends on
kernel_package() {
    local dep
    dep=$(apt-cache $APT_O depends "$1" 2>/dev/null |
        sed -n "s/^ *Depends: \(linux-image-[0-9].*-$2\)\$/\1/p" | head -1)
    [ -n "$dep" ] || { log "cannot resolve $1 in Debian's i386 archive"; return 1; }
    echo "$dep-unsigned"
}
# fetch PKG: path of PKG's .deb in $OUT/debs, downloading it once
fetch() {
    local f
    f=$(ls "$OUT/debs/$1"_*.deb 2>/dev/null | head -1 || true)
    if [ -z "$f" ]; then
        log "downloading $1 (i386)"
        (cd "$OUT/debs" && apt-get $APT_O download "$1" >/dev/null)
        f=$(ls "$OUT/debs/$1"_*.deb | head -1)
    fi
    echo "$f"
}
# extract DEB DIR, once
extract() {
    if [ ! -e "$2/.extracted" ]; then
        rm -rf "$2"; mkdir -p "$2"; dpkg -x "$1" "$2"; touch "$2/.extracted"
    fi
}

for flavour in 686 686-pae; do
    pkg=$(kernel_package "linux-image-$flavour" "$flavour")
    extract "$(fetch "$pkg")" "$OUT/extract/kernel-$flavour"
    kver=$(ls "$OUT/extract/kernel-$flavour/lib/modules" | head -1)
    cp -f "$OUT/extract/kernel-$flavour/boot/vmlinuz-$kver" "$OUT/vmlinuz-$flavour"
    log "kernel $pkg"
done
KDIR="$OUT/extract/kernel-686"
KVER=$(ls "$KDIR/lib/modules" | head -1)
[ -e "$KDIR/lib/modules/$KVER/modules.dep" ] || depmod -b "$KDIR" "$KVER"
extract "$(fetch busybox-static)" "$OUT/extract/busybox"
BUSYBOX="$OUT/extract/busybox/bin/busybox"

# ------------------------------------------------------------ initramfs
# The workload: deterministic, exercising integer, x87 (awk's doubles) and
# hashing code; expected.txt computes the same lines on the host.
WORKLOAD='
awk "BEGIN{s=0;for(i=1;i<=200000;i++){s=(s*31+i)%1000003};print \"GUEST-AWK-SUM \" s}"
awk "BEGIN{x=0;for(i=1;i<=100000;i++)x+=1/i;printf \"GUEST-FPU-HARMONIC %.6f\n\",x}"
seq 1 100000 > /tmp/f
echo "GUEST-MD5 $(md5sum /tmp/f | cut -d" " -f1)"
echo "GUEST-SHA256 $(sha256sum /tmp/f | cut -d" " -f1)"
i=0; s=0; while [ $i -lt 20000 ]; do s=$(( (s * 7 + i) % 65521 )); i=$((i+1)); done
echo "GUEST-SH-SUM $s"
echo "GUEST-WORKLOAD-DONE"
'
PRELUDE='#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
[ -e /proc/mounts ] || mount -t proc proc /proc || echo "GUEST-WARN mount /proc failed"
[ -e /sys/kernel ] || mount -t sysfs sysfs /sys || echo "GUEST-WARN mount /sys failed"
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev || echo "GUEST-WARN mount /dev failed"
mount -t tmpfs tmpfs /tmp || echo "GUEST-WARN mount /tmp failed"
echo "GUEST-BOOT-OK kernel=$(uname -r) machine=$(uname -m) cpu=$(sed -n "s/^model name[^:]*: //p" /proc/cpuinfo | head -1)"
'
# rootfs DIR: busybox with a link per applet, /etc/passwd, /init-test, /init-shell
rootfs() {
    local d=$1 applets a
    rm -rf "$d"; mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,newroot,etc,root}
    cp "$BUSYBOX" "$d/bin/busybox"; chmod 755 "$d/bin/busybox"
    applets=$("$d/bin/busybox" --list 2>/dev/null) || applets=""
    [ -n "$applets" ] || applets="sh ash awk cat cut dd echo grep head ls md5sum mkdir mount umount
        poweroff reboot halt seq sha256sum sed sleep sync tail uname insmod modprobe switch_root
        setsid cttyhack dmesg free ps top vi find wc tr sort uniq date hexdump od"
    for a in $applets; do [ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$d/etc/passwd"
    { echo "$PRELUDE"; echo "$WORKLOAD"; cat <<'EOF'
echo "GUEST-POWEROFF"
sync
poweroff -f
while :; do sleep 3600; done
EOF
    } > "$d/init-test"
    { echo "$PRELUDE"; cat <<'EOF'
echo "GUEST-SHELL-READY (exit the shell to power off)"
setsid cttyhack sh -l
poweroff -f
EOF
    } > "$d/init-shell"
    chmod 755 "$d/init-test" "$d/init-shell"
}
# cpio_gz DIR OUT: a newc archive owned by root (the kernel provides /dev/console)
cpio_gz() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
        gzip -9 -n > "$2"
}

R="$OUT/rootfs"
for kind in test shell; do
    rootfs "$R/$kind"; ln -sf "init-$kind" "$R/$kind/init"
    cpio_gz "$R/$kind" "$OUT/initrd-$kind.cpio.gz"
done

# root on the IDE disk: the initramfs loads the kernel's own ATA, disk and
# ext4 modules (with their dependencies), mounts /dev/sda2 and switches root.
rootfs "$R/diskinit"
mkdir -p "$R/diskinit/lib/modules"
for m in ata_piix ata_generic sd_mod ext4; do
    modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$R/diskinit/lib/modules/"
    basename "$ko" >> "$R/diskinit/modules.order"
done
cat > "$R/diskinit/init" <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
echo "GUEST-INITRAMFS-OK loading disk modules"
for m in $(cat /modules.order); do
    insmod /lib/modules/$m || echo "GUEST-WARN insmod $m failed"
done
n=0; while [ ! -b /dev/sda2 ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done
if mount -t ext2 -o ro /dev/sda2 /newroot; then
    echo "GUEST-DISKROOT-MOUNTED /dev/sda2"
    umount /proc /sys /dev 2>/dev/null
    exec switch_root /newroot /init-test
fi
echo "GUEST-DISKROOT-FAILED"; cat /proc/partitions; ls /dev
exec sh
EOF
chmod 755 "$R/diskinit/init"
cpio_gz "$R/diskinit" "$OUT/initrd-diskroot.cpio.gz"
rootfs "$R/disk"
echo "GUEST-ROOTFS-ON-DISK" > "$R/disk/etc/issue"

# ------------------------------------------------------------ expected output
{
    awk 'BEGIN{s=0;for(i=1;i<=200000;i++){s=(s*31+i)%1000003};print "GUEST-AWK-SUM " s}'
    awk 'BEGIN{x=0;for(i=1;i<=100000;i++)x+=1/i;printf "GUEST-FPU-HARMONIC %.6f\n",x}'
    echo "GUEST-MD5 $(seq 1 100000 | md5sum | cut -d' ' -f1)"
    echo "GUEST-SHA256 $(seq 1 100000 | sha256sum | cut -d' ' -f1)"
    i=0; s=0; while [ $i -lt 20000 ]; do s=$(( (s * 7 + i) % 65521 )); i=$((i+1)); done
    echo "GUEST-SH-SUM $s"
} > "$OUT/expected.txt"

# ------------------------------------------------------------ hard disks
# earlyprintk makes the kernel's real-mode setup code print on COM1 too
# ("Probing EDD"); console=ttyS0 alone does not.
CMDLINE="console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 panic=-1"
# 130 cylinders x 16 heads x 63 sectors: a whole CHS geometry
DISK_SECT=$((130 * 16 * 63)); P1_START=2048; P1_SECT=$((24 * 2048))
P2_START=$((P1_START + P1_SECT)); P2_SECT=$((DISK_SECT - P2_START))
W="$OUT/work"; rm -rf "$W"; mkdir -p "$W"
export MTOOLS_SKIP_CHECK=1

rm -f "$W/p2.img"; truncate -s $((P2_SECT * 512)) "$W/p2.img"
mke2fs -q -t ext2 -F -L guestroot -d "$R/disk" -E root_owner=0:0 "$W/p2.img" >/dev/null

# fat_partition DEFAULT_LABEL: FAT16 with the kernel, initrds, memtest and syslinux.cfg
fat_partition() {
    rm -f "$W/p1.img"; truncate -s $((P1_SECT * 512)) "$W/p1.img"
    mkfs.fat -F 16 -n GUESTBOOT -h $P1_START "$W/p1.img" >/dev/null
    cat > "$W/syslinux.cfg" <<EOF
SERIAL 0 115200
CONSOLE 1
PROMPT 0
TIMEOUT 0
DEFAULT $1
LABEL test
  KERNEL /vmlinuz
  INITRD /initrd-t.gz
  APPEND $CMDLINE
LABEL shell
  KERNEL /vmlinuz
  INITRD /initrd-s.gz
  APPEND $CMDLINE
LABEL diskroot
  KERNEL /vmlinuz
  INITRD /initrd-d.gz
  APPEND $CMDLINE
LABEL memtest
  KERNEL /memtest.bin
  APPEND console=ttyS0,115200
EOF
    mcopy -o -i "$W/p1.img" "$OUT/vmlinuz-686" ::/vmlinuz
    mcopy -o -i "$W/p1.img" "$OUT/initrd-test.cpio.gz" ::/initrd-t.gz
    mcopy -o -i "$W/p1.img" "$OUT/initrd-shell.cpio.gz" ::/initrd-s.gz
    mcopy -o -i "$W/p1.img" "$OUT/initrd-diskroot.cpio.gz" ::/initrd-d.gz
    mcopy -o -i "$W/p1.img" /boot/memtest86+ia32.bin ::/memtest.bin
    mcopy -o -i "$W/p1.img" "$W/syslinux.cfg" ::/syslinux.cfg
}
# disk IMAGE MBR_CODE: partition table, both partitions, the MBR's boot code
disk() {
    rm -f "$1.tmp"; truncate -s $((DISK_SECT * 512)) "$1.tmp"
    printf 'label: dos\nunit: sectors\n%s,%s,6,*\n%s,%s,83\n' \
        $P1_START $P1_SECT $P2_START $P2_SECT | sfdisk -q "$1.tmp" >/dev/null
    dd if="$W/p1.img" of="$1.tmp" bs=512 seek=$P1_START conv=notrunc,sparse status=none
    dd if="$W/p2.img" of="$1.tmp" bs=512 seek=$P2_START conv=notrunc,sparse status=none
    dd if="$2" of="$1.tmp" bs=440 count=1 conv=notrunc status=none
    mv -f "$1.tmp" "$1"
}
for label in test diskroot; do
    fat_partition $label
    syslinux --install "$W/p1.img"
    name=hd-syslinux.img; [ $label = test ] || name=hd-syslinux-$label.img
    disk "$OUT/$name" /usr/lib/syslinux/mbr/mbr.bin
done

# GRUB 2: boot.img in the MBR, core.img in the gap before partition 1
GRUB=/usr/lib/grub/i386-pc
fat_partition test
cat > "$W/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "debian-686 busybox test" {
  linux /vmlinuz $CMDLINE
  initrd /initrd-t.gz
}
menuentry "debian-686 diskroot" {
  linux /vmlinuz $CMDLINE
  initrd /initrd-d.gz
}
menuentry "memtest86+" {
  linux16 /memtest.bin console=ttyS0,115200
}
EOF
mmd -i "$W/p1.img" ::/boot ::/boot/grub
mcopy -o -i "$W/p1.img" "$W/grub.cfg" ::/boot/grub/grub.cfg
grub-mkimage -O i386-pc -o "$W/core.img" -p "(hd0,msdos1)/boot/grub" \
    biosdisk part_msdos fat ext2 normal linux linux16 serial terminal echo test configfile boot
[ "$(stat -c %s "$W/core.img")" -lt $(((P1_START - 1) * 512)) ] || { log "core.img too big"; exit 1; }
disk "$OUT/hd-grub.img" $GRUB/boot.img
# boot.img loads LBA 1 by default; core.img's first sector carries its own block list
dd if="$W/core.img" of="$OUT/hd-grub.img" bs=512 seek=1 conv=notrunc status=none

# ------------------------------------------------------------ floppy and boot sector
rm -f "$OUT/fd-memtest86+.img"; truncate -s 1474560 "$OUT/fd-memtest86+.img"
dd if=/boot/memtest86+ia32.bin of="$OUT/fd-memtest86+.img" conv=notrunc status=none

nasm -f bin -I "$REPO/testsuite/roms/" -o "$W/bootsector.bin" "$REPO/testsuite/roms/bootsector.asm"
rm -f "$OUT/hd-bootsector.img"; truncate -s $((16 * 63 * 20 * 512)) "$OUT/hd-bootsector.img"
dd if="$W/bootsector.bin" of="$OUT/hd-bootsector.img" conv=notrunc status=none
# sector 2: the text the boot sector prints, NUL, then its exit byte (0x21)
printf 'GUEST-BOOTSECTOR-OK\n\000\041' |
    dd of="$OUT/hd-bootsector.img" bs=512 seek=1 conv=notrunc status=none

rm -rf "$W"
log "done: $OUT"
(cd "$OUT" && ls -l vmlinuz-* initrd-*.cpio.gz hd-*.img fd-*.img expected.txt) >&2

//! The PIIX3 IDE function at register level, as a driver sees it: ATA
//! PIO and DMA commands, IDENTIFY data against ATA/ATAPI-6's word table,
//! 48-bit addressing through the HOB registers, resets and signatures,
//! ATAPI packets, bad guest input, and saved state.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oxbox_devices::atapi;
use oxbox_devices::disk::{BlockDevice, DiskError, MemDisk, Overlay};
use oxbox_devices::ide::*;
use oxbox_devices::{Device, IoSize, VirtualTime};

const T: VirtualTime = VirtualTime::ZERO;
const BM: u16 = 0xC000;
const P: u16 = PRIMARY_COMMAND_BASE;
const PCTL: u16 = PRIMARY_CONTROL;

// Register offsets.
const DATA: u16 = 0;
const ERROR: u16 = 1;
const FEATURE: u16 = 1;
const COUNT: u16 = 2;
const LBA_LOW: u16 = 3;
const LBA_MID: u16 = 4;
const LBA_HIGH: u16 = 5;
const DEVICE: u16 = 6;
const STATUS: u16 = 7;
const COMMAND: u16 = 7;

fn outb(ide: &mut IdeController, port: u16, v: u8) {
    ide.io_write(T, port, IoSize::Byte, v as u32);
}

fn inb(ide: &mut IdeController, port: u16) -> u8 {
    ide.io_read(T, port, IoSize::Byte) as u8
}

fn inw(ide: &mut IdeController, port: u16) -> u16 {
    ide.io_read(T, port, IoSize::Word) as u16
}

fn outw(ide: &mut IdeController, port: u16, v: u16) {
    ide.io_write(T, port, IoSize::Word, v as u32);
}

fn irq14(ide: &IdeController) -> bool {
    ide.irq_levels() & (1 << 14) != 0
}

/// A sector's worth of recognisable bytes.
fn pattern(lba: u64) -> Vec<u8> {
    (0..512u64)
        .map(|j| (lba.wrapping_mul(7) ^ (lba >> 8) ^ j.wrapping_mul(13)) as u8)
        .collect()
}

fn patterned_disk(sectors: u64) -> MemDisk {
    MemDisk::from_bytes((0..sectors).flat_map(pattern).collect(), 512)
}

/// A disk of any size that stores only the sectors written (all others
/// read as the pattern), for 48-bit addresses.
struct SparseDisk {
    sectors: u64,
    written: BTreeMap<u64, Vec<u8>>,
}

impl BlockDevice for SparseDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        oxbox_devices::disk::check_access(lba, buf.len(), 512, self.sectors)?;
        for (i, c) in buf.chunks_mut(512).enumerate() {
            let l = lba + i as u64;
            c.copy_from_slice(self.written.get(&l).unwrap_or(&pattern(l)));
        }
        Ok(())
    }
    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        oxbox_devices::disk::check_access(lba, data.len(), 512, self.sectors)?;
        for (i, c) in data.chunks(512).enumerate() {
            self.written.insert(lba + i as u64, c.to_vec());
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }
    fn describe(&self) -> String {
        "sparse test disk".into()
    }
}

fn sparse(sectors: u64) -> Box<SparseDisk> {
    Box::new(SparseDisk {
        sectors,
        written: BTreeMap::new(),
    })
}

fn with_disk(disk: Box<dyn BlockDevice>) -> IdeController {
    let mut ide = IdeController::new();
    ide.attach_disk(Channel::Primary, Unit::Master, disk)
        .unwrap();
    ide.set_bus_master_base(Some(BM));
    ide
}

/// A CD image whose sector n is filled with byte n.
fn cd_image(sectors: u64) -> MemDisk {
    MemDisk::cd((0..sectors).flat_map(|s| vec![s as u8; 2048]).collect())
}

/// Primary: a hard disk as master, a CD-ROM drive as slave.
fn disk_and_cd() -> IdeController {
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    ide.attach_cdrom(Channel::Primary, Unit::Slave, Some(Box::new(cd_image(40))))
        .unwrap();
    ide
}

/// Program an LBA28 command on the primary master.
fn lba28(ide: &mut IdeController, cmd: u8, lba: u32, count: u8) {
    outb(ide, P + DEVICE, 0xE0 | (lba >> 24) as u8 & 0x0F);
    outb(ide, P + COUNT, count);
    outb(ide, P + LBA_LOW, lba as u8);
    outb(ide, P + LBA_MID, (lba >> 8) as u8);
    outb(ide, P + LBA_HIGH, (lba >> 16) as u8);
    outb(ide, P + COMMAND, cmd);
}

/// Program an LBA48 command: each register gets its high byte first.
fn lba48(ide: &mut IdeController, cmd: u8, lba: u64, count: u16) {
    let b = lba.to_le_bytes();
    outb(ide, P + DEVICE, 0x40);
    outb(ide, P + COUNT, (count >> 8) as u8);
    outb(ide, P + COUNT, count as u8);
    outb(ide, P + LBA_LOW, b[3]);
    outb(ide, P + LBA_LOW, b[0]);
    outb(ide, P + LBA_MID, b[4]);
    outb(ide, P + LBA_MID, b[1]);
    outb(ide, P + LBA_HIGH, b[5]);
    outb(ide, P + LBA_HIGH, b[2]);
    outb(ide, P + COMMAND, cmd);
}

fn read_block(ide: &mut IdeController, bytes: usize) -> Vec<u8> {
    (0..bytes / 2)
        .flat_map(|_| inw(ide, P + DATA).to_le_bytes())
        .collect()
}

fn write_block(ide: &mut IdeController, data: &[u8]) {
    for w in data.chunks(2) {
        outw(ide, P + DATA, u16::from_le_bytes([w[0], w[1]]));
    }
}

fn identify(ide: &mut IdeController) -> [u16; 256] {
    outb(ide, P + DEVICE, 0xA0);
    outb(ide, P + COMMAND, 0xEC);
    assert!(irq14(ide));
    assert_eq!(inb(ide, P + STATUS), 0x58);
    let mut w = [0u16; 256];
    for x in w.iter_mut() {
        *x = inw(ide, P + DATA);
    }
    assert_eq!(inb(ide, P + STATUS), 0x50);
    w
}

/// An IDENTIFY string: two characters per word, the first in the high
/// byte.
fn id_string(w: &[u16]) -> String {
    w.iter()
        .flat_map(|x| [(x >> 8) as u8 as char, *x as u8 as char])
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn dword(w: &[u16]) -> u64 {
    w.iter()
        .enumerate()
        .fold(0, |v, (i, &x)| v | (x as u64) << (16 * i))
}

#[test]
fn identify_device_reports_geometry_capacities_and_features() {
    let mut ide = with_disk(sparse(1_000_000));
    let w = identify(&mut ide);
    // Words 1, 3, 6: 16 heads of 63 sectors, 1 000 000 / 1008 cylinders;
    // words 54-58 the same translation and its capacity.
    assert_eq!((w[1], w[3], w[6]), (992, 16, 63));
    assert_eq!((w[54], w[55], w[56]), (992, 16, 63));
    assert_eq!(dword(&w[57..59]), 992 * 16 * 63);
    assert_eq!(w[53] & 1, 1);
    // Words 60-61: LBA28 capacity; 83 bit 10 and 86 bit 10: 48-bit
    // addressing; 100-103: LBA48 capacity.
    assert_eq!(dword(&w[60..62]), 1_000_000);
    assert_ne!(w[83] & (1 << 10), 0);
    assert_ne!(w[86] & (1 << 10), 0);
    assert_eq!(dword(&w[100..104]), 1_000_000);
    // Word 83 bits 15:14 = 01, and FLUSH CACHE (EXT) supported.
    assert_eq!(w[83] >> 14, 1);
    assert_eq!(w[83] & 0x3000, 0x3000);
    assert_eq!((w[84] >> 14, w[87] >> 14), (1, 1));
    // Word 47: 80h and the largest multiple block; 59: not set yet.
    assert_eq!(w[47], 0x8000 | 16);
    assert_eq!(w[59], 0);
    // Word 49: LBA and DMA; 50 bit 14 one; DMA modes in 63 and 88.
    assert_eq!(w[49] & 0x0300, 0x0300);
    assert_eq!(w[50], 0x4000);
    assert_eq!(w[63] & 7, 7);
    // Strings byte-swapped per word.
    assert_eq!(id_string(&w[27..47]), "OXBOX HARDDISK");
    assert_eq!(id_string(&w[23..27]), "1.0");
    assert_eq!(id_string(&w[10..20]).len(), 20);
    assert_eq!(w[0] & 0x8000, 0);
    // Word 255: signature and checksum.
    assert_eq!(w[255] & 0xFF, 0xA5);
    let sum = w.iter().fold(0u8, |s, &x| {
        s.wrapping_add(x as u8).wrapping_add((x >> 8) as u8)
    });
    assert_eq!(sum, 0);
}

#[test]
fn identify_caps_chs_and_lba28_for_large_disks() {
    let mut ide = with_disk(sparse(1 << 40));
    let w = identify(&mut ide);
    assert_eq!((w[1], w[3], w[6]), (16383, 16, 63));
    assert_eq!(dword(&w[57..59]), 16_514_064);
    assert_eq!(dword(&w[60..62]), 0x0FFF_FFFF);
    assert_eq!(dword(&w[100..104]), 1 << 40);

    let mut small = with_disk(Box::new(MemDisk::new(100)));
    let w = identify(&mut small);
    assert_eq!((w[1], w[3], w[6]), (1, 1, 63));
    assert_eq!(dword(&w[60..62]), 100);
}

#[test]
fn identify_data_reads_through_32_bit_accesses() {
    let mut ide = with_disk(Box::new(MemDisk::new(2048)));
    let words = identify(&mut ide);
    outb(&mut ide, P + COMMAND, 0xEC);
    let mut w2 = Vec::new();
    for _ in 0..128 {
        let d = ide.io_read(T, P + DATA, IoSize::Dword);
        w2.push(d as u16);
        w2.push((d >> 16) as u16);
    }
    assert_eq!(w2, words);
    assert_eq!(inb(&mut ide, P + STATUS) & STATUS_DRQ, 0);
}

#[test]
fn pio_write_then_read_round_trips_with_an_interrupt_per_block() {
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    let data: Vec<u8> = (0..3 * 512).map(|i| (i * 5 + 1) as u8).collect();
    lba28(&mut ide, 0x30, 10, 3);
    // The first block needs no interrupt.
    assert!(!irq14(&ide));
    assert_eq!(inb(&mut ide, PCTL), 0x58);
    for (i, block) in data.chunks(512).enumerate() {
        write_block(&mut ide, block);
        // Another block or the completion: an interrupt each.
        assert!(irq14(&ide), "block {i}");
        let st = inb(&mut ide, P + STATUS);
        assert!(!irq14(&ide));
        assert_eq!(st, if i < 2 { 0x58 } else { 0x50 });
    }
    // The registers hold the last sector written.
    assert_eq!(inb(&mut ide, P + LBA_LOW), 12);
    assert_eq!(inb(&mut ide, P + COUNT), 0);
    let mut back = vec![0; 3 * 512];
    ide.medium_mut(Channel::Primary, Unit::Master)
        .unwrap()
        .read_sectors(10, &mut back)
        .unwrap();
    assert_eq!(back, data);

    // Read it back, plus a sector either side.
    lba28(&mut ide, 0x20, 9, 5);
    let mut got = Vec::new();
    for _ in 0..5 {
        assert!(irq14(&ide));
        assert_eq!(inb(&mut ide, P + STATUS), 0x58);
        got.extend(read_block(&mut ide, 512));
    }
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert!(!irq14(&ide));
    assert_eq!(&got[..512], &pattern(9)[..]);
    assert_eq!(&got[512..2048], &data[..]);
    assert_eq!(&got[2048..], &pattern(13)[..]);
}

#[test]
fn sector_count_zero_means_256_sectors() {
    let mut ide = with_disk(Box::new(patterned_disk(300)));
    lba28(&mut ide, 0x20, 0, 0);
    let mut blocks = 0;
    while inb(&mut ide, P + STATUS) & STATUS_DRQ != 0 {
        let b = read_block(&mut ide, 512);
        assert_eq!(b, pattern(blocks));
        blocks += 1;
    }
    assert_eq!(blocks, 256);
}

#[test]
fn read_and_write_multiple_move_blocks_of_the_set_size() {
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    // Before SET MULTIPLE MODE the commands abort.
    lba28(&mut ide, 0xC4, 0, 4);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_ABRT);
    // Block sizes must be powers of two up to 16.
    outb(&mut ide, P + COUNT, 3);
    outb(&mut ide, P + COMMAND, 0xC6);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    outb(&mut ide, P + COUNT, 4);
    outb(&mut ide, P + COMMAND, 0xC6);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(identify(&mut ide)[59], 0x0104);

    // 10 sectors in blocks of 4, 4 and 2.
    lba28(&mut ide, 0xC4, 20, 10);
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    while irq14(&ide) {
        assert_eq!(inb(&mut ide, P + STATUS), 0x58);
        let mut block = Vec::new();
        loop {
            block.extend(read_block(&mut ide, 2));
            // The next block interrupts; the end drops DRQ.
            if irq14(&ide) || inb(&mut ide, PCTL) & STATUS_DRQ == 0 {
                break;
            }
        }
        sizes.push(block.len() / 512);
        got.extend(block);
    }
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(got, (20..30).flat_map(pattern).collect::<Vec<_>>());

    // WRITE MULTIPLE: interrupts after the first and second blocks and at
    // the end.
    let data: Vec<u8> = (0..10 * 512).map(|i| (i / 7) as u8).collect();
    lba28(&mut ide, 0xC5, 30, 10);
    let mut irqs = 0;
    for block in data.chunks(2048) {
        write_block(&mut ide, block);
        if irq14(&ide) {
            irqs += 1;
            inb(&mut ide, P + STATUS);
        }
    }
    assert_eq!(irqs, 3);
    let mut back = vec![0; data.len()];
    ide.medium_mut(Channel::Primary, Unit::Master)
        .unwrap()
        .read_sectors(30, &mut back)
        .unwrap();
    assert_eq!(back, data);
}

#[test]
fn chs_addressing_follows_initialize_device_parameters() {
    let mut ide = with_disk(Box::new(patterned_disk(2048)));
    let chs_read = |ide: &mut IdeController, c: u16, h: u8, s: u8| {
        outb(ide, P + DEVICE, 0xA0 | h);
        outb(ide, P + COUNT, 1);
        outb(ide, P + LBA_LOW, s);
        outb(ide, P + LBA_MID, c as u8);
        outb(ide, P + LBA_HIGH, (c >> 8) as u8);
        outb(ide, P + COMMAND, 0x20);
        let st = inb(ide, P + STATUS);
        (
            st,
            if st & STATUS_DRQ != 0 {
                read_block(ide, 512)
            } else {
                Vec::new()
            },
        )
    };
    // Default 16 heads, 63 sectors: C/H/S 1/2/3 = (1*16+2)*63+2.
    assert_eq!(chs_read(&mut ide, 1, 2, 3).1, pattern(18 * 63 + 2));
    // After CHS read, registers hold the sector's CHS address.
    assert_eq!(inb(&mut ide, P + LBA_LOW), 3);
    assert_eq!(inb(&mut ide, P + DEVICE) & 0x0F, 2);
    // Sector 0 does not exist.
    let (st, _) = chs_read(&mut ide, 0, 0, 0);
    assert_eq!(st, 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_IDNF);

    // INITIALIZE DEVICE PARAMETERS: 4 heads, 32 sectors per track.
    outb(&mut ide, P + DEVICE, 0xA0 | 3);
    outb(&mut ide, P + COUNT, 32);
    outb(&mut ide, P + COMMAND, 0x91);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(chs_read(&mut ide, 1, 2, 3).1, pattern((4 + 2) * 32 + 2));
    // Head 5 is beyond the translation now.
    assert_eq!(chs_read(&mut ide, 0, 5, 1).0, 0x41);
    let w = identify(&mut ide);
    assert_eq!((w[54], w[55], w[56]), (16, 4, 32));
    // The default geometry is unchanged.
    assert_eq!((w[1], w[3], w[6]), (2, 16, 63));
}

#[test]
fn lba48_uses_the_high_order_bytes() {
    let mut ide = with_disk(sparse(1 << 40));
    let lba = 0x12_3456_789A_u64;
    // HOB read-back: the previous byte written to each register.
    outb(&mut ide, P + LBA_LOW, 0x11);
    outb(&mut ide, P + LBA_LOW, 0x22);
    outb(&mut ide, PCTL, CONTROL_HOB);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 0x11);
    outb(&mut ide, PCTL, 0);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 0x22);
    // A register write clears HOB.
    outb(&mut ide, PCTL, CONTROL_HOB);
    outb(&mut ide, P + LBA_MID, 0x33);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 0x22);

    let data: Vec<u8> = (0..1024).map(|i| (i * 3) as u8).collect();
    lba48(&mut ide, 0x34, lba, 2);
    assert_eq!(inb(&mut ide, PCTL), 0x58);
    write_block(&mut ide, &data[..512]);
    write_block(&mut ide, &data[512..]);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    // The registers hold the last sector written, high bytes under HOB.
    let last = (lba + 1).to_le_bytes();
    assert_eq!(inb(&mut ide, P + LBA_LOW), last[0]);
    assert_eq!(inb(&mut ide, P + LBA_MID), last[1]);
    assert_eq!(inb(&mut ide, P + LBA_HIGH), last[2]);
    outb(&mut ide, PCTL, CONTROL_HOB);
    assert_eq!(inb(&mut ide, P + LBA_LOW), last[3]);
    assert_eq!(inb(&mut ide, P + LBA_MID), last[4]);
    assert_eq!(inb(&mut ide, P + LBA_HIGH), last[5]);
    outb(&mut ide, PCTL, 0);

    lba48(&mut ide, 0x24, lba - 1, 3);
    let mut got = Vec::new();
    while inb(&mut ide, P + STATUS) & STATUS_DRQ != 0 {
        got.extend(read_block(&mut ide, 512));
    }
    assert_eq!(&got[..512], &pattern(lba - 1)[..]);
    assert_eq!(&got[512..], &data[..]);
    // LBA28 sees only the low 28 bits' worth of disk: sector 0FFFFFFFh
    // is out of its reach.
    lba28(&mut ide, 0x20, 0x0FFF_FFFF, 1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_IDNF);
    // A count of 0 in both bytes is 65536 sectors.
    lba48(&mut ide, 0x24, (1 << 40) - 65535, 0);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    lba48(&mut ide, 0x24, (1 << 40) - 65536, 0);
    assert_eq!(inb(&mut ide, P + STATUS), 0x58);
}

#[test]
fn sectors_beyond_the_end_fail_with_idnf() {
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    for (cmd, lba, count) in [(0x20, 64, 1), (0x20, 63, 2), (0x30, 100, 1), (0x40, 60, 5)] {
        lba28(&mut ide, cmd, lba, count);
        assert!(irq14(&ide));
        assert_eq!(inb(&mut ide, P + STATUS), 0x41, "{cmd:#x} {lba}");
        assert_eq!(inb(&mut ide, P + ERROR), ERROR_IDNF);
    }
    lba48(&mut ide, 0x25, u64::MAX >> 16, 1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    // The last sector itself is fine; READ VERIFY reads nothing.
    lba28(&mut ide, 0x40, 63, 1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    // A byte access to the data port moves nothing.
    assert_eq!(inb(&mut ide, P + DATA), 0xFF);
}

#[test]
fn software_reset_leaves_ata_and_atapi_signatures() {
    let mut ide = disk_and_cd();
    // Start a read, then reset in the middle of it.
    lba28(&mut ide, 0x20, 0, 4);
    outb(&mut ide, PCTL, CONTROL_SRST);
    assert_eq!(inb(&mut ide, PCTL), STATUS_BSY);
    assert!(!irq14(&ide));
    outb(&mut ide, PCTL, 0);
    // Device 0, an ATA disk: 01h/01h/00h/00h, DRDY.
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(inb(&mut ide, P + ERROR), 0x01);
    assert_eq!(inb(&mut ide, P + COUNT), 1);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 1);
    assert_eq!(inb(&mut ide, P + LBA_MID), 0x00);
    assert_eq!(inb(&mut ide, P + LBA_HIGH), 0x00);
    assert_eq!(inb(&mut ide, P + DEVICE) & DEVICE_DEV, 0);
    // Device 1, a packet device: 14h/EBh, DRDY clear.
    outb(&mut ide, P + DEVICE, 0xB0);
    assert_eq!(inb(&mut ide, P + STATUS), 0x00);
    assert_eq!(inb(&mut ide, P + ERROR), 0x01);
    assert_eq!(inb(&mut ide, P + COUNT), 1);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 1);
    assert_eq!(inb(&mut ide, P + LBA_MID), 0x14);
    assert_eq!(inb(&mut ide, P + LBA_HIGH), 0xEB);
    // The data transfer was abandoned.
    outb(&mut ide, P + DEVICE, 0xA0);
    assert_eq!(inw(&mut ide, P + DATA), 0);

    // EXECUTE DEVICE DIAGNOSTIC gives the same, with an interrupt from
    // device 0, whichever device it was written to.
    outb(&mut ide, P + DEVICE, 0xB0);
    outb(&mut ide, P + LBA_MID, 0x77);
    outb(&mut ide, P + COMMAND, 0x90);
    assert!(irq14(&ide));
    assert_eq!(inb(&mut ide, P + DEVICE) & DEVICE_DEV, 0);
    assert_eq!(inb(&mut ide, P + ERROR), 0x01);
    assert_eq!(inb(&mut ide, P + LBA_MID), 0x00);
    outb(&mut ide, P + DEVICE, 0xB0);
    assert_eq!(inb(&mut ide, P + LBA_MID), 0x14);
}

#[test]
fn absent_devices_and_empty_channels() {
    let mut ide = with_disk(Box::new(MemDisk::new(16)));
    // Device 1 absent: its status reads 0, the registers echo (devices
    // latch writes together), and its signature after reset is none.
    outb(&mut ide, P + DEVICE, 0xB0);
    assert_eq!(inb(&mut ide, P + STATUS), 0);
    assert_eq!(inb(&mut ide, PCTL), 0);
    outb(&mut ide, P + COUNT, 0x55);
    outb(&mut ide, P + LBA_LOW, 0xAA);
    assert_eq!(inb(&mut ide, P + COUNT), 0x55);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 0xAA);
    assert_eq!(inb(&mut ide, P + DEVICE), 0xB0);
    // Commands to it go nowhere.
    outb(&mut ide, P + COMMAND, 0xEC);
    assert_eq!(inb(&mut ide, P + STATUS), 0);
    assert!(!irq14(&ide));
    outb(&mut ide, PCTL, CONTROL_SRST);
    outb(&mut ide, PCTL, 0);
    outb(&mut ide, P + DEVICE, 0xB0);
    assert_eq!(
        (inb(&mut ide, P + LBA_MID), inb(&mut ide, P + LBA_HIGH)),
        (0xFF, 0xFF)
    );
    // The secondary channel has no drive: the bus floats.
    for port in 0x170..=0x177 {
        assert_eq!(inb(&mut ide, port), 0xFF);
    }
    outb(&mut ide, 0x176, 0xA0);
    outb(&mut ide, 0x177, 0xEC);
    assert_eq!(inb(&mut ide, 0x177), 0xFF);
    assert_eq!(inb(&mut ide, SECONDARY_CONTROL), 0xFF);
    assert_eq!(ide.io_read(T, 0x170, IoSize::Word), 0xFFFF);
    assert_eq!(ide.irq_levels(), 0);
}

#[test]
fn nien_gates_the_line_and_status_reads_acknowledge() {
    let mut ide = with_disk(Box::new(MemDisk::new(16)));
    outb(&mut ide, PCTL, CONTROL_NIEN);
    outb(&mut ide, P + DEVICE, 0xA0);
    outb(&mut ide, P + COMMAND, 0xE5); // CHECK POWER MODE
    assert!(!irq14(&ide));
    assert_eq!(inb(&mut ide, P + COUNT), 0xFF);
    // INTRQ is pending in the drive: enabling the output shows it.
    outb(&mut ide, PCTL, 0);
    assert!(irq14(&ide));
    // The alternate status does not acknowledge; the status does.
    assert_eq!(inb(&mut ide, PCTL), 0x50);
    assert!(irq14(&ide));
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert!(!irq14(&ide));
    // Nor does the bus master's Interrupt bit get set under nIEN.
    outb(&mut ide, BM + 2, BM_STATUS_INTERRUPT);
    outb(&mut ide, PCTL, CONTROL_NIEN);
    outb(&mut ide, P + COMMAND, 0xE5);
    assert_eq!(inb(&mut ide, BM + 2) & BM_STATUS_INTERRUPT, 0);
}

#[test]
fn a_completion_nobody_acknowledged_still_gives_a_new_edge() {
    let mut ide = with_disk(Box::new(MemDisk::new(16)));
    outb(&mut ide, P + DEVICE, 0xA0);
    outb(&mut ide, P + COMMAND, 0xE5);
    assert!(irq14(&ide));
    assert_eq!(ide.next_deadline(), None);
    // Without reading Status, the next command: the line drops and rises
    // within the one access; the pulse is reported by the next advance.
    outb(&mut ide, P + COMMAND, 0xE5);
    assert!(irq14(&ide));
    let d = ide.next_deadline().expect("a pulse to report");
    assert!(d > T);
    assert_eq!(ide.advance(d), 1 << 14);
    assert_eq!(ide.advance(d), 0);
    assert_eq!(ide.next_deadline(), None);
}

#[test]
fn set_features_flush_and_unknown_commands() {
    let mut ide = with_disk(Box::new(MemDisk::new(16)));
    let set_features = |ide: &mut IdeController, feature: u8, count: u8| {
        outb(ide, P + FEATURE, feature);
        outb(ide, P + COUNT, count);
        outb(ide, P + COMMAND, 0xEF);
        inb(ide, P + STATUS)
    };
    // Multiword DMA mode 2, then Ultra DMA mode 5.
    assert_eq!(set_features(&mut ide, 0x03, 0x22), 0x50);
    assert_eq!(identify(&mut ide)[63], 0x0407);
    assert_eq!(set_features(&mut ide, 0x03, 0x45), 0x50);
    let w = identify(&mut ide);
    assert_eq!((w[63], w[88]), (0x0007, 0x203F));
    // PIO mode 4 is fine, mode 7 is not; nor an unknown subcommand.
    assert_eq!(set_features(&mut ide, 0x03, 0x0C), 0x50);
    assert_eq!(set_features(&mut ide, 0x03, 0x0F), 0x41);
    assert_eq!(set_features(&mut ide, 0x03, 0x46), 0x41);
    assert_eq!(set_features(&mut ide, 0x99, 0), 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_ABRT);
    // Write cache off shows in word 85.
    assert_eq!(set_features(&mut ide, 0x82, 0), 0x50);
    assert_eq!(identify(&mut ide)[85] & 0x20, 0);

    // Unknown, NOP, PACKET on a disk: ABRT.
    let mut ide = with_disk(Box::new(MemDisk::new(16)));
    for cmd in [0x00, 0xA0, 0xA1, 0x08, 0xB0, 0xFF, 0x50] {
        outb(&mut ide, P + COMMAND, cmd);
        assert!(irq14(&ide));
        assert_eq!(inb(&mut ide, P + STATUS), 0x41, "{cmd:#x}");
        assert_eq!(inb(&mut ide, P + ERROR), ERROR_ABRT);
    }
    // Accepted: power management, RECALIBRATE, SEEK, READ NATIVE MAX.
    for cmd in [0xE0, 0xE1, 0xE2, 0xE3, 0x10, 0x70] {
        lba28(&mut ide, cmd, 0, 1);
        assert_eq!(inb(&mut ide, P + STATUS), 0x50, "{cmd:#x}");
    }
    lba28(&mut ide, 0xF8, 0, 0);
    assert_eq!(inb(&mut ide, P + LBA_LOW), 15);
}

/// A disk that counts its flushes.
struct Counting(MemDisk, Arc<AtomicUsize>);

impl BlockDevice for Counting {
    fn sectors(&self) -> u64 {
        self.0.sectors()
    }
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.0.read_sectors(lba, buf)
    }
    fn write_sectors(&mut self, lba: u64, data: &[u8]) -> Result<(), DiskError> {
        self.0.write_sectors(lba, data)
    }
    fn flush(&mut self) -> Result<(), DiskError> {
        self.1.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn describe(&self) -> String {
        "counting disk".into()
    }
}

#[test]
fn flush_cache_reaches_the_back_end() {
    let flushes = Arc::new(AtomicUsize::new(0));
    let mut ide = with_disk(Box::new(Counting(MemDisk::new(16), flushes.clone())));
    let count = || flushes.load(Ordering::Relaxed);
    outb(&mut ide, P + DEVICE, 0xA0);
    outb(&mut ide, P + COMMAND, 0xE7);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(count(), 1);
    outb(&mut ide, P + COMMAND, 0xEA);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(count(), 2);
    // With the write cache on, writes do not flush.
    lba28(&mut ide, 0x30, 0, 2);
    write_block(&mut ide, &[1; 1024]);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(count(), 2);
    // With it off, each write command does, once, before completing.
    outb(&mut ide, P + FEATURE, 0x82);
    outb(&mut ide, P + COMMAND, 0xEF);
    lba28(&mut ide, 0x30, 0, 2);
    write_block(&mut ide, &[1; 1024]);
    assert_eq!(count(), 3);
    ide.flush_all().unwrap();
    assert_eq!(count(), 4);
    // A software reset turns the cache back on (revert to defaults).
    outb(&mut ide, PCTL, CONTROL_SRST);
    outb(&mut ide, PCTL, 0);
    assert_ne!(identify(&mut ide)[85] & 0x20, 0);
}

#[test]
fn read_only_media_refuse_writes() {
    let mut ide = with_disk(Box::new(patterned_disk(16).read_only()));
    lba28(&mut ide, 0x30, 0, 1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_ABRT);
    lba28(&mut ide, 0xCA, 0, 1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    lba28(&mut ide, 0x20, 0, 1);
    assert_eq!(read_block(&mut ide, 512), pattern(0));
}

#[test]
fn wrong_media_are_refused_at_attach() {
    let mut ide = IdeController::new();
    assert!(ide
        .attach_disk(Channel::Primary, Unit::Master, Box::new(cd_image(4)))
        .is_err());
    assert!(ide
        .attach_cdrom(
            Channel::Primary,
            Unit::Master,
            Some(Box::new(MemDisk::new(4)))
        )
        .is_err());
    assert!(ide
        .attach_disk(Channel::Primary, Unit::Master, Box::new(MemDisk::new(0)))
        .is_err());
    assert!(ide
        .attach_disk(Channel::Primary, Unit::Master, sparse((1 << 48) + 1))
        .is_err());
    assert_eq!(ide.kind(Channel::Primary, Unit::Master), DriveKind::Absent);
}

// ----- ATAPI ---------------------------------------------------------------

struct PacketResult {
    data: Vec<u8>,
    status: u8,
    error: u8,
    /// Byte counts of the DRQ blocks.
    blocks: Vec<usize>,
}

/// Send a packet to the primary slave by PIO and collect the reply.
fn packet(ide: &mut IdeController, cdb: &[u8], limit: u16) -> PacketResult {
    outb(ide, P + DEVICE, 0xB0);
    outb(ide, P + FEATURE, 0);
    outb(ide, P + LBA_MID, limit as u8);
    outb(ide, P + LBA_HIGH, (limit >> 8) as u8);
    outb(ide, P + COMMAND, 0xA0);
    // Command phase: DRQ, CoD, no interrupt.
    assert!(!irq14(ide));
    assert_eq!(inb(ide, PCTL) & (STATUS_DRQ | STATUS_BSY), STATUS_DRQ);
    assert_eq!(inb(ide, P + COUNT) & 3, 1);
    let mut c = [0u8; 12];
    c[..cdb.len()].copy_from_slice(cdb);
    write_block(ide, &c);
    let mut r = PacketResult {
        data: Vec::new(),
        status: 0,
        error: 0,
        blocks: Vec::new(),
    };
    loop {
        assert!(irq14(ide), "every phase interrupts");
        let st = inb(ide, P + STATUS);
        let reason = inb(ide, P + COUNT) & 3;
        if st & STATUS_DRQ == 0 {
            assert_eq!(reason, 3, "status phase: I/O and CoD");
            r.status = st;
            r.error = inb(ide, P + ERROR);
            return r;
        }
        assert_eq!(reason, 2, "data-in phase");
        let n = inb(ide, P + LBA_MID) as usize | (inb(ide, P + LBA_HIGH) as usize) << 8;
        r.blocks.push(n);
        let block = read_block(ide, n + 1);
        r.data.extend_from_slice(&block[..n]);
    }
}

#[test]
fn atapi_identify_and_the_ata_commands_it_refuses() {
    let mut ide = disk_and_cd();
    outb(&mut ide, P + DEVICE, 0xB0);
    // IDENTIFY DEVICE: aborted, with the signature for the host to see.
    outb(&mut ide, P + LBA_MID, 0);
    outb(&mut ide, P + COMMAND, 0xEC);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
    assert_eq!(inb(&mut ide, P + ERROR), ERROR_ABRT);
    assert_eq!(
        (inb(&mut ide, P + LBA_MID), inb(&mut ide, P + LBA_HIGH)),
        (0x14, 0xEB)
    );
    outb(&mut ide, P + COMMAND, 0xA1);
    assert_eq!(inb(&mut ide, P + STATUS), 0x58);
    let w: Vec<u16> = (0..256).map(|_| inw(&mut ide, P + DATA)).collect();
    assert_eq!(w[0], 0x85C0); // ATAPI, CD-ROM, removable, 12-byte packets
    assert_eq!(id_string(&w[27..47]), "OXBOX CD-ROM");
    assert_ne!(w[49] & 0x0200, 0);
    assert_ne!(w[82] & 0x0010, 0); // PACKET feature set
    assert_eq!(inb(&mut ide, P + STATUS) & STATUS_DRQ, 0);
    // READ SECTORS: aborted.
    outb(&mut ide, P + COMMAND, 0x20);
    assert_eq!(inb(&mut ide, P + STATUS), 0x41);
}

#[test]
fn atapi_inquiry_capacity_and_reads() {
    let mut ide = disk_and_cd();
    let r = packet(&mut ide, &[atapi::INQUIRY, 0, 0, 0, 36], 0xFFFE);
    assert_eq!(r.status, 0x50);
    assert_eq!(r.data.len(), 36);
    assert_eq!(r.data[0], 0x05); // CD-ROM
    assert_eq!(r.data[1] & 0x80, 0x80); // removable
    assert_eq!(&r.data[8..16], b"OXBOX   ");
    // An allocation length shorter than the data cuts it.
    let r = packet(&mut ide, &[atapi::INQUIRY, 0, 0, 0, 5], 0xFFFE);
    assert_eq!(r.data.len(), 5);

    let r = packet(&mut ide, &[atapi::TEST_UNIT_READY], 0xFFFE);
    assert_eq!(r.status, 0x50);
    let r = packet(&mut ide, &[atapi::READ_CAPACITY], 0xFFFE);
    assert_eq!(r.data, [0, 0, 0, 39, 0, 0, 8, 0]);

    // READ(10) of 3 sectors with a 2048-byte limit: one block each.
    let r = packet(&mut ide, &[atapi::READ_10, 0, 0, 0, 0, 5, 0, 0, 3], 2048);
    assert_eq!(r.status, 0x50);
    assert_eq!(r.blocks, [2048, 2048, 2048]);
    assert_eq!(r.data.len(), 3 * 2048);
    assert!(r.data[..2048].iter().all(|&b| b == 5));
    assert!(r.data[4096..].iter().all(|&b| b == 7));
    // A limit that splits sectors (and an odd one, rounded down).
    let r = packet(&mut ide, &[atapi::READ_12, 0, 0, 0, 0, 9, 0, 0, 0, 2], 1001);
    assert_eq!(r.blocks, [1000, 1000, 1000, 1000, 96]);
    assert_eq!(r.data.len(), 4096);
    assert!(r.data[..2048].iter().all(|&b| b == 9));
    assert!(r.data[2048..].iter().all(|&b| b == 10));
    // READ TOC: one track.
    let r = packet(
        &mut ide,
        &[atapi::READ_TOC, 0, 0, 0, 0, 0, 0, 0, 20],
        0xFFFE,
    );
    assert_eq!(&r.data[..4], &[0, 18, 1, 1]);
    assert_eq!(&r.data[16..20], &40u32.to_be_bytes());
    // MODE SENSE(10), capabilities page.
    let r = packet(
        &mut ide,
        &[atapi::MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, 28],
        0xFFFE,
    );
    assert_eq!(r.data.len(), 28);
    assert_eq!(r.data[8], 0x2A);
    // GET CONFIGURATION: the current profile is CD-ROM.
    let r = packet(
        &mut ide,
        &[atapi::GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 16],
        0xFFFE,
    );
    assert_eq!(&r.data[6..8], &[0, 8]);
}

#[test]
fn atapi_errors_set_sense_for_request_sense() {
    let mut ide = disk_and_cd();
    // Past the end of the disc.
    let r = packet(&mut ide, &[atapi::READ_10, 0, 0, 0, 0, 39, 0, 0, 2], 0xFFFE);
    assert_eq!(r.status, 0x41);
    assert_eq!(r.error >> 4, atapi::ILLEGAL_REQUEST);
    let r = packet(&mut ide, &[atapi::REQUEST_SENSE, 0, 0, 0, 18], 0xFFFE);
    assert_eq!(r.status, 0x50);
    assert_eq!(
        (r.data[0], r.data[2], r.data[12]),
        (0x70, atapi::ILLEGAL_REQUEST, atapi::ASC_LBA_OUT_OF_RANGE)
    );
    // An unknown opcode.
    let r = packet(&mut ide, &[0xEE], 0xFFFE);
    assert_eq!(r.error >> 4, atapi::ILLEGAL_REQUEST);
    let r = packet(&mut ide, &[atapi::REQUEST_SENSE, 0, 0, 0, 18], 0xFFFE);
    assert_eq!(r.data[12], atapi::ASC_INVALID_OPCODE);

    // No disc: NOT READY, medium not present.
    let mut ide = IdeController::new();
    ide.attach_cdrom(Channel::Primary, Unit::Slave, None)
        .unwrap();
    let r = packet(&mut ide, &[atapi::TEST_UNIT_READY], 0xFFFE);
    assert_eq!(r.status, 0x41);
    assert_eq!(r.error >> 4, atapi::NOT_READY);
    let r = packet(&mut ide, &[atapi::REQUEST_SENSE, 0, 0, 0, 18], 0xFFFE);
    assert_eq!((r.data[2], r.data[12]), (atapi::NOT_READY, 0x3A));
    // A disc arrives: UNIT ATTENTION once, then ready.
    ide.insert_medium(Channel::Primary, Unit::Slave, Box::new(cd_image(8)))
        .unwrap();
    let r = packet(&mut ide, &[atapi::TEST_UNIT_READY], 0xFFFE);
    assert_eq!(r.error >> 4, atapi::UNIT_ATTENTION);
    let r = packet(&mut ide, &[atapi::TEST_UNIT_READY], 0xFFFE);
    assert_eq!(r.status, 0x50);
    // The guest ejects it.
    let r = packet(&mut ide, &[atapi::START_STOP_UNIT, 0, 0, 0, 2], 0xFFFE);
    assert_eq!(r.status, 0x50);
    let r = packet(&mut ide, &[atapi::READ_CAPACITY], 0xFFFE);
    assert_eq!(r.error >> 4, atapi::NOT_READY);
}

#[test]
fn atapi_packet_phases_survive_misuse() {
    let mut ide = disk_and_cd();
    outb(&mut ide, P + DEVICE, 0xB0);
    outb(&mut ide, P + COMMAND, 0xA0);
    // A command while the packet is awaited is ignored.
    outb(&mut ide, P + COMMAND, 0xA1);
    assert_eq!(inb(&mut ide, P + COUNT) & 3, 1);
    // Reading the data port in the command phase gives nothing.
    assert_eq!(inw(&mut ide, P + DATA), 0);
    // DEVICE RESET gets it out.
    outb(&mut ide, P + COMMAND, 0x08);
    assert_eq!(inb(&mut ide, P + STATUS) & STATUS_DRQ, 0);
    assert_eq!(inb(&mut ide, P + LBA_MID), 0x14);
    // A byte count limit of 0 is taken as the largest.
    let r = packet(&mut ide, &[atapi::READ_10, 0, 0, 0, 0, 0, 0, 0, 40], 0);
    assert_eq!(r.data.len(), 40 * 2048);
    assert!(r.blocks.iter().all(|&b| b <= 0xFFFE && b % 2 == 0));
}

// ----- Bus-master DMA ------------------------------------------------------

const PRD_TABLE: u32 = 0x1000;

fn prd(mem: &mut Vec<u8>, at: u32, entries: &[(u32, u32, bool)]) {
    for (i, &(addr, count, eot)) in entries.iter().enumerate() {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&addr.to_le_bytes());
        e[4..6].copy_from_slice(&(count as u16).to_le_bytes());
        e[7] = if eot { 0x80 } else { 0 };
        DmaMemory::write(mem, at + 8 * i as u32, &e);
    }
}

fn bm_setup(ide: &mut IdeController, to_memory: bool) {
    ide.io_write(T, BM + 4, IoSize::Dword, PRD_TABLE);
    outb(ide, BM, if to_memory { BM_COMMAND_TO_MEMORY } else { 0 });
    outb(ide, BM + 2, BM_STATUS_INTERRUPT | BM_STATUS_ERROR);
}

fn bm_start(ide: &mut IdeController, to_memory: bool, mem: &mut Vec<u8>) {
    let dir = if to_memory { BM_COMMAND_TO_MEMORY } else { 0 };
    outb(ide, BM, dir | BM_COMMAND_START);
    ide.run_dma(mem);
}

#[test]
fn read_dma_walks_the_prd_table() {
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    let mut mem = vec![0u8; 0x40000];
    prd(
        &mut mem,
        PRD_TABLE,
        &[(0x10000, 512, false), (0x20000, 1024, true)],
    );
    bm_setup(&mut ide, true);
    assert_eq!(ide.io_read(T, BM + 4, IoSize::Dword), PRD_TABLE);
    lba28(&mut ide, 0xC8, 7, 3);
    // The drive waits for the bus master.
    assert_eq!(inb(&mut ide, PCTL), 0x58);
    assert!(!ide.dma_pending());
    ide.run_dma(&mut mem);
    assert_eq!(mem[0x10000], 0);
    bm_start(&mut ide, true, &mut mem);
    assert_eq!(&mem[0x10000..0x10200], &pattern(7)[..]);
    assert_eq!(&mem[0x20000..0x20200], &pattern(8)[..]);
    assert_eq!(&mem[0x20200..0x20400], &pattern(9)[..]);
    // The table was used up exactly: Interrupt, not Active.
    assert_eq!(inb(&mut ide, BM + 2) & 7, BM_STATUS_INTERRUPT);
    assert!(irq14(&ide));
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    outb(&mut ide, BM, BM_COMMAND_TO_MEMORY);
    outb(&mut ide, BM + 2, BM_STATUS_INTERRUPT);
    assert_eq!(inb(&mut ide, BM + 2), 0);
}

#[test]
fn write_dma_with_the_start_bit_set_first() {
    let mut ide = with_disk(Box::new(patterned_disk(512)));
    let mut mem = vec![0u8; 0x80000];
    // 200 sectors (more than one back-end chunk) from a 64 KiB region
    // and the rest.
    let data: Vec<u8> = (0..200 * 512).map(|i| (i % 251) as u8).collect();
    DmaMemory::write(&mut mem, 0x20000, &data);
    prd(
        &mut mem,
        PRD_TABLE,
        &[(0x20000, 0, false), (0x30000, 200 * 512 - 0x10000, true)],
    );
    bm_setup(&mut ide, false);
    bm_start(&mut ide, false, &mut mem);
    assert!(!irq14(&ide));
    lba28(&mut ide, 0xCA, 100, 200);
    assert!(ide.dma_pending());
    ide.run_dma(&mut mem);
    assert!(!ide.dma_pending());
    assert!(irq14(&ide));
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(inb(&mut ide, BM + 2) & 7, BM_STATUS_INTERRUPT);
    let mut back = vec![0; data.len()];
    ide.medium_mut(Channel::Primary, Unit::Master)
        .unwrap()
        .read_sectors(100, &mut back)
        .unwrap();
    assert_eq!(back, data);
}

#[test]
fn prd_table_larger_or_smaller_than_the_transfer() {
    // Larger: the bus master stays Active, with Interrupt.
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    let mut mem = vec![0u8; 0x40000];
    prd(&mut mem, PRD_TABLE, &[(0x10000, 8192, true)]);
    bm_setup(&mut ide, true);
    lba28(&mut ide, 0xC8, 0, 2);
    bm_start(&mut ide, true, &mut mem);
    assert_eq!(
        inb(&mut ide, BM + 2) & 7,
        BM_STATUS_INTERRUPT | BM_STATUS_ACTIVE
    );
    assert!(irq14(&ide));
    assert_eq!(&mem[0x10200..0x10400], &pattern(1)[..]);

    // Smaller: Active drops, no interrupt, the drive still wants data.
    let mut ide = with_disk(Box::new(patterned_disk(64)));
    prd(&mut mem, PRD_TABLE, &[(0x10000, 512, true)]);
    bm_setup(&mut ide, true);
    lba28(&mut ide, 0xC8, 0, 2);
    bm_start(&mut ide, true, &mut mem);
    assert_eq!(inb(&mut ide, BM + 2) & 7, 0);
    assert!(!irq14(&ide));
    assert_eq!(inb(&mut ide, PCTL), 0x58);
    // The host gives up: stop, reset.
    outb(&mut ide, BM, 0);
    outb(&mut ide, PCTL, CONTROL_SRST);
    outb(&mut ide, PCTL, 0);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
}

#[test]
fn lba48_dma_and_atapi_dma() {
    let mut ide = with_disk(sparse(1 << 33));
    ide.attach_cdrom(Channel::Primary, Unit::Slave, Some(Box::new(cd_image(40))))
        .unwrap();
    let mut mem = vec![0u8; 0x40000];
    prd(&mut mem, PRD_TABLE, &[(0x10000, 1024, true)]);
    bm_setup(&mut ide, true);
    lba48(&mut ide, 0x25, (1 << 33) - 2, 2);
    bm_start(&mut ide, true, &mut mem);
    assert_eq!(&mem[0x10000..0x10200], &pattern((1 << 33) - 2)[..]);
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);

    // ATAPI READ(10) by DMA: Features bit 0.
    prd(&mut mem, PRD_TABLE, &[(0x20000, 3 * 2048, true)]);
    bm_setup(&mut ide, true);
    outb(&mut ide, P + DEVICE, 0xB0);
    outb(&mut ide, P + FEATURE, 1);
    outb(&mut ide, P + COMMAND, 0xA0);
    let mut cdb = [0u8; 12];
    cdb[0] = atapi::READ_10;
    cdb[5] = 2;
    cdb[8] = 3;
    write_block(&mut ide, &cdb);
    assert!(!irq14(&ide));
    bm_start(&mut ide, true, &mut mem);
    assert!(irq14(&ide));
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    assert_eq!(inb(&mut ide, P + COUNT) & 3, 3);
    assert!(mem[0x20000..0x20800].iter().all(|&b| b == 2));
    assert!(mem[0x21000..0x21800].iter().all(|&b| b == 4));
    assert_eq!(inb(&mut ide, BM + 2) & 7, BM_STATUS_INTERRUPT);
}

#[test]
fn bus_master_registers() {
    let mut ide = with_disk(Box::new(MemDisk::new(8)));
    // PRD pointer: dword aligned; byte writes reach single bytes.
    ide.io_write(T, BM + 4, IoSize::Dword, 0x1234_5677);
    assert_eq!(ide.io_read(T, BM + 4, IoSize::Dword), 0x1234_5674);
    outb(&mut ide, BM + 5, 0xAB);
    assert_eq!(ide.io_read(T, BM + 4, IoSize::Dword), 0x1234_AB74);
    // Command keeps Start and the direction; status keeps the drive bits.
    outb(&mut ide, BM, 0xFF);
    assert_eq!(inb(&mut ide, BM), 0x09);
    assert_eq!(inb(&mut ide, BM + 2), BM_STATUS_ACTIVE);
    outb(&mut ide, BM + 2, 0xFF);
    assert_eq!(inb(&mut ide, BM + 2), 0x61);
    outb(&mut ide, BM, 0);
    assert_eq!(inb(&mut ide, BM + 2), 0x60);
    // Secondary channel's block at +8; reserved bytes read 0.
    outb(&mut ide, BM + 8, 0x08);
    assert_eq!(inb(&mut ide, BM + 8), 0x08);
    assert_eq!(inb(&mut ide, BM + 1), 0);
    assert_eq!(ide.bus_master_read(8, IoSize::Byte), 0x08);
    // Without a base the block is not decoded.
    ide.set_bus_master_base(None);
    assert_eq!(inb(&mut ide, BM), 0xFF);
    assert!(ide.port_ranges().len() == 4);
    ide.set_bus_master_base(Some(BM));
    assert!(ide
        .port_ranges()
        .contains(&(BM, 16, oxbox_devices::AccessWidths::DWORD)));
}

// ----- Bad input and saved state -------------------------------------------

#[test]
fn data_port_without_drq_and_reads_of_write_only_registers() {
    let mut ide = with_disk(Box::new(MemDisk::new(8)));
    for _ in 0..1000 {
        assert_eq!(inw(&mut ide, P + DATA), 0);
        outw(&mut ide, P + DATA, 0xDEAD);
        assert_eq!(ide.io_read(T, P + DATA, IoSize::Dword), 0);
    }
    // Features is write-only: the same port reads Error. Command is
    // write-only: it reads Status. Device Control reads Alternate Status.
    outb(&mut ide, P + FEATURE, 0x5A);
    assert_eq!(inb(&mut ide, P + ERROR), 0x01);
    assert_eq!(inb(&mut ide, P + COMMAND), 0x50);
    assert_eq!(inb(&mut ide, PCTL), 0x50);
    // Writing more data than a block holds is dropped.
    lba28(&mut ide, 0x30, 0, 1);
    for i in 0..1000 {
        outw(&mut ide, P + DATA, i);
    }
    assert_eq!(inb(&mut ide, P + STATUS), 0x50);
    // Wide accesses to byte registers split into bytes.
    ide.io_write(T, P + COUNT, IoSize::Dword, 0xE302_0100);
    assert_eq!(ide.io_read(T, P + COUNT, IoSize::Word), 0x0100);
    assert_eq!(ide.io_read(T, P + STATUS, IoSize::Dword), 0xFFFF_FF50);
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fuzz_rig() -> IdeController {
    let mut ide = disk_and_cd();
    ide.attach_disk(Channel::Secondary, Unit::Master, sparse(1 << 30))
        .unwrap();
    ide
}

fn reattach_all(ide: &mut IdeController, from: &mut IdeController) {
    for ch in [Channel::Primary, Channel::Secondary] {
        for unit in [Unit::Master, Unit::Slave] {
            if let Some(m) = from.take_medium(ch, unit) {
                ide.reattach(ch, unit, m).unwrap();
            }
        }
    }
}

fn round_trip(ide: &mut IdeController) -> IdeController {
    let json = serde_json::to_string(&*ide).unwrap();
    let mut back: IdeController = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    reattach_all(&mut back, ide);
    back
}

#[test]
fn random_port_traffic_never_panics() {
    const PORTS: &[u16] = &[
        0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6, 0x170, 0x171, 0x172, 0x173,
        0x174, 0x175, 0x176, 0x177, 0x376, 0x3F7, 0x1EF, 0x1F8,
    ];
    const COMMANDS: &[u8] = &[
        0xEC, 0xA1, 0xA0, 0x20, 0x24, 0x30, 0x34, 0xC4, 0xC5, 0x29, 0x39, 0xC8, 0xCA, 0x25, 0x35,
        0xC6, 0xEF, 0xE7, 0xEA, 0x91, 0x90, 0x08, 0x40, 0x42, 0x70, 0x10, 0xE5, 0xF8, 0x27, 0x00,
    ];
    for seed in 0..6 {
        let mut rng = Rng(seed);
        let mut ide = fuzz_rig();
        ide.set_bus_master_base(Some(BM));
        let mut mem = vec![0u8; 0x20000];
        let mut t = VirtualTime::ZERO;
        for i in 0..60_000 {
            t = t.add_nanos(rng.below(1000));
            let port = match rng.below(10) {
                0 => BM + rng.below(18) as u16,
                1 => rng.next() as u16,
                _ => PORTS[rng.below(PORTS.len() as u64) as usize],
            };
            let size = match rng.below(4) {
                0 => IoSize::Byte,
                1 => IoSize::Dword,
                _ => IoSize::Word,
            };
            let value = match rng.below(6) {
                0 => COMMANDS[rng.below(COMMANDS.len() as u64) as usize] as u32,
                1 => [0xA0, 0xB0, 0xE0, 0xF0, 0x40][rng.below(5) as usize],
                2 => rng.below(4) as u32,
                _ => rng.next() as u32,
            };
            match rng.below(12) {
                0..=4 => {
                    let v = ide.io_read(t, port, size);
                    assert!(v <= size.open_bus());
                }
                5..=9 => {
                    // Command-port writes are bytes, mostly.
                    let size = if port & 7 == 7 { IoSize::Byte } else { size };
                    ide.io_write(t, port, size, value);
                    ide.run_dma(&mut mem);
                }
                10 => {
                    // A PRD table somewhere in (or past) memory.
                    let at = rng.below(0x20000) as u32;
                    ide.io_write(t, BM + 4, IoSize::Dword, at);
                    ide.io_write(t, BM + 12, IoSize::Dword, at);
                    let e = [rng.next() as u32 & 0x1FFFF, rng.next() as u32];
                    DmaMemory::write(&mut mem, at, &e[0].to_le_bytes());
                    DmaMemory::write(&mut mem, at.wrapping_add(4), &e[1].to_le_bytes());
                }
                11 if rng.below(2) == 0 => {
                    // A burst on a data port, as a driver moving a block.
                    let port = [0x1F0, 0x170][rng.below(2) as usize];
                    for _ in 0..=rng.below(600) {
                        if rng.below(2) == 0 {
                            ide.io_read(t, port, size);
                        } else {
                            ide.io_write(t, port, size, value);
                        }
                    }
                    ide.run_dma(&mut mem);
                }
                _ => {
                    ide.advance(t);
                }
            }
            if let Some(d) = ide.next_deadline() {
                assert!(d > t);
            }
            if i % 20_000 == 19_999 {
                ide = round_trip(&mut ide);
            }
        }
    }
}

#[test]
fn state_round_trips_in_the_middle_of_a_transfer() {
    let mut ide = disk_and_cd();
    lba28(&mut ide, 0x20, 3, 4);
    let mut first = read_block(&mut ide, 512);
    first.extend(read_block(&mut ide, 100));
    let mut restored = round_trip(&mut ide);
    let mut rest = read_block(&mut restored, 512 - 100);
    while inb(&mut restored, P + STATUS) & STATUS_DRQ != 0 {
        rest.extend(read_block(&mut restored, 512));
    }
    first.extend(rest);
    assert_eq!(first, (3..7).flat_map(pattern).collect::<Vec<_>>());

    // And in the middle of an ATAPI read.
    outb(&mut restored, P + DEVICE, 0xB0);
    outb(&mut restored, P + FEATURE, 0);
    outb(&mut restored, P + LBA_MID, 0x00);
    outb(&mut restored, P + LBA_HIGH, 0x08);
    outb(&mut restored, P + COMMAND, 0xA0);
    let mut cdb = [0u8; 12];
    cdb[0] = atapi::READ_10;
    cdb[5] = 1;
    cdb[8] = 2;
    write_block(&mut restored, &cdb);
    let a = read_block(&mut restored, 1024);
    let mut again = round_trip(&mut restored);
    let b = read_block(&mut again, 1024);
    assert!(a.iter().chain(&b).all(|&x| x == 1));
    assert_eq!(inb(&mut again, P + STATUS), 0x58);
    let c = read_block(&mut again, 2048);
    assert!(c.iter().all(|&x| x == 2));
    assert_eq!(inb(&mut again, P + STATUS), 0x50);
}

#[test]
fn overlay_sectors_are_part_of_the_saved_state() {
    let base = patterned_disk(32).read_only();
    let mut ide = with_disk(Box::new(Overlay::new(Box::new(base.clone()))));
    lba28(&mut ide, 0x30, 5, 1);
    write_block(&mut ide, &[0xEE; 512]);
    let json = serde_json::to_string(&ide).unwrap();
    drop(ide);

    // Restored onto a fresh overlay over the same base.
    let mut back: IdeController = serde_json::from_str(&json).unwrap();
    // A plain image cannot take the overlay's sectors; the wrong size is
    // refused.
    let e = back.reattach(Channel::Primary, Unit::Master, Box::new(base.clone()));
    assert!(matches!(e, Err(DiskError::NotAnOverlay)));
    let e = back.reattach(
        Channel::Primary,
        Unit::Master,
        Box::new(Overlay::new(Box::new(patterned_disk(33)))),
    );
    assert!(matches!(e, Err(DiskError::SizeMismatch { .. })));
    back.reattach(
        Channel::Primary,
        Unit::Master,
        Box::new(Overlay::new(Box::new(base.clone()))),
    )
    .unwrap();
    lba28(&mut back, 0x20, 4, 3);
    let got = [
        read_block(&mut back, 512),
        read_block(&mut back, 512),
        read_block(&mut back, 512),
    ];
    assert_eq!(got[0], pattern(4));
    assert_eq!(got[1], [0xEE; 512]);
    assert_eq!(got[2], pattern(6));
    // The base never changed.
    assert_eq!(base, patterned_disk(32).read_only());
}

//! The 82077AA floppy controller and the 8237 DMA pair at register level,
//! as a driver sees them: reset and its polling interrupts, the
//! configuration commands, seeks, data transfers by DMA and through the
//! FIFO, the errors of the "Status Register" descriptions, timing from
//! the virtual clock, bad guest input, and saved state.

use oxbox_devices::disk::MemDisk;
use oxbox_devices::dma8237::Dma8237;
use oxbox_devices::fdc::*;
use oxbox_devices::{Device, IoSize, VirtualTime};

const DOR: u16 = 0x3F2;
const MSR: u16 = 0x3F4;
const FIFO: u16 = 0x3F5;
const DIR: u16 = 0x3F7;

/// A 1.44M diskette whose every sector starts with its LBA (u16) and is
/// filled with its low byte.
fn diskette_144() -> MemDisk {
    let data = (0..2880u32)
        .flat_map(|lba| {
            let mut s = vec![lba as u8; 512];
            s[..2].copy_from_slice(&(lba as u16).to_le_bytes());
            s
        })
        .collect();
    MemDisk::from_bytes(data, 512)
}

/// The controller, the DMA pair and 1 MiB of memory on one clock.
struct Rig {
    fdc: Fdc,
    dma: Dma8237,
    mem: Vec<u8>,
    now: VirtualTime,
}

impl Rig {
    fn new() -> Rig {
        let mut fdc = Fdc::new();
        fdc.attach(0, Box::new(diskette_144())).unwrap();
        Rig {
            fdc,
            dma: Dma8237::new(),
            mem: vec![0; 1 << 20],
            now: VirtualTime::ZERO,
        }
    }

    fn outb(&mut self, port: u16, v: u8) {
        if Dma8237::decodes(port) {
            self.dma.io_write(self.now, port, IoSize::Byte, v as u32);
        } else {
            self.fdc.io_write(self.now, port, IoSize::Byte, v as u32);
        }
    }

    fn inb(&mut self, port: u16) -> u8 {
        if Dma8237::decodes(port) {
            self.dma.io_read(self.now, port, IoSize::Byte) as u8
        } else {
            self.fdc.io_read(self.now, port, IoSize::Byte) as u8
        }
    }

    fn irq6(&self) -> bool {
        self.fdc.irq_levels() & (1 << 6) != 0
    }

    /// Run the clock, serving DMA as the machine does, until IRQ 6 is
    /// high or `limit` passes; returns whether it came.
    fn wait_irq(&mut self, limit: VirtualTime) -> bool {
        loop {
            if self.fdc.dreq() && self.dma.ready(2) {
                self.dma.transfer(2, &mut self.fdc, &mut self.mem);
            }
            if self.irq6() {
                return true;
            }
            match self.fdc.next_deadline() {
                Some(t) if t <= limit => {
                    self.now = t;
                    self.fdc.advance(t);
                }
                _ => {
                    self.now = limit;
                    self.fdc.advance(limit);
                    return self.irq6();
                }
            }
        }
    }

    fn command(&mut self, bytes: &[u8]) {
        for &b in bytes {
            assert_eq!(self.inb(MSR) & 0xC0, 0x80, "RQM, host to controller");
            self.outb(FIFO, b);
        }
    }

    fn results(&mut self) -> Vec<u8> {
        let mut r = Vec::new();
        while self.inb(MSR) & 0xC0 == 0xC0 {
            r.push(self.inb(FIFO));
        }
        r
    }

    /// DOR reset with the DMA gate, the four polling statuses, SPECIFY
    /// (SRT 6 ms, DMA mode), 500 kbps.
    fn reset(&mut self) {
        self.outb(DOR, 0x00);
        self.outb(DOR, 0x1C);
        assert!(self.wait_irq(self.now.add_nanos(1_000_000)));
        for d in 0..4 {
            self.command(&[0x08]);
            assert_eq!(self.results(), [0xC0 | d, 0]);
        }
        self.command(&[0x03, 0xAF, 0x02]);
        self.outb(DIR, 0x00);
    }

    /// Program DMA channel 2: `mode`, `len` bytes at `addr`.
    fn dma2(&mut self, mode: u8, addr: u32, len: u16) {
        self.outb(0x0A, 0x06);
        self.outb(0x0C, 0);
        self.outb(0x0B, mode);
        self.outb(0x04, addr as u8);
        self.outb(0x04, (addr >> 8) as u8);
        self.outb(0x81, (addr >> 16) as u8);
        self.outb(0x05, (len - 1) as u8);
        self.outb(0x05, ((len - 1) >> 8) as u8);
        self.outb(0x0A, 0x02);
        // Channel 4 carries the first 8237's requests.
        self.outb(0xD6, 0xC0);
        self.outb(0xD4, 0x00);
    }

    fn seek(&mut self, cyl: u8) -> Vec<u8> {
        self.command(&[0x0F, 0x00, cyl]);
        assert!(self.wait_irq(self.now.add_nanos(2_000_000_000)));
        self.command(&[0x08]);
        self.results()
    }

    /// READ DATA (MT, MFM) from C/H/R to EOT, waited for; the results.
    fn read(&mut self, c: u8, h: u8, r: u8, eot: u8) -> Vec<u8> {
        self.command(&[0xC6, h << 2, c, h, r, 2, eot, 0x1B, 0xFF]);
        assert!(self.wait_irq(self.now.add_nanos(3_000_000_000)));
        self.results()
    }
}

fn lba(c: u64, h: u64, r: u64) -> u64 {
    (c * 2 + h) * 18 + r - 1
}

#[test]
fn dor_reset_gives_the_four_polling_interrupt_statuses() {
    let mut rig = Rig::new();
    // Held in reset at power-on: MSR reads 0.
    assert_eq!(rig.inb(MSR), 0x00);
    rig.outb(DOR, 0x0C);
    assert!(rig.wait_irq(VirtualTime::from_millis(1)));
    for d in 0..4 {
        rig.command(&[0x08]);
        assert_eq!(rig.results(), [0xC0 | d, 0]);
    }
    assert!(!rig.irq6(), "the fourth status clears INT");
    // With nothing pending SENSE INTERRUPT STATUS is an invalid command.
    rig.command(&[0x08]);
    assert_eq!(rig.results(), [0x80]);
    assert_eq!(rig.inb(MSR), 0x80);
}

#[test]
fn irq6_is_gated_by_the_dor_dma_bit() {
    let mut rig = Rig::new();
    rig.outb(DOR, 0x04);
    rig.wait_irq(VirtualTime::from_millis(1));
    assert!(!rig.irq6());
    rig.outb(DOR, 0x0C);
    assert!(rig.irq6());
}

#[test]
fn version_invalid_configure_dumpreg_and_lock() {
    let mut rig = Rig::new();
    rig.reset();
    rig.command(&[0x10]);
    assert_eq!(rig.results(), [VERSION_82077AA]);
    rig.command(&[0x1F]);
    assert_eq!(rig.results(), [0x80]);
    // CONFIGURE: implied seek, FIFO on, polling off, threshold 8;
    // PRETRK 5. PERPENDICULAR MODE: drive 1, GAP and WGATE.
    rig.command(&[0x13, 0x00, 0x58, 0x05]);
    rig.command(&[0x12, 0x80 | 0x08 | 0x03]);
    rig.command(&[0x0E]);
    assert_eq!(
        rig.results(),
        [0, 0, 0, 0, 0xAF, 0x02, 0, 0x08 | 0x03, 0x58, 0x05]
    );
    // LOCK keeps CONFIGURE's values through a reset; without it they go.
    rig.command(&[0x94]);
    assert_eq!(rig.results(), [0x10]);
    rig.reset();
    rig.command(&[0x0E]);
    assert_eq!(rig.results()[8..], [0x58, 0x05]);
    rig.command(&[0x14]);
    assert_eq!(rig.results(), [0x00]);
    rig.reset();
    rig.command(&[0x0E]);
    assert_eq!(rig.results()[8..], [0x20, 0x00]);
}

#[test]
fn seek_takes_step_time_and_reports_through_sense_interrupt() {
    let mut rig = Rig::new();
    rig.reset();
    let t0 = rig.now;
    rig.command(&[0x0F, 0x04, 40]);
    // The command phase is over at once; the drive is busy seeking.
    assert_eq!(rig.inb(MSR), 0x81);
    assert!(rig.wait_irq(VirtualTime::from_secs(1)));
    // 40 steps of 6 ms (SRT 0xA at 500 kbps).
    let ms = rig.now.nanos_since(t0) / 1_000_000;
    assert!((240..250).contains(&ms), "{ms} ms");
    rig.command(&[0x08]);
    assert_eq!(rig.results(), [0x20 | 0x04, 40]);
    assert_eq!(rig.inb(MSR), 0x80);
    // SENSE DRIVE STATUS: not on track 0 now; RECALIBRATE brings it.
    rig.command(&[0x04, 0x00]);
    assert_eq!(rig.results(), [0x28]);
    rig.command(&[0x07, 0x00]);
    assert!(rig.wait_irq(VirtualTime::from_secs(2)));
    rig.command(&[0x08]);
    assert_eq!(rig.results(), [0x20, 0]);
    rig.command(&[0x04, 0x00]);
    assert_eq!(rig.results(), [0x38]);
    // RECALIBRATE of a drive that is not there: equipment check.
    rig.command(&[0x07, 0x01]);
    assert!(rig.wait_irq(VirtualTime::from_secs(4)));
    rig.command(&[0x08]);
    assert_eq!(rig.results(), [0x71, 0]);
}

#[test]
fn read_data_by_dma_stops_at_terminal_count_with_the_next_sector_id() {
    let mut rig = Rig::new();
    rig.reset();
    assert_eq!(rig.seek(2), [0x20, 2]);
    // Three sectors from C2/H0/R17: 17, 18, then head 1 sector 1.
    rig.dma2(0x46, 0x12000, 3 * 512);
    // ST0 names the head the command ended on.
    assert_eq!(rig.read(2, 0, 17, 18), [0x04, 0, 0, 2, 1, 2, 2]);
    for (i, want) in [lba(2, 0, 17), lba(2, 0, 18), lba(2, 1, 1)]
        .into_iter()
        .enumerate()
    {
        let at = 0x12000 + i * 512;
        assert_eq!(rig.mem[at..at + 2], (want as u16).to_le_bytes());
        assert_eq!(rig.mem[at + 511], want as u8);
    }
    // The 8237: terminal count in the status, the channel masked.
    assert_eq!(rig.inb(0x08) & 0x04, 0x04);
    assert_eq!(rig.inb(0x0F) & 0x04, 0x04);
}

#[test]
fn a_whole_track_takes_one_revolution() {
    let mut rig = Rig::new();
    rig.reset();
    rig.dma2(0x46, 0x20000, 18 * 512);
    let t0 = rig.now;
    // MT: the next sector after head 0's last is head 1's first.
    assert_eq!(rig.read(0, 0, 1, 18), [0x00, 0, 0, 0, 1, 1, 2]);
    // At most one revolution to the first sector, one to read the track.
    let ms = rig.now.nanos_since(t0) / 1_000_000;
    assert!((190..=400).contains(&ms), "{ms} ms");
    // Then head 1 from sector 1, issued at once, is not a revolution late.
    rig.dma2(0x46, 0x30000, 18 * 512);
    let t1 = rig.now;
    assert_eq!(rig.read(0, 1, 1, 18), [0x04, 0, 0, 1, 0, 1, 2]);
    let ms = rig.now.nanos_since(t1) / 1_000_000;
    assert!((190..=210).contains(&ms), "{ms} ms");
    assert_eq!(rig.mem[0x30000 + 17 * 512], lba(0, 1, 18) as u8);
}

#[test]
fn reading_without_tc_runs_to_the_end_of_the_cylinder() {
    let mut rig = Rig::new();
    rig.reset();
    rig.dma2(0x46, 0x10000, 0x8000);
    // MT clear: sectors 17 and 18 of head 0, then End of Cylinder.
    rig.command(&[0x46, 0x00, 0, 0, 17, 2, 18, 0x1B, 0xFF]);
    assert!(rig.wait_irq(VirtualTime::from_secs(3)));
    assert_eq!(rig.results(), [0x40, 0x80, 0x00, 1, 0, 1, 2]);
}

#[test]
fn sector_errors_follow_the_status_register_descriptions() {
    let mut rig = Rig::new();
    rig.reset();
    rig.dma2(0x46, 0x10000, 512);
    // No sector 19 on a 1.44M track: No Data.
    assert_eq!(rig.read(0, 0, 19, 19), [0x40, 0x04, 0x00, 0, 0, 19, 2]);
    // C differs from the track the head is on: No Data, Wrong Cylinder.
    assert_eq!(rig.read(5, 0, 1, 18), [0x40, 0x04, 0x10, 5, 0, 1, 2]);
    // The wrong data rate reads no ID at all: Missing Address Mark.
    rig.outb(DIR, 0x02);
    assert_eq!(rig.read(0, 0, 1, 18), [0x40, 0x01, 0x00, 0, 0, 1, 2]);
    rig.outb(DIR, 0x00);
    // READ ID: an ID of the track under the head.
    rig.command(&[0x4A, 0x04]);
    assert!(rig.wait_irq(VirtualTime::from_secs(10)));
    let r = rig.results();
    assert_eq!(r[..5], [0x04, 0, 0, 0, 1]);
    assert!((1..=18).contains(&r[5]) && r[6] == 2, "{r:?}");
}

#[test]
fn write_data_reaches_the_medium_and_write_protect_refuses() {
    let mut rig = Rig::new();
    rig.reset();
    rig.seek(3);
    rig.mem[0x40000..0x40400].fill(0x5A);
    rig.dma2(0x4A, 0x40000, 1024);
    rig.command(&[0xC5, 0x04, 3, 1, 7, 2, 18, 0x1B, 0xFF]);
    assert!(rig.wait_irq(VirtualTime::from_secs(3)));
    assert_eq!(rig.results(), [0x04, 0, 0, 3, 1, 9, 2]);
    let mut on_disk = vec![0; 1024];
    let lba7 = lba(3, 1, 7);
    let disk = rig.fdc.medium_mut(0).expect("the diskette");
    disk.read_sectors(lba7, &mut on_disk).unwrap();
    assert!(on_disk.iter().all(|&b| b == 0x5A));
    // And back through the controller.
    rig.dma2(0x46, 0x50000, 1024);
    assert_eq!(rig.read(3, 1, 7, 18), [0x04, 0, 0, 3, 1, 9, 2]);
    assert!(rig.mem[0x50000..0x50400].iter().all(|&b| b == 0x5A));

    let mut rig = Rig::new();
    rig.fdc
        .attach(0, Box::new(diskette_144().read_only()))
        .unwrap();
    rig.reset();
    rig.dma2(0x4A, 0x40000, 512);
    rig.command(&[0xC5, 0x00, 0, 0, 1, 2, 18, 0x1B, 0xFF]);
    assert!(rig.wait_irq(VirtualTime::from_secs(1)));
    assert_eq!(rig.results(), [0x40, 0x02, 0, 0, 0, 1, 2]);
    rig.command(&[0x04, 0x00]);
    assert_eq!(rig.results()[0] & 0x40, 0x40, "ST3 shows write protect");
}

#[test]
fn format_track_fills_the_sectors_it_is_given() {
    let mut rig = Rig::new();
    rig.reset();
    rig.seek(1);
    // IDs for head 0 of cylinder 1: C, H, R, N per sector.
    let ids: Vec<u8> = (1..=18u8).flat_map(|r| [1, 0, r, 2]).collect();
    rig.mem[0x60000..0x60000 + ids.len()].copy_from_slice(&ids);
    rig.dma2(0x4A, 0x60000, ids.len() as u16);
    rig.command(&[0x4D, 0x00, 2, 18, 0x6C, 0xE5]);
    assert!(rig.wait_irq(VirtualTime::from_secs(2)));
    assert_eq!(rig.results()[..3], [0x00, 0, 0]);
    rig.dma2(0x46, 0x70000, 18 * 512);
    assert_eq!(rig.read(1, 0, 1, 18)[0], 0x00);
    assert!(rig.mem[0x70000..0x70000 + 18 * 512]
        .iter()
        .all(|&b| b == 0xE5));
}

#[test]
fn non_dma_mode_moves_the_bytes_through_the_fifo() {
    let mut rig = Rig::new();
    rig.reset();
    rig.command(&[0x03, 0xAF, 0x03]);
    rig.command(&[0x46, 0x00, 0, 0, 18, 2, 18, 0x1B, 0xFF]);
    assert!(rig.wait_irq(VirtualTime::from_secs(1)));
    // Execution phase, non-DMA: RQM, DIO, NDM and CB.
    assert_eq!(rig.inb(MSR), 0xF0);
    let data: Vec<u8> = (0..512).map(|_| rig.inb(FIFO)).collect();
    assert_eq!(data[..2], (lba(0, 0, 18) as u16).to_le_bytes());
    // No TC without DMA: the command ends at EOT.
    assert!(rig.wait_irq(VirtualTime::from_secs(2)));
    assert_eq!(rig.results(), [0x40, 0x80, 0, 1, 0, 1, 2]);
}

#[test]
fn the_change_line_is_set_until_a_step_pulse() {
    let mut rig = Rig::new();
    rig.reset();
    assert_eq!(rig.inb(DIR) & 0x80, 0x80);
    rig.seek(1);
    assert_eq!(rig.inb(DIR) & 0x80, 0x00);
}

#[test]
fn diskette_sizes_name_their_formats() {
    let mut fdc = Fdc::new();
    for (bytes, drive) in [
        (163_840, DriveType::D360K),
        (368_640, DriveType::D360K),
        (737_280, DriveType::D720K),
        (1_228_800, DriveType::D1200K),
        (1_474_560, DriveType::D1440K),
        (2_949_120, DriveType::D2880K),
    ] {
        let disk = MemDisk::from_bytes(vec![0; bytes], 512);
        fdc.attach(1, Box::new(disk)).unwrap();
        assert_eq!(fdc.drive_type(1), drive, "{bytes}");
    }
    let odd = MemDisk::from_bytes(vec![0; 1_000_448], 512);
    let e = fdc.attach(0, Box::new(odd)).unwrap_err();
    assert!(e.to_string().contains("1.44M = 1474560"), "{e}");
    assert!(fdc
        .attach(2, Box::new(diskette_144()))
        .unwrap_err()
        .to_string()
        .contains("no floppy drive 2"));
}

#[test]
fn dma_registers_flip_flop_autoinit_and_page_wrap() {
    let mut dma = Dma8237::new();
    let mut mem = vec![0u8; 0x30000];
    let w =
        |d: &mut Dma8237, p: u16, v: u8| d.io_write(VirtualTime::ZERO, p, IoSize::Byte, v as u32);
    let r = |d: &mut Dma8237, p: u16| d.io_read(VirtualTime::ZERO, p, IoSize::Byte) as u8;
    // Channel 1 (ports 2/3, page 0x83): address FFF0 in page 1, 32 bytes,
    // auto-initialize, write to memory.
    w(&mut dma, 0x0C, 0);
    w(&mut dma, 0x02, 0xF0);
    w(&mut dma, 0x02, 0xFF);
    w(&mut dma, 0x03, 31);
    w(&mut dma, 0x03, 0);
    w(&mut dma, 0x83, 0x01);
    w(&mut dma, 0x0B, 0x55);
    w(&mut dma, 0x0C, 0);
    assert_eq!((r(&mut dma, 0x02), r(&mut dma, 0x02)), (0xF0, 0xFF));
    assert_eq!(r(&mut dma, 0x83), 0x01);
    // Masked after reset; unmasking channel 1 alone is not enough while
    // the cascade channel 4 is masked.
    assert!(!dma.ready(1));
    w(&mut dma, 0x0A, 0x01);
    assert!(!dma.ready(1));
    w(&mut dma, 0xD4, 0x00);
    assert!(dma.ready(1));

    struct Source(u8, usize);
    impl oxbox_devices::dma8237::DmaDevice for Source {
        fn dreq(&self) -> bool {
            self.1 > 0
        }
        fn dma_read(&mut self, buf: &mut [u8], _tc: bool) -> usize {
            let n = buf.len().min(self.1);
            for b in &mut buf[..n] {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            self.1 -= n;
            n
        }
        fn dma_write(&mut self, _data: &[u8], _tc: bool) -> usize {
            0
        }
    }
    let mut dev = Source(0, 40);
    dma.transfer(1, &mut dev, &mut mem);
    // The address wrapped inside page 1: 16 bytes at 1FFF0, 16 at 10000,
    // then auto-initialize started over at 1FFF0 for the last 8.
    assert_eq!(mem[0x1FFF0], 33);
    assert_eq!(mem[0x1FFF7], 40);
    assert_eq!(mem[0x1FFF8], 9);
    assert_eq!(mem[0x10000], 17);
    assert_eq!(mem[0x2_0000], 0, "the page register does not count");
    assert_eq!(r(&mut dma, 0x08) & 0x02, 0x02, "terminal count");
    assert_eq!(r(&mut dma, 0x08) & 0x02, 0x00, "cleared by the read");
    assert!(dma.ready(1), "auto-initialize keeps the channel unmasked");
    // Master clear masks everything.
    w(&mut dma, 0x0D, 0);
    assert!(!dma.ready(1));
    assert_eq!(r(&mut dma, 0x0F) & 0x0F, 0x0F);
}

#[test]
fn random_port_writes_never_panic() {
    let mut rig = Rig::new();
    let mut x = 0x1234_5678u32;
    for i in 0..200_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = [
            0x3F0, 0x3F1, 0x3F2, 0x3F3, 0x3F4, 0x3F5, 0x3F7, 0x04, 0x05, 0x0A, 0x0B, 0x81,
        ][(x % 12) as usize];
        if i % 3 == 0 {
            rig.inb(port);
        } else {
            rig.outb(port, (x >> 8) as u8);
        }
        if i % 97 == 0 {
            let t = rig.now.add_nanos((x >> 12) as u64 * 1000);
            rig.wait_irq(t);
        }
    }
}

#[test]
fn state_round_trips_through_serde_and_reattach() {
    let mut rig = Rig::new();
    rig.reset();
    rig.seek(7);
    rig.command(&[0x13, 0x00, 0x58, 0x05]);
    let json = serde_json::to_string(&rig.fdc).unwrap();
    let mut back: Fdc = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert!(back.medium(0).is_none(), "images are not saved");
    let small = MemDisk::from_bytes(vec![0; 737_280], 512);
    assert!(back.reattach(0, Box::new(small)).is_err());
    back.reattach(0, Box::new(diskette_144())).unwrap();
    assert_eq!(back.medium(0).map(|m| m.sectors()), Some(2880));
    rig.fdc = back;
    rig.dma2(0x46, 0x10000, 512);
    assert_eq!(rig.read(7, 0, 3, 18), [0x00, 0, 0, 7, 0, 4, 2]);
    assert_eq!(
        rig.mem[0x10000..0x10002],
        (lba(7, 0, 3) as u16).to_le_bytes()
    );
}

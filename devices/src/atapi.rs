//! The command set of an ATAPI CD-ROM drive: the SCSI/MMC commands that
//! arrive as 12-byte packets through the ATA PACKET command.
//!
//! References: INCITS (T10) "SCSI Primary Commands - 2" (SPC-2) for
//! INQUIRY, REQUEST SENSE and the fixed sense data format (§7.20.2), TEST
//! UNIT READY, MODE SENSE(6/10), PREVENT ALLOW MEDIUM REMOVAL; T10
//! "Multimedia Commands - 3" (MMC-3) for READ(10)/READ(12), READ
//! CAPACITY, READ TOC/PMA/ATIP (formats 0 and 1, LBA and MSF addressing),
//! GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, START STOP UNIT, the
//! CD capabilities mode page 2Ah; SFF-8020i for the ATAPI flavour (no
//! block descriptors in mode data, the old READ TOC format field in byte
//! 9).
//!
//! The transport (the PACKET command, the byte count in the cylinder
//! registers, the interrupt reason in the sector count register, PIO or DMA)
//! is in [`crate::ide`]; this module decides what a packet does. A command
//! either succeeds with or without data, asks for sectors of the medium
//! (the reads, which the transport streams), or ends in CHECK CONDITION
//! with sense data that REQUEST SENSE returns afterwards.
//!
//! The medium is modelled as one data track (a single-session mode 1
//! CD-ROM) of 2048-byte sectors. The tray opens on START STOP UNIT with
//! LoEj (unless PREVENT MEDIUM REMOVAL is in force) and closes again on a
//! load; a medium that appears (inserted by the machine, or the tray
//! closed over one) raises UNIT ATTENTION / "medium may have changed" for
//! the next command, as real drives do.

use serde::{Deserialize, Serialize};

// Sense keys (SPC-2 table 107).
pub const NO_SENSE: u8 = 0x00;
pub const NOT_READY: u8 = 0x02;
pub const MEDIUM_ERROR: u8 = 0x03;
pub const ILLEGAL_REQUEST: u8 = 0x05;
pub const UNIT_ATTENTION: u8 = 0x06;

// Additional sense codes.
pub const ASC_INVALID_OPCODE: u8 = 0x20;
pub const ASC_LBA_OUT_OF_RANGE: u8 = 0x21;
pub const ASC_INVALID_FIELD_IN_CDB: u8 = 0x24;
pub const ASC_MEDIUM_MAY_HAVE_CHANGED: u8 = 0x28;
pub const ASC_SAVING_NOT_SUPPORTED: u8 = 0x39;
pub const ASC_MEDIUM_NOT_PRESENT: u8 = 0x3A;
pub const ASC_MEDIUM_REMOVAL_PREVENTED: u8 = 0x53;
pub const ASC_UNRECOVERED_READ_ERROR: u8 = 0x11;

// Operation codes.
pub const TEST_UNIT_READY: u8 = 0x00;
pub const REQUEST_SENSE: u8 = 0x03;
pub const INQUIRY: u8 = 0x12;
pub const MODE_SENSE_6: u8 = 0x1A;
pub const START_STOP_UNIT: u8 = 0x1B;
pub const PREVENT_ALLOW: u8 = 0x1E;
pub const READ_CAPACITY: u8 = 0x25;
pub const READ_10: u8 = 0x28;
pub const SEEK_10: u8 = 0x2B;
pub const READ_TOC: u8 = 0x43;
pub const GET_CONFIGURATION: u8 = 0x46;
pub const GET_EVENT_STATUS: u8 = 0x4A;
pub const MODE_SENSE_10: u8 = 0x5A;
pub const READ_12: u8 = 0xA8;
pub const SET_CD_SPEED: u8 = 0xBB;

/// The sense data of the last command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    pub const fn new(key: u8, asc: u8, ascq: u8) -> Sense {
        Sense { key, asc, ascq }
    }

    /// Fixed-format sense data (SPC-2 §7.20.2), 18 bytes.
    pub fn fixed_format(self) -> [u8; 18] {
        let mut d = [0u8; 18];
        d[0] = 0x70; // current error, fixed format
        d[2] = self.key & 0x0F;
        d[7] = 10; // additional sense length
        d[12] = self.asc;
        d[13] = self.ascq;
        d
    }
}

/// What a packet asks the transport to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// GOOD status, no data.
    Good,
    /// GOOD status after sending these bytes to the host (already cut to
    /// the command's allocation length).
    DataIn(Vec<u8>),
    /// GOOD status after sending `count` sectors of the medium from `lba`
    /// (checked to be on the medium; `count` may be 0).
    Read { lba: u64, count: u64 },
    /// CHECK CONDITION; the sense data is set.
    Check,
}

/// The drive's command-set state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Atapi {
    sense: Sense,
    tray_open: bool,
    /// PREVENT ALLOW MEDIUM REMOVAL.
    locked: bool,
    /// A medium appeared since the last command: UNIT ATTENTION pending.
    unit_attention: bool,
    /// A new-medium event for GET EVENT STATUS NOTIFICATION.
    media_event: bool,
}

/// The medium as the command set sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Medium {
    /// In 2048-byte sectors.
    pub sectors: u64,
}

impl Atapi {
    pub fn new() -> Atapi {
        Atapi::default()
    }

    pub fn sense(&self) -> Sense {
        self.sense
    }

    pub fn tray_open(&self) -> bool {
        self.tray_open
    }

    pub fn locked(&self) -> bool {
        self.locked
    }

    /// The machine put a medium in (or swapped it): the guest hears of it
    /// through UNIT ATTENTION and a media event.
    pub fn medium_changed(&mut self) {
        self.tray_open = false;
        self.unit_attention = true;
        self.media_event = true;
    }

    /// A reset (SRST, DEVICE RESET): the sense data clears; the tray, the
    /// lock and a pending UNIT ATTENTION stay.
    pub fn reset(&mut self) {
        self.sense = Sense::default();
    }

    /// The read failed on the host: MEDIUM ERROR, unrecovered read error.
    pub fn read_failed(&mut self) -> Outcome {
        self.check(MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR, 0)
    }

    fn check(&mut self, key: u8, asc: u8, ascq: u8) -> Outcome {
        self.sense = Sense::new(key, asc, ascq);
        Outcome::Check
    }

    fn illegal_field(&mut self) -> Outcome {
        self.check(ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0)
    }

    /// The medium, if one is in and the tray is closed.
    fn present(&self, medium: Option<Medium>) -> Option<Medium> {
        if self.tray_open {
            None
        } else {
            medium
        }
    }

    fn not_ready(&mut self) -> Outcome {
        let ascq = if self.tray_open { 2 } else { 1 };
        self.check(NOT_READY, ASC_MEDIUM_NOT_PRESENT, ascq)
    }

    /// Execute one packet. `medium` is what is in the drive (whether or not
    /// the tray is closed over it).
    pub fn execute(&mut self, cdb: &[u8; 12], medium: Option<Medium>) -> Outcome {
        let op = cdb[0];
        if op == REQUEST_SENSE {
            let alloc = cdb[4] as usize;
            let data = self.sense.fixed_format();
            self.sense = Sense::default();
            return data_in(&data, alloc);
        }
        self.sense = Sense::default();
        // SPC-2 §5.6.5 / MMC: these report even while a UNIT ATTENTION is
        // pending, without clearing it.
        if self.unit_attention && !matches!(op, INQUIRY | GET_CONFIGURATION | GET_EVENT_STATUS) {
            self.unit_attention = false;
            return self.check(UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED, 0);
        }
        let present = self.present(medium);
        match op {
            TEST_UNIT_READY => match present {
                Some(_) => Outcome::Good,
                None => self.not_ready(),
            },
            INQUIRY => {
                if cdb[1] & 0x01 != 0 {
                    // No vital product data pages.
                    return self.illegal_field();
                }
                data_in(&inquiry_data(), be16(cdb, 3) as usize)
            }
            READ_CAPACITY => match present {
                Some(m) => {
                    let last = m.sectors.saturating_sub(1).min(u32::MAX as u64) as u32;
                    let mut d = [0u8; 8];
                    d[..4].copy_from_slice(&last.to_be_bytes());
                    d[4..].copy_from_slice(&2048u32.to_be_bytes());
                    Outcome::DataIn(d.to_vec())
                }
                None => self.not_ready(),
            },
            READ_10 | READ_12 => {
                let Some(m) = present else {
                    return self.not_ready();
                };
                let lba = be32(cdb, 2) as u64;
                let count = if op == READ_10 {
                    be16(cdb, 7) as u64
                } else {
                    be32(cdb, 6) as u64
                };
                if lba + count > m.sectors {
                    return self.check(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
                }
                Outcome::Read { lba, count }
            }
            SEEK_10 => {
                let Some(m) = present else {
                    return self.not_ready();
                };
                if be32(cdb, 2) as u64 >= m.sectors {
                    return self.check(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
                }
                Outcome::Good
            }
            READ_TOC => {
                let Some(m) = present else {
                    return self.not_ready();
                };
                let msf = cdb[1] & 0x02 != 0;
                let mut format = cdb[2] & 0x0F;
                if format == 0 {
                    // SFF-8020i put the format in the control byte.
                    format = cdb[9] >> 6;
                }
                let alloc = be16(cdb, 7) as usize;
                match read_toc(format, msf, cdb[6], m.sectors) {
                    Some(d) => data_in(&d, alloc),
                    None => self.illegal_field(),
                }
            }
            MODE_SENSE_6 | MODE_SENSE_10 => {
                let pc = cdb[2] >> 6;
                let page = cdb[2] & 0x3F;
                if pc == 3 {
                    return self.check(ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
                }
                let Some(pages) = mode_pages(page, pc == 1, self.locked) else {
                    return self.illegal_field();
                };
                let medium_type = match (present, self.tray_open) {
                    (Some(_), _) => 0x01,  // 120 mm CD-ROM, data only
                    (None, false) => 0x70, // door closed, no disc
                    (None, true) => 0x71,  // door open
                };
                if op == MODE_SENSE_10 {
                    let len = pages.len() + 6;
                    let mut d = vec![(len >> 8) as u8, len as u8, medium_type, 0, 0, 0, 0, 0];
                    d.extend_from_slice(&pages);
                    data_in(&d, be16(cdb, 7) as usize)
                } else {
                    let mut d = vec![(pages.len() + 3) as u8, medium_type, 0, 0];
                    d.extend_from_slice(&pages);
                    data_in(&d, cdb[4] as usize)
                }
            }
            START_STOP_UNIT => {
                let start = cdb[4] & 0x01 != 0;
                let load_eject = cdb[4] & 0x02 != 0;
                if load_eject {
                    if start {
                        if self.tray_open {
                            self.tray_open = false;
                            if medium.is_some() {
                                self.unit_attention = true;
                                self.media_event = true;
                            }
                        }
                    } else if self.locked {
                        return self.check(ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED, 2);
                    } else {
                        self.tray_open = true;
                    }
                }
                Outcome::Good
            }
            PREVENT_ALLOW => {
                self.locked = cdb[4] & 0x01 != 0;
                Outcome::Good
            }
            GET_CONFIGURATION => {
                let profile: u16 = if present.is_some() { 0x0008 } else { 0 };
                let start = be16(cdb, 2);
                let mut d = vec![0, 0, 0, 0, 0, 0, (profile >> 8) as u8, profile as u8];
                if start == 0 {
                    // Feature 0000h, the profile list: CD-ROM only,
                    // current when a disc is in.
                    d.extend_from_slice(&[0x00, 0x00, 0x03, 0x04, 0x00, 0x08]);
                    d.push(if present.is_some() { 0x01 } else { 0x00 });
                    d.push(0);
                }
                let len = (d.len() - 4) as u32;
                d[..4].copy_from_slice(&len.to_be_bytes());
                data_in(&d, be16(cdb, 7) as usize)
            }
            GET_EVENT_STATUS => {
                if cdb[1] & 0x01 == 0 {
                    // Only polled operation.
                    return self.illegal_field();
                }
                let classes = cdb[4];
                let d = if classes & 0x10 != 0 {
                    let code = if std::mem::take(&mut self.media_event) {
                        2 // new media
                    } else {
                        0
                    };
                    let status = (present.is_some() as u8) << 1 | self.tray_open as u8;
                    vec![0, 6, 0x04, 0x10, code, status, 0, 0]
                } else {
                    // No event of a requested class is supported.
                    vec![0, 2, 0x80, 0x10]
                };
                data_in(&d, be16(cdb, 7) as usize)
            }
            SET_CD_SPEED => Outcome::Good,
            _ => self.check(ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0),
        }
    }
}

fn be16(cdb: &[u8; 12], at: usize) -> u16 {
    u16::from_be_bytes([cdb[at], cdb[at + 1]])
}

fn be32(cdb: &[u8; 12], at: usize) -> u32 {
    u32::from_be_bytes([cdb[at], cdb[at + 1], cdb[at + 2], cdb[at + 3]])
}

/// Data cut to the allocation length (an allocation length of 0 sends
/// nothing, which is not an error).
fn data_in(data: &[u8], alloc: usize) -> Outcome {
    let n = data.len().min(alloc);
    if n == 0 {
        Outcome::Good
    } else {
        Outcome::DataIn(data[..n].to_vec())
    }
}

/// Standard INQUIRY data (SPC-2 §7.3.2), 36 bytes.
pub fn inquiry_data() -> [u8; 36] {
    let mut d = [0u8; 36];
    d[0] = 0x05; // CD/DVD device, connected
    d[1] = 0x80; // removable medium
    d[2] = 0x00; // no ANSI conformance claimed (ATAPI)
    d[3] = 0x21; // ATAPI version 2, response data format 1
    d[4] = 31; // additional length
    d[8..16].copy_from_slice(b"OXBOX   ");
    d[16..32].copy_from_slice(b"CD-ROM          ");
    d[32..36].copy_from_slice(b"1.0 ");
    d
}

/// An LBA as MMC's minute/second/frame address (with the 2-second
/// pre-gap: LBA 0 is 00:02:00), in the 4-byte form of a TOC entry.
pub fn msf(lba: u64) -> [u8; 4] {
    let f = lba + 150;
    let m = (f / (75 * 60)).min(255) as u8;
    [0, m, (f / 75 % 60) as u8, (f % 75) as u8]
}

fn toc_address(lba: u64, msf_form: bool) -> [u8; 4] {
    if msf_form {
        msf(lba)
    } else {
        (lba.min(u32::MAX as u64) as u32).to_be_bytes()
    }
}

/// READ TOC data for a one-track disc of `sectors`, or `None` for a
/// format or starting track the disc cannot answer.
fn read_toc(format: u8, msf_form: bool, start_track: u8, sectors: u64) -> Option<Vec<u8>> {
    let mut d = vec![0, 0, 1, 1]; // length, first and last track/session
    match format {
        0 => {
            if start_track > 1 && start_track != 0xAA {
                return None;
            }
            if start_track <= 1 {
                // Track 1: ADR 1 (Q position), control 4 (data track).
                d.extend_from_slice(&[0, 0x14, 1, 0]);
                d.extend_from_slice(&toc_address(0, msf_form));
            }
            d.extend_from_slice(&[0, 0x14, 0xAA, 0]);
            d.extend_from_slice(&toc_address(sectors, msf_form));
        }
        1 => {
            // Multi-session information: the first track of the last
            // session.
            d.extend_from_slice(&[0, 0x14, 1, 0]);
            d.extend_from_slice(&toc_address(0, msf_form));
        }
        _ => return None,
    }
    let len = (d.len() - 2) as u16;
    d[..2].copy_from_slice(&len.to_be_bytes());
    Some(d)
}

/// Mode pages (no header), or `None` for a page the drive does not have.
/// `changeable`: the mask of changeable bits, i.e. zeros (nothing is).
fn mode_pages(page: u8, changeable: bool, locked: bool) -> Option<Vec<u8>> {
    let error_recovery: &[u8] = &[0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0];
    let cd_parameters: &[u8] = &[0x0D, 0x06, 0, 0, 0, 60, 0, 75];
    // 4.2x (706 kB/s) read speed; tray loading, lock and eject supported.
    let capabilities: Vec<u8> = vec![
        0x2A,
        0x12,
        0x00, // reads CD-ROM only
        0x00, // writes nothing
        0x70, // mode 2 form 1 and 2, multi-session
        0x00,
        0x29 | (locked as u8) << 1, // tray, eject, lock (and its state)
        0x00,
        0x02,
        0xC2, // maximum read speed
        0x01,
        0x00, // volume levels
        0x02,
        0x00, // buffer size, KiB
        0x02,
        0xC2, // current read speed
        0,
        0,
        0,
        0,
    ];
    let mut out = Vec::new();
    let all = page == 0x3F;
    if page == 0x01 || all {
        out.extend_from_slice(error_recovery);
    }
    if page == 0x0D || all {
        out.extend_from_slice(cd_parameters);
    }
    if page == 0x2A || all {
        out.extend_from_slice(&capabilities);
    }
    if out.is_empty() {
        return None;
    }
    if changeable {
        // Keep each page's code and length, zero its parameters.
        let mut i = 0;
        while i + 1 < out.len() {
            let len = out[i + 1] as usize;
            out[i + 2..i + 2 + len].fill(0);
            i += 2 + len;
        }
    }
    Some(out)
}

/// IDENTIFY PACKET DEVICE data (ATA/ATAPI-6 §8.17, table 24), as words.
/// `dma_mode`: the selected multiword (bits 8-10) and Ultra DMA (bits
/// 8-13 of word 88) modes, as SET FEATURES left them.
pub fn identify_packet_words(serial: &str, mwdma_selected: u16, udma_selected: u16) -> [u16; 256] {
    let mut w = [0u16; 256];
    // ATAPI device, CD-ROM, removable, accelerated DRQ (50 µs), 12-byte
    // packets.
    w[0] = 0x85C0;
    crate::ide::put_string(&mut w[10..20], serial);
    crate::ide::put_string(&mut w[23..27], "1.0");
    crate::ide::put_string(&mut w[27..47], "OXBOX CD-ROM");
    w[49] = 0x0B00; // IORDY, LBA, DMA
    w[53] = 0x0006; // words 64-70 and 88 valid
    w[63] = 0x0007 | mwdma_selected;
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = 120;
    w[66] = 120;
    w[67] = 120;
    w[68] = 120;
    w[71] = 30;
    w[72] = 30;
    w[80] = 0x007E; // ATA/ATAPI-1 to -6
    w[82] = 0x4218; // NOP, DEVICE RESET, PACKET, power management
    w[83] = 0x4000;
    w[84] = 0x4000;
    w[85] = 0x4218;
    w[87] = 0x4000;
    w[88] = 0x003F | udma_selected;
    w[93] = 0x6001;
    crate::ide::put_checksum(&mut w);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISC: Option<Medium> = Some(Medium { sectors: 1000 });

    fn cdb(bytes: &[u8]) -> [u8; 12] {
        let mut c = [0; 12];
        c[..bytes.len()].copy_from_slice(bytes);
        c
    }

    #[test]
    fn no_medium_is_not_ready_with_medium_not_present() {
        let mut a = Atapi::new();
        assert_eq!(a.execute(&cdb(&[TEST_UNIT_READY]), None), Outcome::Check);
        assert_eq!(a.sense(), Sense::new(NOT_READY, ASC_MEDIUM_NOT_PRESENT, 1));
        let Outcome::DataIn(d) = a.execute(&cdb(&[REQUEST_SENSE, 0, 0, 0, 18]), None) else {
            panic!()
        };
        assert_eq!((d[0], d[2], d[12], d[13]), (0x70, 2, 0x3A, 1));
        // Reading the sense cleared it.
        assert_eq!(a.sense(), Sense::default());
    }

    #[test]
    fn unit_attention_after_a_medium_change_reported_once() {
        let mut a = Atapi::new();
        a.medium_changed();
        // INQUIRY goes through.
        assert!(matches!(
            a.execute(&cdb(&[INQUIRY, 0, 0, 0, 36]), DISC),
            Outcome::DataIn(_)
        ));
        assert_eq!(a.execute(&cdb(&[TEST_UNIT_READY]), DISC), Outcome::Check);
        assert_eq!(a.sense().key, UNIT_ATTENTION);
        assert_eq!(a.execute(&cdb(&[TEST_UNIT_READY]), DISC), Outcome::Good);
    }

    #[test]
    fn read_toc_lba_and_msf() {
        let mut a = Atapi::new();
        let Outcome::DataIn(d) = a.execute(&cdb(&[READ_TOC, 0, 0, 0, 0, 0, 0, 0, 100]), DISC)
        else {
            panic!()
        };
        assert_eq!(d.len(), 20);
        assert_eq!(&d[..4], &[0, 18, 1, 1]);
        assert_eq!(&d[12..20], &[0, 0x14, 0xAA, 0, 0, 0, 0x03, 0xE8]);
        let Outcome::DataIn(d) = a.execute(&cdb(&[READ_TOC, 2, 0, 0, 0, 0, 0, 0, 100]), DISC)
        else {
            panic!()
        };
        assert_eq!(&d[8..12], &[0, 0, 2, 0]); // 00:02:00
        assert_eq!(&d[16..20], &msf(1000)); // 1150 frames = 00:15:25
        assert_eq!(msf(1000), [0, 0, 15, 25]);
        assert_eq!(
            a.execute(&cdb(&[READ_TOC, 0, 5, 0, 0, 0, 0, 0, 100]), DISC),
            Outcome::Check
        );
    }

    #[test]
    fn eject_honours_prevent_medium_removal() {
        let mut a = Atapi::new();
        a.execute(&cdb(&[PREVENT_ALLOW, 0, 0, 0, 1]), DISC);
        assert_eq!(
            a.execute(&cdb(&[START_STOP_UNIT, 0, 0, 0, 2]), DISC),
            Outcome::Check
        );
        a.execute(&cdb(&[PREVENT_ALLOW, 0, 0, 0, 0]), DISC);
        assert_eq!(
            a.execute(&cdb(&[START_STOP_UNIT, 0, 0, 0, 2]), DISC),
            Outcome::Good
        );
        assert!(a.tray_open());
        a.execute(&cdb(&[TEST_UNIT_READY]), DISC);
        assert_eq!(a.sense(), Sense::new(NOT_READY, ASC_MEDIUM_NOT_PRESENT, 2));
        a.execute(&cdb(&[START_STOP_UNIT, 0, 0, 0, 3]), DISC);
        assert_eq!(a.execute(&cdb(&[TEST_UNIT_READY]), DISC), Outcome::Check);
        assert_eq!(a.sense().key, UNIT_ATTENTION);
    }

    #[test]
    fn mode_sense_pages() {
        let mut a = Atapi::new();
        let Outcome::DataIn(d) = a.execute(&cdb(&[MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 1, 0]), DISC)
        else {
            panic!()
        };
        assert_eq!(d.len(), 8 + 20);
        assert_eq!(u16::from_be_bytes([d[0], d[1]]) as usize, d.len() - 2);
        assert_eq!(&d[8..10], &[0x2A, 0x12]);
        let Outcome::DataIn(all) =
            a.execute(&cdb(&[MODE_SENSE_10, 0, 0x3F, 0, 0, 0, 0, 1, 0]), DISC)
        else {
            panic!()
        };
        assert_eq!(all.len(), 8 + 8 + 8 + 20);
        assert_eq!(
            a.execute(&cdb(&[MODE_SENSE_10, 0, 0x05, 0, 0, 0, 0, 1, 0]), DISC),
            Outcome::Check
        );
        assert_eq!(a.sense().asc, ASC_INVALID_FIELD_IN_CDB);
        assert_eq!(
            a.execute(&cdb(&[MODE_SENSE_10, 0, 0xEA, 0, 0, 0, 0, 1, 0]), DISC),
            Outcome::Check
        );
        assert_eq!(a.sense().asc, ASC_SAVING_NOT_SUPPORTED);
    }

    #[test]
    fn reads_are_range_checked_and_unknown_opcodes_refused() {
        let mut a = Atapi::new();
        assert_eq!(
            a.execute(&cdb(&[READ_10, 0, 0, 0, 0x03, 0xE7, 0, 0, 1]), DISC),
            Outcome::Read { lba: 999, count: 1 }
        );
        assert_eq!(
            a.execute(&cdb(&[READ_12, 0, 0, 0, 0x03, 0xE7, 0, 0, 0, 2]), DISC),
            Outcome::Check
        );
        assert_eq!(a.sense().asc, ASC_LBA_OUT_OF_RANGE);
        assert_eq!(a.execute(&cdb(&[0xFF]), DISC), Outcome::Check);
        assert_eq!(
            a.sense(),
            Sense::new(ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0)
        );
    }
}

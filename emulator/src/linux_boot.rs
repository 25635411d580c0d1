//! Direct Linux boot (`--kernel`, `--initrd`, `--append`, as QEMU's
//! `-kernel`): the x86 Linux boot protocol, version 2.02 and later
//! (Documentation/arch/x86/boot.rst in the kernel source, "THE LINUX/x86
//! BOOT PROTOCOL").
//!
//! oxbox plays the boot loader's part: it copies the kernel's real-mode
//! setup code and its protected-mode part into RAM, puts the initrd as
//! high as the kernel allows, writes the command line and fills in the
//! setup header's loader fields. The kernel is then entered through its
//! own real-mode setup code, which runs on the BIOS (E820, EDD, video);
//! the hand-over is a small option ROM (bios/linuxboot.asm) that hooks
//! INT 19h, so the BIOS completes its POST first and boots the kernel
//! instead of a disk.

use std::fmt;

use crate::memory::Memory;

/// Where the real-mode setup code goes ("X" in boot.rst's sample layout
/// for a bzImage with protocol 2.02 or later): the code from X, its stack
/// and heap up to X + HEAP_END, the command line from there.
pub const SETUP_BASE: u32 = 0x1_0000;
/// The end of the setup code's heap, relative to [`SETUP_BASE`]; also its
/// initial stack pointer (boot.rst: heap_end = 0xE000 when the kernel is
/// loaded high).
const HEAP_END: u16 = 0xE000;
/// The command line, just above the heap.
const CMDLINE_ADDR: u32 = SETUP_BASE + HEAP_END as u32;
/// A bzImage's protected-mode part loads at 1 MiB.
const KERNEL_ADDR: u32 = 0x10_0000;
/// RAM left free above the initrd for the firmware's tables.
const TOP_RESERVE: u32 = 1 << 20;
/// The option ROM's parameter block: setup segment, then stack pointer
/// (bios/linuxboot.asm).
const ROM_PARAMS: usize = 6;

/// Offsets in the setup header (boot.rst, "The real-mode kernel header").
mod hdr {
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const VID_MODE: usize = 0x1FA;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const INIT_SIZE: usize = 0x260;
    /// loadflags: the protected-mode code loads at 1 MiB (a bzImage).
    pub const LOADED_HIGH: u8 = 0x01;
    /// loadflags: heap_end_ptr is valid.
    pub const CAN_USE_HEAP: u8 = 0x80;
}

/// What can be wrong with a kernel image or the memory it needs.
#[derive(Debug, PartialEq, Eq)]
pub enum LinuxBootError {
    /// Not a Linux x86 kernel image (no setup header).
    NotAKernel(&'static str),
    /// A boot protocol older than 2.02, or a zImage.
    Unsupported(String),
    CmdlineTooLong {
        len: usize,
        max: usize,
    },
    /// The kernel and initrd do not fit in RAM.
    TooLittleRam {
        needed: u64,
        ram: u64,
    },
}

impl fmt::Display for LinuxBootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxBootError::NotAKernel(why) => write!(f, "not a Linux x86 kernel image: {why}"),
            LinuxBootError::Unsupported(why) => write!(f, "unsupported kernel image: {why}"),
            LinuxBootError::CmdlineTooLong { len, max } => write!(
                f,
                "the kernel command line is {len} bytes; this kernel accepts at most {max}"
            ),
            LinuxBootError::TooLittleRam { needed, ram } => write!(
                f,
                "the kernel and initrd need about {} MiB of RAM; the machine has {} MiB (use -m)",
                needed.div_ceil(1 << 20),
                ram >> 20
            ),
        }
    }
}

impl std::error::Error for LinuxBootError {}

/// A kernel, initrd and command line to boot.
#[derive(Clone, Debug)]
pub struct LinuxImages {
    pub kernel: Vec<u8>,
    pub initrd: Option<Vec<u8>>,
    pub cmdline: String,
}

/// Where [`LinuxImages::load`] put things.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The real-mode segment of the setup code (DS = ES = SS = this,
    /// CS = this + 0x20).
    pub setup_segment: u16,
    /// SP at entry.
    pub stack_pointer: u16,
    /// The initrd's physical address and length.
    pub initrd: Option<(u32, u32)>,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl LinuxImages {
    /// Check the kernel image's setup header and the command line without
    /// touching memory.
    pub fn validate(&self) -> Result<(), LinuxBootError> {
        self.layout(u64::MAX).map(|_| ())
    }

    /// The setup header checks and the layout: (setup length, initrd
    /// address).
    fn layout(&self, ram: u64) -> Result<(usize, Option<u32>), LinuxBootError> {
        let k = &self.kernel;
        if k.len() < 0x400 {
            return Err(LinuxBootError::NotAKernel("shorter than its setup header"));
        }
        if u16_at(k, hdr::BOOT_FLAG) != 0xAA55 || &k[hdr::HEADER..hdr::HEADER + 4] != b"HdrS" {
            return Err(LinuxBootError::NotAKernel("no \"HdrS\" setup header"));
        }
        let version = u16_at(k, hdr::VERSION);
        if version < 0x0202 {
            return Err(LinuxBootError::Unsupported(format!(
                "boot protocol {}.{:02}; oxbox needs 2.02 or later",
                version >> 8,
                version & 0xFF
            )));
        }
        if k[hdr::LOADFLAGS] & hdr::LOADED_HIGH == 0 {
            return Err(LinuxBootError::Unsupported(
                "a zImage (loaded low); oxbox boots bzImages".to_string(),
            ));
        }
        // setup_sects = 0 means 4 (boot.rst).
        let sects = match k[hdr::SETUP_SECTS] {
            0 => 4,
            n => n as usize,
        };
        let setup_len = (sects + 1) * 512;
        if setup_len >= k.len() {
            return Err(LinuxBootError::NotAKernel(
                "no protected-mode code after the setup code",
            ));
        }
        let cmdline_max = if version >= 0x0206 {
            u32_at(k, hdr::CMDLINE_SIZE) as usize
        } else {
            255
        };
        if self.cmdline.len() > cmdline_max {
            return Err(LinuxBootError::CmdlineTooLong {
                len: self.cmdline.len(),
                max: cmdline_max,
            });
        }
        // The kernel needs init_size bytes from its load address (2.10+:
        // the decompressor's buffer); older kernels about 4 × the image.
        let payload = (k.len() - setup_len) as u64;
        let init_size = if version >= 0x020A {
            (u32_at(k, hdr::INIT_SIZE) as u64).max(payload)
        } else {
            payload * 4
        };
        let kernel_end = KERNEL_ADDR as u64 + init_size;
        let Some(initrd) = &self.initrd else {
            if kernel_end > ram {
                return Err(LinuxBootError::TooLittleRam {
                    needed: kernel_end,
                    ram,
                });
            }
            return Ok((setup_len, None));
        };
        // As high as the kernel allows, below the RAM the firmware keeps.
        let addr_max = if version >= 0x0203 {
            u32_at(k, hdr::INITRD_ADDR_MAX) as u64
        } else {
            0x37FF_FFFF
        };
        let top = (addr_max + 1).min(ram.saturating_sub(TOP_RESERVE as u64));
        let size = initrd.len() as u64;
        let start = top.saturating_sub(size) & !0xFFF;
        if size > top || start < kernel_end {
            return Err(LinuxBootError::TooLittleRam {
                needed: kernel_end + size + TOP_RESERVE as u64,
                ram,
            });
        }
        Ok((setup_len, Some(start as u32)))
    }

    /// Copy the kernel, initrd and command line into RAM and fill in the
    /// setup header's loader fields.
    pub fn load(&self, mem: &mut Memory) -> Result<Placement, LinuxBootError> {
        let (setup_len, initrd_at) = self.layout(mem.size() as u64)?;
        let mut setup = self.kernel[..setup_len].to_vec();
        // An undefined boot loader (boot.rst: 0xFF), the heap usable.
        setup[hdr::TYPE_OF_LOADER] = 0xFF;
        setup[hdr::LOADFLAGS] |= hdr::CAN_USE_HEAP;
        setup[hdr::HEAP_END_PTR..hdr::HEAP_END_PTR + 2]
            .copy_from_slice(&(HEAP_END - 0x200).to_le_bytes());
        setup[hdr::CMD_LINE_PTR..hdr::CMD_LINE_PTR + 4]
            .copy_from_slice(&CMDLINE_ADDR.to_le_bytes());
        // "normal" video mode: the setup code does not ask.
        setup[hdr::VID_MODE..hdr::VID_MODE + 2].copy_from_slice(&0xFFFFu16.to_le_bytes());
        let initrd = match (&self.initrd, initrd_at) {
            (Some(data), Some(at)) => {
                setup[hdr::RAMDISK_IMAGE..hdr::RAMDISK_IMAGE + 4]
                    .copy_from_slice(&at.to_le_bytes());
                setup[hdr::RAMDISK_SIZE..hdr::RAMDISK_SIZE + 4]
                    .copy_from_slice(&(data.len() as u32).to_le_bytes());
                mem.load(at, data);
                Some((at, data.len() as u32))
            }
            _ => None,
        };
        mem.load(SETUP_BASE, &setup);
        mem.load(KERNEL_ADDR, &self.kernel[setup_len..]);
        let mut cmdline = self.cmdline.as_bytes().to_vec();
        cmdline.push(0);
        mem.load(CMDLINE_ADDR, &cmdline);
        Ok(Placement {
            setup_segment: (SETUP_BASE >> 4) as u16,
            stack_pointer: HEAP_END,
            initrd,
        })
    }
}

/// The direct-boot option ROM (bios/linuxboot.asm) with its parameter
/// block filled in for `placement` and its checksum byte set.
pub fn option_rom(template: &[u8], placement: &Placement) -> Vec<u8> {
    let mut rom = template.to_vec();
    rom[ROM_PARAMS..ROM_PARAMS + 2].copy_from_slice(&placement.setup_segment.to_le_bytes());
    rom[ROM_PARAMS + 2..ROM_PARAMS + 4].copy_from_slice(&placement.stack_pointer.to_le_bytes());
    let last = rom.len() - 1;
    rom[last] = 0;
    let sum = rom.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    rom[last] = sum.wrapping_neg();
    rom
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal bzImage: a setup header of protocol `version` with
    /// `sects` setup sectors, then `payload` bytes of "kernel".
    fn image(version: u16, sects: u8, payload: usize) -> Vec<u8> {
        let mut k = vec![0u8; (sects as usize + 1) * 512 + payload];
        k[hdr::SETUP_SECTS] = sects;
        k[hdr::BOOT_FLAG..hdr::BOOT_FLAG + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
        k[hdr::HEADER..hdr::HEADER + 4].copy_from_slice(b"HdrS");
        k[hdr::VERSION..hdr::VERSION + 2].copy_from_slice(&version.to_le_bytes());
        k[hdr::LOADFLAGS] = hdr::LOADED_HIGH;
        k[hdr::INITRD_ADDR_MAX..hdr::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
        k[hdr::CMDLINE_SIZE..hdr::CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        for (i, b) in k[(sects as usize + 1) * 512..].iter_mut().enumerate() {
            *b = i as u8 ^ 0x5A;
        }
        k
    }

    fn read32(mem: &Memory, at: u32) -> u32 {
        mem.read_le(at, 4)
    }

    #[test]
    fn a_bzimage_is_laid_out_as_the_boot_protocol_describes() {
        let images = LinuxImages {
            kernel: image(0x020F, 27, 0x4000),
            initrd: Some(vec![0xC3; 5000]),
            cmdline: "console=ttyS0".to_string(),
        };
        let mut mem = Memory::new(64 << 20);
        let p = images.load(&mut mem).unwrap();
        assert_eq!(p.setup_segment, 0x1000);
        assert_eq!(p.stack_pointer, 0xE000);
        // The setup code at 0x10000 with the loader fields filled in.
        let setup = 0x10000;
        assert_eq!(mem.read_u8(setup + hdr::TYPE_OF_LOADER as u32), 0xFF);
        assert_eq!(
            mem.read_u8(setup + hdr::LOADFLAGS as u32),
            hdr::LOADED_HIGH | hdr::CAN_USE_HEAP
        );
        assert_eq!(mem.read_le(setup + hdr::HEAP_END_PTR as u32, 2), 0xDE00);
        assert_eq!(read32(&mem, setup + hdr::CMD_LINE_PTR as u32), 0x1E000);
        // The protected-mode part at 1 MiB: its first byte is payload byte 0.
        assert_eq!(mem.read_u8(0x100000), 0x5A);
        assert_eq!(mem.read_u8(0x100001), 0x5B);
        // The command line, NUL-terminated.
        let line: Vec<u8> = (0..14).map(|i| mem.read_u8(0x1E000 + i)).collect();
        assert_eq!(&line, b"console=ttyS0\0");
        // The initrd page-aligned, ending at least 1 MiB below the top.
        let (at, len) = p.initrd.unwrap();
        assert_eq!(len, 5000);
        assert_eq!(at % 4096, 0);
        assert!(
            at + len <= (63 << 20) && at + len + 4096 > (63 << 20),
            "{at:#x}"
        );
        assert_eq!(read32(&mem, setup + hdr::RAMDISK_IMAGE as u32), at);
        assert_eq!(read32(&mem, setup + hdr::RAMDISK_SIZE as u32), 5000);
        assert_eq!(mem.read_u8(at), 0xC3);
    }

    #[test]
    fn the_initrd_stays_below_initrd_addr_max() {
        let mut kernel = image(0x020F, 4, 0x1000);
        kernel[hdr::INITRD_ADDR_MAX..hdr::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
        let images = LinuxImages {
            kernel,
            initrd: Some(vec![1; 0x3000]),
            cmdline: String::new(),
        };
        let mut mem = Memory::new(64 << 20);
        let (at, _) = images.load(&mut mem).unwrap().initrd.unwrap();
        assert_eq!(at, 0x100_0000 - 0x3000);
    }

    #[test]
    fn bad_images_and_arguments_are_refused_with_a_reason() {
        let refuse = |kernel: Vec<u8>, cmdline: &str, ram: usize| {
            LinuxImages {
                kernel,
                initrd: Some(vec![0; 4 << 20]),
                cmdline: cmdline.to_string(),
            }
            .load(&mut Memory::new(ram))
            .unwrap_err()
        };
        assert!(matches!(
            refuse(vec![0; 100], "", 64 << 20),
            LinuxBootError::NotAKernel(_)
        ));
        assert!(matches!(
            refuse(vec![0; 8192], "", 64 << 20),
            LinuxBootError::NotAKernel(_)
        ));
        assert!(matches!(
            refuse(image(0x0201, 4, 0x1000), "", 64 << 20),
            LinuxBootError::Unsupported(_)
        ));
        let mut zimage = image(0x020F, 4, 0x1000);
        zimage[hdr::LOADFLAGS] = 0;
        assert!(matches!(
            refuse(zimage, "", 64 << 20),
            LinuxBootError::Unsupported(_)
        ));
        assert_eq!(
            refuse(image(0x020F, 4, 0x1000), &"x".repeat(3000), 64 << 20),
            LinuxBootError::CmdlineTooLong {
                len: 3000,
                max: 2047
            }
        );
        assert!(matches!(
            refuse(image(0x020F, 4, 0x1000), "", 4 << 20),
            LinuxBootError::TooLittleRam { .. }
        ));
    }

    #[test]
    fn the_option_rom_carries_the_entry_and_sums_to_zero() {
        let template = vec![0x55, 0xAA, 1, 0xEB, 0x05, 0x90, 0, 0, 0, 0, 0x1E, 0, 0];
        let rom = option_rom(
            &template,
            &Placement {
                setup_segment: 0x1000,
                stack_pointer: 0xE000,
                initrd: None,
            },
        );
        assert_eq!(&rom[6..10], &[0x00, 0x10, 0x00, 0xE0]);
        assert_eq!(rom.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
    }
}

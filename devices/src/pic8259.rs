//! The AT's two Intel 8259A programmable interrupt controllers, cascaded.
//!
//! Reference: Intel, "8259A Programmable Interrupt Controller (8259A/8259A-2)",
//! order no. 231468-003 (December 1988); section numbers below refer to its
//! "Detailed operational summary" and "Programming the 8259A" parts. The
//! edge/level control registers at 0x4D0/0x4D1 are those of the Intel
//! 82371AB (PIIX4) datasheet, order no. 290562-001, §4.3.6 "ELCR1/ELCR2".
//!
//! Board wiring (IBM PC/AT technical reference): the master is at
//! 0x20/0x21 and takes IRQ 0-7; the slave is at 0xA0/0xA1, takes IRQ 8-15
//! and drives the master's IR2. An ISA card's IRQ2 pin reaches the slave's
//! IR1 (IRQ 9), so IRQ 2 is not an input of [`DualPic`].
//!
//! Modelled: the initialization sequence (ICW1-ICW4, with and without ICW4,
//! single or cascaded), OCW1 masking, OCW2 EOI/rotation/priority commands,
//! OCW3 register reads, poll and special mask mode, automatic EOI with and
//! without rotation, the special fully nested mode, edge and level
//! triggering (ICW1's LTIM and the ELCR), and the default IR7 ("spurious")
//! vector. Not modelled: the MCS-80/85 CALL sequence (the x86 always gets a
//! vector: ICW4's µPM bit is accepted and ignored, as the x86 issues only
//! the two 8086-style INTA cycles), and buffered mode (no effect on a PC).

use serde::{Deserialize, Serialize};

use crate::bus::IoSize;
use crate::clock::VirtualTime;
use crate::device::{Device, IrqMask};

/// Master command/status port (A0 = 0).
pub const MASTER_CMD: u16 = 0x20;
/// Master data port: ICW2-4, OCW1 (A0 = 1).
pub const MASTER_DATA: u16 = 0x21;
pub const SLAVE_CMD: u16 = 0xA0;
pub const SLAVE_DATA: u16 = 0xA1;
/// Edge/level control for IRQ 0-7 (PIIX ELCR1).
pub const ELCR_MASTER: u16 = 0x4D0;
/// Edge/level control for IRQ 8-15 (PIIX ELCR2).
pub const ELCR_SLAVE: u16 = 0x4D1;

/// The master's input the slave's INT drives.
pub const CASCADE_IR: u8 = 2;

/// Where the chip is in the ICW sequence (datasheet figure 6, "Initialization
/// sequence").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum InitStep {
    /// Initialized (or never): writes with A0 = 1 go to the mask (OCW1).
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

// ICW1 bits.
const ICW1_IC4: u8 = 0x01;
const ICW1_SNGL: u8 = 0x02;
const ICW1_LTIM: u8 = 0x08;
const ICW1_INIT: u8 = 0x10;
// ICW4 bits.
const ICW4_AEOI: u8 = 0x02;
const ICW4_SFNM: u8 = 0x10;
// OCW3 bits.
const OCW3_RIS: u8 = 0x01;
const OCW3_RR: u8 = 0x02;
const OCW3_POLL: u8 = 0x04;
const OCW3_SELECT: u8 = 0x08;
const OCW3_SMM: u8 = 0x20;
const OCW3_ESMM: u8 = 0x40;

/// One 8259A.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pic8259 {
    /// Wired as the master (its cascade inputs lead to slaves).
    is_master: bool,
    /// Interrupt request register. For an edge-triggered input the bit is
    /// set by a rising edge and cleared by the INTA that services it; for a
    /// level-triggered input it follows the input. Either way it clears
    /// when the input falls: the datasheet ("Edge triggered mode", §"ICW1")
    /// requires a request to stay high until acknowledged, else the
    /// acknowledge gets the default IR7.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// The level on each IR pin.
    input: u8,
    /// Edge/level control bits for this chip's inputs (1 = level).
    elcr: u8,
    /// Which ELCR bits can be set.
    elcr_writable: u8,
    icw1: u8,
    /// ICW2 with the low three bits cleared: the vector of IR0.
    vector_base: u8,
    /// Master: a bit per input with a slave on it. Slave: its ID (0-7).
    icw3: u8,
    icw4: u8,
    init: InitStep,
    /// An initialization sequence has completed since power-on. Before
    /// that the chip's state is undefined; oxbox keeps INT low, so a guest
    /// that enables interrupts without programming the PICs is not sent to
    /// vector 0.
    initialized: bool,
    /// The input with the highest priority; 0 until rotated (§"Rotation").
    highest: u8,
    /// OCW3: status reads return the ISR instead of the IRR.
    read_isr: bool,
    /// OCW3 P: the next read is a poll.
    poll: bool,
    /// OCW3 SMM (§"Special mask mode").
    special_mask: bool,
    /// OCW2 "rotate in automatic EOI mode".
    rotate_on_aeoi: bool,
}

impl Pic8259 {
    /// A chip in its power-on state: not initialized, nothing masked, IR0
    /// at the highest priority, vector base 0.
    pub fn new(is_master: bool) -> Pic8259 {
        Pic8259 {
            is_master,
            irr: 0,
            isr: 0,
            imr: 0,
            input: 0,
            elcr: 0,
            // PIIX4 §4.3.6: IRQ 0, 1, 2, 8 and 13 are edge-triggered only.
            elcr_writable: if is_master { 0xF8 } else { 0xDE },
            icw1: 0,
            vector_base: 0,
            icw3: 0,
            icw4: 0,
            init: InitStep::Ready,
            initialized: false,
            highest: 0,
            read_isr: false,
            poll: false,
            special_mask: false,
            rotate_on_aeoi: false,
        }
    }

    pub fn irr(&self) -> u8 {
        self.irr
    }

    pub fn isr(&self) -> u8 {
        self.isr
    }

    pub fn imr(&self) -> u8 {
        self.imr
    }

    pub fn vector_base(&self) -> u8 {
        self.vector_base
    }

    pub fn elcr(&self) -> u8 {
        self.elcr
    }

    /// The vector this chip supplies for input `ir` (8086 mode: ICW2's
    /// T7-T3 and the input number).
    pub fn vector(&self, ir: u8) -> u8 {
        self.vector_base | (ir & 7)
    }

    /// Inputs that are level-triggered: all of them with ICW1's LTIM, else
    /// those the ELCR selects (the PIIX replaces LTIM with the ELCR; a
    /// guest that sets LTIM on a PC gets what it asked for).
    fn level_mask(&self) -> u8 {
        if self.icw1 & ICW1_LTIM != 0 {
            0xFF
        } else {
            self.elcr
        }
    }

    fn aeoi(&self) -> bool {
        self.icw4 & ICW4_AEOI != 0
    }

    /// Inputs that lead to slaves (a master in cascade mode only).
    fn cascade_inputs(&self) -> u8 {
        if self.is_master && self.icw1 & ICW1_SNGL == 0 {
            self.icw3
        } else {
            0
        }
    }

    /// Drive input `ir` (0-7) to `level`.
    pub fn set_input(&mut self, ir: u8, level: bool) {
        let bit = 1u8 << (ir & 7);
        let was_high = self.input & bit != 0;
        if level {
            self.input |= bit;
            if self.level_mask() & bit != 0 || !was_high {
                self.irr |= bit;
            }
        } else {
            self.input &= !bit;
            self.irr &= !bit;
        }
    }

    /// Set the ELCR bits (1 = level) this chip honours.
    fn set_elcr(&mut self, value: u8) {
        self.elcr = value & self.elcr_writable;
        // A level input requests exactly while it is high; an edge input
        // keeps whatever request it had.
        let level = self.level_mask();
        self.irr = (self.irr & !level) | (self.input & level);
    }

    /// The first input, in priority order, that is set in `mask`.
    fn highest_in(&self, mask: u8) -> Option<u8> {
        (0..8)
            .map(|i| (self.highest + i) & 7)
            .find(|&ir| mask & (1 << ir) != 0)
    }

    /// The input that would be acknowledged now, if any: the
    /// highest-priority unmasked request above every in-service level
    /// (§"Fully nested mode"). In special mask mode, masked levels'
    /// in-service bits do not inhibit anything; in special fully nested
    /// mode a master lets a slave that is in service interrupt again (the
    /// slave's own priority logic decides).
    pub fn pending(&self) -> Option<u8> {
        let requests = self.irr & !self.imr;
        if requests == 0 || !self.initialized {
            return None;
        }
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        let nested_ok = if self.icw4 & ICW4_SFNM != 0 {
            self.cascade_inputs()
        } else {
            0
        };
        for i in 0..8 {
            let ir = (self.highest + i) & 7;
            let bit = 1u8 << ir;
            if requests & bit != 0 && (in_service & bit == 0 || nested_ok & bit != 0) {
                return Some(ir);
            }
            if in_service & bit != 0 {
                return None;
            }
        }
        None
    }

    /// The INT output.
    pub fn int_output(&self) -> bool {
        self.pending().is_some()
    }

    /// The chip's part of an interrupt acknowledge (or a poll): the input
    /// being serviced, or `None` when no request is left (the CPU then gets
    /// the IR7 vector and no in-service bit is set).
    pub fn intack(&mut self) -> Option<u8> {
        let ir = self.pending()?;
        let bit = 1u8 << ir;
        if self.level_mask() & bit == 0 {
            self.irr &= !bit;
        }
        if self.aeoi() {
            // §"Automatic end of interrupt mode": a non-specific EOI at the
            // end of the INTA sequence, so nothing stays in service.
            if self.rotate_on_aeoi {
                self.highest = (ir + 1) & 7;
            }
        } else {
            self.isr |= bit;
        }
        Some(ir)
    }

    /// Whether input `ir` of a master leads to a slave.
    pub fn is_cascade(&self, ir: u8) -> bool {
        self.cascade_inputs() & (1 << (ir & 7)) != 0
    }

    /// A write with A0 = 0 (ICW1, OCW2, OCW3) or A0 = 1 (ICW2-4, OCW1).
    pub fn write(&mut self, a0: bool, value: u8) {
        if !a0 {
            if value & ICW1_INIT != 0 {
                tracing::debug!(target: "oxbox::pic", "ICW1 {value:#04x}: initialisation");
                self.icw1(value);
            } else if value & OCW3_SELECT != 0 {
                self.ocw3(value);
            } else {
                self.ocw2(value);
            }
            return;
        }
        let in_sequence = self.init != InitStep::Ready;
        self.write_data(value);
        if in_sequence && self.init == InitStep::Ready {
            self.initialized = true;
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.init {
            InitStep::Ready => self.imr = value,
            InitStep::Icw2 => {
                self.vector_base = value & 0xF8;
                self.init = if self.icw1 & ICW1_SNGL == 0 {
                    InitStep::Icw3
                } else if self.icw1 & ICW1_IC4 != 0 {
                    InitStep::Icw4
                } else {
                    InitStep::Ready
                };
            }
            InitStep::Icw3 => {
                self.icw3 = if self.is_master { value } else { value & 7 };
                self.init = if self.icw1 & ICW1_IC4 != 0 {
                    InitStep::Icw4
                } else {
                    InitStep::Ready
                };
            }
            InitStep::Icw4 => {
                self.icw4 = value;
                self.init = InitStep::Ready;
            }
        }
    }

    /// ICW1 starts the initialization sequence (§"Initialization command
    /// words"): the edge-sense latches are reset (an input that is high
    /// must go low and high again to request), the mask is cleared, IR7 is
    /// given the lowest priority, special mask mode is cleared, status
    /// reads select the IRR, and without IC4 every ICW4 function is reset.
    /// The in-service register is cleared too, as every PC BIOS expects.
    fn icw1(&mut self, value: u8) {
        self.icw1 = value;
        self.init = InitStep::Icw2;
        self.imr = 0;
        self.isr = 0;
        self.irr = self.input & self.level_mask();
        self.highest = 0;
        self.special_mask = false;
        self.read_isr = false;
        self.poll = false;
        self.rotate_on_aeoi = false;
        if value & ICW1_IC4 == 0 {
            self.icw4 = 0;
        }
    }

    /// OCW2: end of interrupt and priority rotation (datasheet table 2).
    fn ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            // Non-specific EOI.
            0b001 => {
                if let Some(ir) = self.eoi_target() {
                    self.isr &= !(1 << ir);
                }
            }
            // Specific EOI.
            0b011 => self.isr &= !(1 << level),
            // Rotate on non-specific EOI.
            0b101 => {
                if let Some(ir) = self.eoi_target() {
                    self.isr &= !(1 << ir);
                    self.highest = (ir + 1) & 7;
                }
            }
            0b100 => self.rotate_on_aeoi = true,
            0b000 => self.rotate_on_aeoi = false,
            // Rotate on specific EOI.
            0b111 => {
                self.isr &= !(1 << level);
                self.highest = (level + 1) & 7;
            }
            // Set priority: `level` becomes the lowest.
            0b110 => self.highest = (level + 1) & 7,
            // 0b010: no operation.
            _ => {}
        }
    }

    /// The in-service level a non-specific EOI clears: the highest-priority
    /// one, except that in special mask mode a level masked in the IMR is
    /// not cleared (§"Special mask mode").
    fn eoi_target(&self) -> Option<u8> {
        let mut mask = self.isr;
        if self.special_mask {
            mask &= !self.imr;
        }
        self.highest_in(mask)
    }

    fn ocw3(&mut self, value: u8) {
        if value & OCW3_ESMM != 0 {
            self.special_mask = value & OCW3_SMM != 0;
        }
        if value & OCW3_RR != 0 {
            self.read_isr = value & OCW3_RIS != 0;
        }
        if value & OCW3_POLL != 0 {
            self.poll = true;
        }
    }

    /// A read with A0 = 0 (IRR or ISR as OCW3 selected) or A0 = 1 (IMR). A
    /// read after a poll command returns the poll word instead, whatever
    /// A0: bit 7 set if a request was acknowledged, bits 2-0 its level; 0
    /// if there was none.
    pub fn read(&mut self, a0: bool) -> u8 {
        if self.poll {
            self.poll = false;
            return match self.intack() {
                Some(ir) => 0x80 | ir,
                None => 0,
            };
        }
        if a0 {
            self.imr
        } else if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }
}

/// The master/slave pair of an AT, with the PIIX's edge/level control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DualPic {
    master: Pic8259,
    slave: Pic8259,
}

impl Default for DualPic {
    fn default() -> Self {
        DualPic::new()
    }
}

impl DualPic {
    pub fn new() -> DualPic {
        DualPic {
            master: Pic8259::new(true),
            slave: Pic8259::new(false),
        }
    }

    pub fn master(&self) -> &Pic8259 {
        &self.master
    }

    pub fn slave(&self) -> &Pic8259 {
        &self.slave
    }

    /// Drive ISA interrupt line `irq` (0-15). IRQ 2 is the cascade and not
    /// an input; numbers above 15 are ignored.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        match irq {
            0..=7 if irq != CASCADE_IR => self.master.set_input(irq, level),
            8..=15 => {
                self.slave.set_input(irq - 8, level);
                self.update_cascade();
            }
            _ => {}
        }
    }

    /// Drive all sixteen lines from a mask (bit `n` = IRQ `n`); only lines
    /// whose level differs from the current one change.
    pub fn set_irq_levels(&mut self, levels: IrqMask) {
        for irq in 0..16u8 {
            let level = levels & (1 << irq) != 0;
            if irq != CASCADE_IR && self.input_level(irq) != level {
                self.set_irq(irq, level);
            }
        }
    }

    fn input_level(&self, irq: u8) -> bool {
        if irq < 8 {
            self.master.input & (1 << irq) != 0
        } else {
            self.slave.input & (1 << (irq - 8)) != 0
        }
    }

    fn update_cascade(&mut self) {
        let int = self.slave.int_output();
        self.master.set_input(CASCADE_IR, int);
    }

    /// The master's INT output: the CPU's INTR line.
    pub fn intr(&self) -> bool {
        self.master.int_output()
    }

    /// The INTA cycle: the vector of the interrupt being serviced. With no
    /// request left, the master answers with its IR7 vector; a slave that
    /// lost its request answers with its own IR7 vector, leaving the
    /// master's IR2 in service (as the hardware does).
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.master.intack() {
            None => self.master.vector(7),
            Some(ir) if self.master.is_cascade(ir) => match self.slave.intack() {
                Some(sir) => self.slave.vector(sir),
                None => self.slave.vector(7),
            },
            Some(ir) => self.master.vector(ir),
        };
        self.update_cascade();
        vector
    }

    /// The ELCR pair as one mask (bit `n` = IRQ `n` level-triggered).
    pub fn elcr(&self) -> u16 {
        self.master.elcr as u16 | (self.slave.elcr as u16) << 8
    }

    /// Set the ELCR pair from the machine (firmware normally writes the
    /// ports); unwritable bits stay clear.
    pub fn set_elcr(&mut self, mask: u16) {
        self.master.set_elcr(mask as u8);
        self.slave.set_elcr((mask >> 8) as u8);
        self.update_cascade();
    }

    /// Read one byte at one of the pair's ports; other ports float.
    pub fn read_port(&mut self, port: u16) -> u8 {
        let v = match port {
            MASTER_CMD | MASTER_DATA => self.master.read(port == MASTER_DATA),
            SLAVE_CMD | SLAVE_DATA => self.slave.read(port == SLAVE_DATA),
            ELCR_MASTER => self.master.elcr,
            ELCR_SLAVE => self.slave.elcr,
            _ => 0xFF,
        };
        // A poll on the slave is an acknowledge and may drop its INT.
        self.update_cascade();
        v
    }

    /// Write one byte at one of the pair's ports; other ports ignore it.
    pub fn write_port(&mut self, port: u16, value: u8) {
        match port {
            MASTER_CMD | MASTER_DATA => self.master.write(port == MASTER_DATA, value),
            SLAVE_CMD | SLAVE_DATA => self.slave.write(port == SLAVE_DATA, value),
            ELCR_MASTER => self.master.set_elcr(value),
            ELCR_SLAVE => self.slave.set_elcr(value),
            _ => {}
        }
        self.update_cascade();
    }
}

impl Device for DualPic {
    fn io_read(&mut self, _now: VirtualTime, port: u16, _size: IoSize) -> u32 {
        self.read_port(port) as u32
    }

    fn io_write(&mut self, _now: VirtualTime, port: u16, _size: IoSize, value: u32) {
        self.write_port(port, value as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AT BIOS's initialization: vectors 0x08 and 0x70, slave on IR2,
    /// 8086 mode, normal EOI.
    fn at_pics() -> DualPic {
        let mut p = DualPic::new();
        for (port, v) in [
            (0x20, 0x11),
            (0x21, 0x08),
            (0x21, 0x04),
            (0x21, 0x01),
            (0xA0, 0x11),
            (0xA1, 0x70),
            (0xA1, 0x02),
            (0xA1, 0x01),
        ] {
            p.write_port(port, v);
        }
        p
    }

    fn raise(p: &mut DualPic, irq: u8) {
        p.set_irq(irq, true);
    }

    fn pulse(p: &mut DualPic, irq: u8) {
        p.set_irq(irq, false);
        p.set_irq(irq, true);
    }

    #[test]
    fn icw_sequence_with_icw4_sets_vectors_and_unmasks() {
        let mut p = at_pics();
        assert_eq!(p.master().vector_base(), 0x08);
        assert_eq!(p.slave().vector_base(), 0x70);
        assert_eq!(p.read_port(0x21), 0);
        assert!(!p.intr());
        raise(&mut p, 0);
        assert!(p.intr());
        assert_eq!(p.acknowledge(), 0x08);
        assert_eq!(p.master().isr(), 0x01);
        assert_eq!(p.master().irr(), 0x00, "edge latch consumed by INTA");
        assert!(!p.intr());
        p.write_port(0x20, 0x20);
        assert_eq!(p.master().isr(), 0);
        // A data write after initialization is OCW1.
        p.write_port(0x21, 0xFE);
        assert_eq!(p.read_port(0x21), 0xFE);
    }

    #[test]
    fn icw_sequence_without_icw4_and_single_skips_icw3_and_icw4() {
        let mut p = DualPic::new();
        // ICW1: single, no ICW4 (so 8086-mode bits and AEOI are cleared).
        p.write_port(0x20, 0x12);
        p.write_port(0x21, 0x47); // ICW2: low three bits are ignored
        p.write_port(0x21, 0xAA); // already OCW1
        assert_eq!(p.master().vector_base(), 0x40);
        assert_eq!(p.read_port(0x21), 0xAA);
        p.write_port(0x21, 0x00);
        // Single mode: IR2 is an ordinary input, no cascade.
        p.master.set_input(2, true);
        assert_eq!(p.acknowledge(), 0x42);
    }

    #[test]
    fn cascade_without_icw4_expects_icw3_only() {
        let mut p = DualPic::new();
        p.write_port(0x20, 0x10); // cascade, no IC4
        p.write_port(0x21, 0x20);
        p.write_port(0x21, 0x04); // ICW3
        p.write_port(0x21, 0x3C); // OCW1
        assert_eq!(p.read_port(0x21), 0x3C);
        assert!(p.master().is_cascade(2));
    }

    #[test]
    fn fully_nested_priority_and_nesting() {
        let mut p = at_pics();
        raise(&mut p, 5);
        raise(&mut p, 3);
        assert_eq!(p.acknowledge(), 0x0B, "IR3 outranks IR5");
        // IR5 is lower than the in-service IR3: held off.
        assert!(!p.intr());
        // IR1 is higher: it nests.
        raise(&mut p, 1);
        assert!(p.intr());
        assert_eq!(p.acknowledge(), 0x09);
        assert_eq!(p.master().isr(), 0b0000_1010);
        // Non-specific EOI clears the highest in-service level, IR1.
        p.write_port(0x20, 0x20);
        assert_eq!(p.master().isr(), 0b0000_1000);
        assert!(!p.intr());
        p.write_port(0x20, 0x20);
        assert!(p.intr());
        assert_eq!(p.acknowledge(), 0x0D);
    }

    #[test]
    fn specific_eoi_clears_only_the_named_level() {
        let mut p = at_pics();
        raise(&mut p, 4);
        p.acknowledge();
        raise(&mut p, 1);
        p.acknowledge();
        assert_eq!(p.master().isr(), 0b0001_0010);
        p.write_port(0x20, 0x64); // specific EOI for IR4
        assert_eq!(p.master().isr(), 0b0000_0010);
    }

    #[test]
    fn automatic_eoi_leaves_nothing_in_service() {
        let mut p = DualPic::new();
        for v in [0x11, 0x08, 0x04, 0x03] {
            p.write_port(if v == 0x11 { 0x20 } else { 0x21 }, v);
        }
        raise(&mut p, 6);
        assert_eq!(p.acknowledge(), 0x0E);
        assert_eq!(p.master().isr(), 0);
        // A lower level is not held off by the serviced one.
        raise(&mut p, 7);
        assert_eq!(p.acknowledge(), 0x0F);
    }

    #[test]
    fn rotate_on_non_specific_eoi_makes_the_serviced_level_lowest() {
        let mut p = at_pics();
        raise(&mut p, 3);
        assert_eq!(p.acknowledge(), 0x0B);
        p.write_port(0x20, 0xA0); // rotate on non-specific EOI
                                  // IR4 is now highest, IR3 lowest: IR3 again and IR1 both lose to IR4.
        pulse(&mut p, 3);
        raise(&mut p, 1);
        raise(&mut p, 4);
        assert_eq!(p.acknowledge(), 0x0C);
        p.write_port(0x20, 0x20);
        assert_eq!(p.acknowledge(), 0x09);
        p.write_port(0x20, 0x20);
        assert_eq!(p.acknowledge(), 0x0B);
    }

    #[test]
    fn rotate_on_specific_eoi_and_set_priority() {
        let mut p = at_pics();
        raise(&mut p, 5);
        p.acknowledge();
        p.write_port(0x20, 0xE5); // rotate on specific EOI 5: IR6 highest
        assert_eq!(p.master().isr(), 0);
        raise(&mut p, 0);
        raise(&mut p, 6);
        assert_eq!(p.acknowledge(), 0x0E);
        p.write_port(0x20, 0x66);
        p.write_port(0x20, 0xC0); // set priority: IR0 lowest, IR1 highest
        raise(&mut p, 1);
        assert_eq!(p.acknowledge(), 0x09);
        p.write_port(0x20, 0x61);
        assert_eq!(p.acknowledge(), 0x08);
    }

    #[test]
    fn rotate_in_automatic_eoi_mode() {
        let mut p = DualPic::new();
        for (port, v) in [(0x20, 0x13), (0x21, 0x08), (0x21, 0x03)] {
            p.write_port(port, v);
        }
        p.write_port(0x20, 0x80); // set rotate in AEOI
        raise(&mut p, 0);
        raise(&mut p, 1);
        assert_eq!(p.acknowledge(), 0x08);
        // IR0 became lowest; a fresh IR0 edge now loses to IR1.
        pulse(&mut p, 0);
        assert_eq!(p.acknowledge(), 0x09);
        assert_eq!(p.acknowledge(), 0x08);
        p.write_port(0x20, 0x00); // clear rotate in AEOI
        pulse(&mut p, 0);
        pulse(&mut p, 1);
        // Priority stays where the last rotation left it (IR1 highest).
        assert_eq!(p.acknowledge(), 0x09);
        assert_eq!(p.acknowledge(), 0x08);
    }

    #[test]
    fn special_mask_mode_enables_lower_levels() {
        let mut p = at_pics();
        raise(&mut p, 3);
        assert_eq!(p.acknowledge(), 0x0B);
        raise(&mut p, 5);
        assert!(!p.intr(), "IR5 held off by IR3 in service");
        // The IR3 handler masks its own level and enters special mask mode.
        p.write_port(0x21, 0x08);
        p.write_port(0x20, 0x68);
        assert!(p.intr());
        assert_eq!(p.acknowledge(), 0x0D);
        // A non-specific EOI skips the masked IR3 and clears IR5.
        p.write_port(0x20, 0x20);
        assert_eq!(p.master().isr(), 0x08);
        // Leaving special mask mode restores the nesting.
        p.write_port(0x20, 0x48);
        pulse(&mut p, 6);
        p.write_port(0x21, 0x00);
        assert!(!p.intr());
    }

    #[test]
    fn ocw3_selects_irr_or_isr_and_poll_acknowledges() {
        let mut p = at_pics();
        raise(&mut p, 4);
        assert_eq!(p.read_port(0x20), 0x10, "IRR by default");
        p.write_port(0x20, 0x0B);
        assert_eq!(p.read_port(0x20), 0x00, "ISR");
        // Poll: the read acts as INTA and returns the level.
        p.write_port(0x20, 0x0C);
        assert_eq!(p.read_port(0x20), 0x84);
        assert_eq!(p.read_port(0x20), 0x10, "ISR selection survives the poll");
        // Poll with no request.
        p.write_port(0x20, 0x0C);
        assert_eq!(p.read_port(0x21), 0x00);
        // RR = 0 leaves the selection alone.
        p.write_port(0x20, 0x08);
        assert_eq!(p.read_port(0x20), 0x10);
        p.write_port(0x20, 0x0A);
        assert_eq!(p.read_port(0x20), 0x00);
    }

    #[test]
    fn masked_requests_wait_in_irr() {
        let mut p = at_pics();
        p.write_port(0x21, 0x01);
        raise(&mut p, 0);
        assert!(!p.intr());
        assert_eq!(p.read_port(0x20), 0x01);
        p.write_port(0x21, 0x00);
        assert_eq!(p.acknowledge(), 0x08);
    }

    #[test]
    fn edge_triggered_needs_a_new_edge() {
        let mut p = at_pics();
        raise(&mut p, 3);
        p.acknowledge();
        p.write_port(0x20, 0x20);
        // Still high, but no new edge.
        assert!(!p.intr());
        pulse(&mut p, 3);
        assert!(p.intr());
    }

    #[test]
    fn edge_request_that_falls_before_inta_is_gone() {
        let mut p = at_pics();
        raise(&mut p, 3);
        p.set_irq(3, false);
        assert!(!p.intr());
        assert_eq!(p.master().irr(), 0);
    }

    #[test]
    fn level_triggered_via_elcr_requests_while_high() {
        let mut p = at_pics();
        p.write_port(0x4D0, 0xFF);
        p.write_port(0x4D1, 0xFF);
        // IRQ 0, 1, 2, 8 and 13 cannot be level-triggered.
        assert_eq!(p.read_port(0x4D0), 0xF8);
        assert_eq!(p.read_port(0x4D1), 0xDE);
        assert_eq!(p.elcr(), 0xDEF8);
        raise(&mut p, 5);
        assert_eq!(p.acknowledge(), 0x0D);
        assert_eq!(p.master().irr(), 0x20, "a level request stays in IRR");
        p.write_port(0x20, 0x20);
        assert!(p.intr(), "still high after EOI: interrupts again");
        p.set_irq(5, false);
        assert!(!p.intr());
        // Level-triggered IRQ 11 through the slave.
        raise(&mut p, 11);
        assert_eq!(p.acknowledge(), 0x73);
        p.write_port(0xA0, 0x20);
        p.write_port(0x20, 0x20);
        assert!(p.intr());
        assert_eq!(p.acknowledge(), 0x73);
    }

    #[test]
    fn ltim_makes_every_input_level_triggered() {
        let mut p = DualPic::new();
        for (port, v) in [(0x20, 0x1B), (0x21, 0x08), (0x21, 0x01)] {
            p.write_port(port, v);
        }
        raise(&mut p, 1);
        assert_eq!(p.acknowledge(), 0x09);
        p.write_port(0x20, 0x20);
        assert_eq!(p.acknowledge(), 0x09);
    }

    #[test]
    fn spurious_irq7_when_the_request_disappears() {
        let mut p = at_pics();
        p.write_port(0x4D0, 0x20);
        raise(&mut p, 5);
        assert!(p.intr());
        // The device drops the line between INTR and INTA.
        p.set_irq(5, false);
        assert_eq!(p.acknowledge(), 0x0F);
        assert_eq!(p.master().isr(), 0, "no in-service bit for the default IR7");
    }

    #[test]
    fn spurious_irq15_leaves_the_master_cascade_in_service() {
        let mut p = at_pics();
        p.write_port(0x4D1, 0x08);
        raise(&mut p, 11);
        assert!(p.intr());
        // The request disappears between the master's part of the INTA
        // sequence and the slave's (done here by dropping the slave's input
        // without letting its INT reach the master): the master services
        // IR2 and the slave answers with its IR7 vector.
        p.slave.set_input(3, false);
        assert_eq!(p.acknowledge(), 0x77);
        assert_eq!(p.master().isr(), 0x04);
        assert_eq!(p.slave().isr(), 0x00);
    }

    #[test]
    fn cascade_through_ir2_returns_the_slave_vector() {
        let mut p = at_pics();
        raise(&mut p, 10);
        assert!(p.intr());
        assert_eq!(p.master().irr(), 0x04);
        assert_eq!(p.acknowledge(), 0x72);
        assert_eq!(p.master().isr(), 0x04);
        assert_eq!(p.slave().isr(), 0x04);
        // A master level below IR2 waits; IRQ 0 and 1 nest.
        raise(&mut p, 4);
        assert!(!p.intr());
        raise(&mut p, 1);
        assert_eq!(p.acknowledge(), 0x09);
        p.write_port(0x20, 0x20); // EOI IR1
        p.write_port(0xA0, 0x20); // EOI slave
        p.write_port(0x20, 0x20); // EOI master IR2
        assert_eq!(p.acknowledge(), 0x0C);
    }

    #[test]
    fn slave_masks_and_priorities_apply_before_the_master() {
        let mut p = at_pics();
        p.write_port(0xA1, 0x01); // mask IRQ 8
        raise(&mut p, 8);
        assert!(!p.intr());
        raise(&mut p, 12);
        raise(&mut p, 14);
        assert_eq!(p.acknowledge(), 0x74);
        // IRQ 14 is below the in-service IRQ 12 on the slave; the master
        // has IR2 in service too.
        assert!(!p.intr());
        p.write_port(0xA0, 0x20);
        p.write_port(0x20, 0x20);
        assert_eq!(p.acknowledge(), 0x76);
        // Masking IR2 on the master hides the whole slave.
        p.write_port(0xA0, 0x20);
        p.write_port(0x20, 0x20);
        p.write_port(0xA1, 0x00);
        p.write_port(0x21, 0x04);
        assert!(!p.intr());
        p.write_port(0x21, 0x00);
        assert_eq!(p.acknowledge(), 0x70);
    }

    #[test]
    fn special_fully_nested_mode_lets_a_higher_slave_level_through() {
        for sfnm in [false, true] {
            let mut p = DualPic::new();
            let icw4 = if sfnm { 0x11 } else { 0x01 };
            for (port, v) in [
                (0x20, 0x11),
                (0x21, 0x08),
                (0x21, 0x04),
                (0x21, icw4),
                (0xA0, 0x11),
                (0xA1, 0x70),
                (0xA1, 0x02),
                (0xA1, 0x01),
            ] {
                p.write_port(port, v);
            }
            raise(&mut p, 12);
            assert_eq!(p.acknowledge(), 0x74);
            raise(&mut p, 9);
            assert_eq!(p.intr(), sfnm, "sfnm={sfnm}");
            if sfnm {
                assert_eq!(p.acknowledge(), 0x71);
            }
        }
    }

    #[test]
    fn icw1_resets_masks_in_service_and_edge_latches() {
        let mut p = at_pics();
        p.write_port(0x21, 0xF0);
        raise(&mut p, 1);
        raise(&mut p, 0);
        p.acknowledge();
        p.write_port(0x20, 0x0B);
        p.write_port(0x20, 0x11);
        assert_eq!(p.master().imr(), 0);
        assert_eq!(p.master().isr(), 0);
        assert_eq!(p.master().irr(), 0);
        // The status read is back on the IRR.
        for v in [0x08, 0x04, 0x01] {
            p.write_port(0x21, v);
        }
        assert_eq!(p.read_port(0x20), 0);
        assert!(!p.intr(), "a line that stayed high needs a new edge");
    }

    #[test]
    fn no_interrupt_before_the_first_initialization() {
        let mut p = DualPic::new();
        raise(&mut p, 0);
        raise(&mut p, 8);
        // A mask write is not an initialization.
        p.write_port(0x21, 0x00);
        assert!(!p.intr());
        assert_eq!(p.acknowledge(), 0x07, "default IR7 of vector base 0");
        p.write_port(0x20, 0x13);
        assert!(!p.intr(), "not during the sequence either");
        p.write_port(0x21, 0x08);
        p.write_port(0x21, 0x01);
        // ICW1 reset the edge latches: IRQ 0 needs a new edge.
        assert!(!p.intr());
        pulse(&mut p, 0);
        assert_eq!(p.acknowledge(), 0x08);
    }

    #[test]
    fn unrelated_ports_and_irq_numbers_are_ignored() {
        let mut p = at_pics();
        assert_eq!(p.read_port(0x22), 0xFF);
        p.write_port(0x22, 0x00);
        p.set_irq(2, true);
        p.set_irq(16, true);
        p.set_irq(200, true);
        assert!(!p.intr());
    }

    #[test]
    fn set_irq_levels_drives_only_changes() {
        let mut p = at_pics();
        p.set_irq_levels(0x0101);
        assert_eq!(p.acknowledge(), 0x08);
        p.write_port(0x20, 0x20);
        assert_eq!(p.acknowledge(), 0x70);
        p.write_port(0xA0, 0x20);
        p.write_port(0x20, 0x20);
        // Same levels again: no new edges.
        p.set_irq_levels(0x0101);
        assert!(!p.intr());
        p.set_irq_levels(0x0000);
        p.set_irq_levels(0x0001);
        assert!(p.intr());
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut p = at_pics();
        p.write_port(0x4D0, 0x20);
        raise(&mut p, 5);
        raise(&mut p, 10);
        p.write_port(0xA1, 0x80);
        p.write_port(0x20, 0x0B);
        p.acknowledge();
        let json = serde_json::to_string(&p).unwrap();
        let mut q: DualPic = serde_json::from_str(&json).unwrap();
        assert_eq!(p, q);
        for _ in 0..3 {
            assert_eq!(p.acknowledge(), q.acknowledge());
            p.write_port(0x20, 0x20);
            q.write_port(0x20, 0x20);
            assert_eq!(p.read_port(0x20), q.read_port(0x20));
        }
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            serde_json::to_string(&p).unwrap()
        );
    }
}

//! Register-level tests of the VGA and its VBE extension, in FreeVGA's
//! terms, and rendering tests on tiny synthetic screens.

use super::regs::*;
use super::*;
use crate::clock::ClockRate;

const T0: VirtualTime = VirtualTime::ZERO;

fn small() -> Vga {
    Vga::new(VgaConfig {
        vram_size: MIN_VRAM_SIZE,
        lfb_base: DEFAULT_LFB_BASE,
    })
}

fn big() -> Vga {
    Vga::new(VgaConfig::default())
}

fn out(v: &mut Vga, port: u16, val: u8) {
    v.io_write(T0, port, IoSize::Byte, u32::from(val));
}

fn inp(v: &mut Vga, port: u16) -> u8 {
    v.io_read(T0, port, IoSize::Byte) as u8
}

fn seq(v: &mut Vga, i: u8, val: u8) {
    out(v, 0x3C4, i);
    out(v, 0x3C5, val);
}

fn gc(v: &mut Vga, i: u8, val: u8) {
    out(v, 0x3CE, i);
    out(v, 0x3CF, val);
}

fn crtc(v: &mut Vga, i: u8, val: u8) {
    out(v, 0x3D4, i);
    out(v, 0x3D5, val);
}

fn crtc_get(v: &mut Vga, i: u8) -> u8 {
    out(v, 0x3D4, i);
    inp(v, 0x3D5)
}

fn ac(v: &mut Vga, i: u8, val: u8) {
    inp(v, 0x3DA);
    out(v, 0x3C0, i);
    out(v, 0x3C0, val);
}

fn wmem(v: &mut Vga, addr: u32, val: u8) {
    v.mmio_write(T0, addr, IoSize::Byte, u32::from(val));
}

fn rmem(v: &mut Vga, addr: u32) -> u8 {
    v.mmio_read(T0, addr, IoSize::Byte) as u8
}

fn dispi(v: &mut Vga, index: u16, val: u16) {
    v.io_write(T0, VBE_INDEX_PORT, IoSize::Word, u32::from(index));
    v.io_write(T0, VBE_DATA_PORT, IoSize::Word, u32::from(val));
}

fn dispi_get(v: &mut Vga, index: u16) -> u16 {
    v.io_write(T0, VBE_INDEX_PORT, IoSize::Word, u32::from(index));
    v.io_read(T0, VBE_DATA_PORT, IoSize::Word) as u16
}

/// Planar, unchained, graphics addressing at A0000 (64 KiB), write mode
/// 0, all planes, no set/reset: the state mode 12h leaves.
fn planar(v: &mut Vga) {
    seq(v, 2, 0x0F);
    seq(v, 4, 0x06);
    gc(v, 5, 0x00);
    gc(v, 6, 0x05);
    gc(v, 8, 0xFF);
}

fn plane(v: &Vga, p: usize, off: u32) -> u8 {
    v.plane_byte(p, off)
}

/// Load a standard mode table through the ports (as the BIOS does).
#[allow(clippy::too_many_arguments)]
fn load(v: &mut Vga, misc: u8, seqs: [u8; 4], crt: [u8; 25], acs: [u8; 21], gcs: [u8; 9]) {
    v.load_mode(&ModeTable {
        misc,
        seq: seqs,
        crtc: crt,
        ac: acs,
        gc: gcs,
    });
}

fn mode_13h(v: &mut Vga) {
    let mut acs = [0u8; 21];
    for (i, a) in acs.iter_mut().enumerate().take(16) {
        *a = i as u8;
    }
    acs[16..].copy_from_slice(&[0x41, 0x00, 0x0F, 0x00, 0x00]);
    load(
        v,
        0x63,
        [0x01, 0x0F, 0x00, 0x0E],
        [
            0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF,
        ],
        acs,
        [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF],
    );
}

fn mode_12h(v: &mut Vga) {
    let mut acs = MODE_3.ac;
    acs[16] = 0x01;
    acs[19] = 0x00;
    load(
        v,
        0xE3,
        [0x01, 0x0F, 0x00, 0x06],
        [
            0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF,
        ],
        acs,
        [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF],
    );
    out(v, 0x3C8, 0);
    for i in 0..64 {
        for c in ega_colour(i) {
            out(v, 0x3C9, c);
        }
    }
}

fn rgb6(r: u8, g: u8, b: u8) -> u32 {
    let s = |v: u8| u32::from((v << 2) | (v >> 4));
    s(r) << 16 | s(g) << 8 | s(b)
}

// --- Power-on and external registers --------------------------------------

#[test]
fn power_on_state_is_colour_addressing_with_the_display_blanked() {
    let mut v = small();
    assert_eq!(inp(&mut v, 0x3CC), 0x03);
    assert_eq!(inp(&mut v, 0x3C6), 0xFF, "DAC pixel mask");
    // The CRTC answers at 0x3D4, not at 0x3B4.
    crtc(&mut v, 0x0C, 0x12);
    assert_eq!(crtc_get(&mut v, 0x0C), 0x12);
    assert_eq!(inp(&mut v, 0x3B5), 0xFF);
    // PAS is clear: the screen shows the overscan colour (black).
    let f = v.render();
    assert!(f.pixels.iter().all(|&p| p == 0));
    // The zeroed CRTC describes a one-character text screen.
    assert_eq!((f.width, f.height), (9, 1));
    assert_eq!(v.text_snapshot(), Some(vec![" ".to_string()]));
}

#[test]
fn misc_output_bit_0_moves_the_crtc_and_status_ports() {
    let mut v = small();
    out(&mut v, 0x3C2, 0x02);
    assert_eq!(inp(&mut v, 0x3CC), 0x02);
    out(&mut v, 0x3B4, 0x0E);
    out(&mut v, 0x3B5, 0x07);
    assert_eq!(inp(&mut v, 0x3B5), 0x07);
    assert_eq!(inp(&mut v, 0x3D4), 0xFF);
    assert_eq!(inp(&mut v, 0x3D5), 0xFF);
    out(&mut v, 0x3D5, 0x55); // not decoded
    assert_eq!(inp(&mut v, 0x3B5), 0x07);
    // Feature control: written at 0x3BA now, read at 0x3CA.
    out(&mut v, 0x3BA, 0x01);
    assert_eq!(inp(&mut v, 0x3CA), 0x01);
    out(&mut v, 0x3DA, 0x02);
    assert_eq!(inp(&mut v, 0x3CA), 0x01);
}

#[test]
fn misc_output_ram_enable_gates_cpu_access() {
    let mut v = small();
    planar(&mut v);
    wmem(&mut v, 0xA0010, 0x5A);
    assert_eq!(rmem(&mut v, 0xA0010), 0x5A);
    out(&mut v, 0x3C2, 0x01);
    assert_eq!(rmem(&mut v, 0xA0010), 0xFF);
    wmem(&mut v, 0xA0010, 0x11);
    out(&mut v, 0x3C2, 0x03);
    assert_eq!(rmem(&mut v, 0xA0010), 0x5A);
}

// --- Sequencer, graphics controller, CRTC ----------------------------------

#[test]
fn sequencer_index_has_three_bits_and_registers_keep_their_bits() {
    let mut v = small();
    out(&mut v, 0x3C4, 0xFA);
    assert_eq!(inp(&mut v, 0x3C4), 0x02);
    out(&mut v, 0x3C5, 0xFF);
    assert_eq!(inp(&mut v, 0x3C5), 0x0F, "map mask has four bits");
    seq(&mut v, 4, 0xFF);
    assert_eq!(inp(&mut v, 0x3C5), 0x0E);
    seq(&mut v, 1, 0xFF);
    assert_eq!(inp(&mut v, 0x3C5), 0x3D);
    // Indices 5-7 do not exist: they read as 0xFF and ignore writes.
    seq(&mut v, 6, 0x12);
    assert_eq!(inp(&mut v, 0x3C5), 0xFF);
}

#[test]
fn graphics_controller_index_and_register_masks() {
    let mut v = small();
    out(&mut v, 0x3CE, 0xF5);
    assert_eq!(inp(&mut v, 0x3CE), 0x05);
    out(&mut v, 0x3CF, 0xFF);
    assert_eq!(inp(&mut v, 0x3CF), 0x7B);
    gc(&mut v, 3, 0xFF);
    assert_eq!(inp(&mut v, 0x3CF), 0x1F);
    gc(&mut v, 4, 0xFF);
    assert_eq!(inp(&mut v, 0x3CF), 0x03);
    gc(&mut v, 8, 0xA5);
    assert_eq!(inp(&mut v, 0x3CF), 0xA5);
    gc(&mut v, 9, 0x12);
    assert_eq!(inp(&mut v, 0x3CF), 0xFF, "no register 9");
}

#[test]
fn crtc_protect_bit_locks_registers_0_to_7_except_line_compare_bit_8() {
    let mut v = small();
    crtc(&mut v, 0x00, 0x5F);
    crtc(&mut v, 0x07, 0x00);
    crtc(&mut v, 0x11, 0x80);
    crtc(&mut v, 0x00, 0x11);
    assert_eq!(crtc_get(&mut v, 0x00), 0x5F);
    crtc(&mut v, 0x07, 0xFF);
    assert_eq!(crtc_get(&mut v, 0x07), 0x10);
    // Registers above 7 are not protected.
    crtc(&mut v, 0x0C, 0x34);
    assert_eq!(crtc_get(&mut v, 0x0C), 0x34);
    crtc(&mut v, 0x11, 0x00);
    crtc(&mut v, 0x00, 0x11);
    assert_eq!(crtc_get(&mut v, 0x00), 0x11);
}

#[test]
fn crtc_indices_past_0x18_read_ff_and_ignore_writes() {
    let mut v = small();
    out(&mut v, 0x3D4, 0x19);
    out(&mut v, 0x3D5, 0x12);
    assert_eq!(inp(&mut v, 0x3D4), 0x19);
    assert_eq!(inp(&mut v, 0x3D5), 0xFF);
    out(&mut v, 0x3D4, 0xFF);
    out(&mut v, 0x3D5, 0x12);
    assert_eq!(inp(&mut v, 0x3D5), 0xFF);
}

#[test]
fn word_out_to_an_index_port_writes_index_then_data() {
    let mut v = small();
    v.io_write(T0, 0x3C4, IoSize::Word, 0x0302);
    assert_eq!(inp(&mut v, 0x3C4), 0x02);
    assert_eq!(inp(&mut v, 0x3C5), 0x03);
    v.io_write(T0, 0x3D4, IoSize::Word, 0x400E);
    assert_eq!(crtc_get(&mut v, 0x0E), 0x40);
    assert_eq!(v.io_read(T0, 0x3C4, IoSize::Word), 0x0302);
}

// --- Attribute controller ---------------------------------------------------

#[test]
fn attribute_flip_flop_alternates_and_input_status_1_read_resets_it() {
    let mut v = small();
    inp(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x11); // index: overscan (PAS clear)
    out(&mut v, 0x3C0, 0x2A); // data
    assert_eq!(inp(&mut v, 0x3C0), 0x11);
    assert_eq!(inp(&mut v, 0x3C1), 0x2A);
    // The flip-flop is back at "index": this write selects register 0x12.
    out(&mut v, 0x3C0, 0x12);
    assert_eq!(inp(&mut v, 0x3C0), 0x12);
    // Half-way through (index written), reading 0x3DA resets it: the next
    // write is an index again, not data for 0x12.
    inp(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x13);
    out(&mut v, 0x3C0, 0x07);
    assert_eq!(inp(&mut v, 0x3C0), 0x13);
    assert_eq!(inp(&mut v, 0x3C1), 0x07);
    out(&mut v, 0x3C0, 0x12);
    assert_eq!(inp(&mut v, 0x3C1), 0x00, "0x12 was never written");
    // Reading the data port does not toggle the flip-flop.
    inp(&mut v, 0x3C1);
    out(&mut v, 0x3C0, 0x3F);
    assert_eq!(inp(&mut v, 0x3C1), 0x3F, "masked to six bits");
}

#[test]
fn attribute_palette_takes_writes_only_while_pas_is_clear() {
    let mut v = small();
    ac(&mut v, 0x05, 0x15);
    inp(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x25); // PAS set, index 5
    out(&mut v, 0x3C0, 0x3F);
    assert_eq!(inp(&mut v, 0x3C0), 0x25);
    assert_eq!(inp(&mut v, 0x3C1), 0x15);
    // Other registers are writable with PAS set.
    inp(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x31);
    out(&mut v, 0x3C0, 0x04);
    assert_eq!(inp(&mut v, 0x3C1), 0x04);
}

#[test]
fn attribute_indices_past_0x14_are_ignored() {
    let mut v = small();
    ac(&mut v, 0x1F, 0x12);
    assert_eq!(inp(&mut v, 0x3C1), 0xFF);
    let before = v.ac;
    ac(&mut v, 0x15, 0x12);
    assert_eq!(v.ac, before);
}

// --- DAC ---------------------------------------------------------------------

#[test]
fn dac_write_index_auto_increments_after_three_components() {
    let mut v = small();
    out(&mut v, 0x3C8, 0x10);
    for c in [0x01, 0x02, 0x03, 0x3F, 0xFF, 0x40] {
        out(&mut v, 0x3C9, c);
    }
    assert_eq!(inp(&mut v, 0x3C8), 0x12, "two entries written");
    assert_eq!(inp(&mut v, 0x3C7), 0x00, "state: write mode");
    out(&mut v, 0x3C7, 0x10);
    assert_eq!(inp(&mut v, 0x3C7), 0x03, "state: read mode");
    let got: Vec<u8> = (0..6).map(|_| inp(&mut v, 0x3C9)).collect();
    // Six-bit values: the top two bits are dropped.
    assert_eq!(got, [0x01, 0x02, 0x03, 0x3F, 0x3F, 0x00]);
    // The read index moved on to 0x12.
    assert_eq!(inp(&mut v, 0x3C9), 0x00);
}

#[test]
fn dac_entry_changes_only_when_blue_arrives_and_indices_wrap() {
    let mut v = small();
    out(&mut v, 0x3C8, 0xFF);
    out(&mut v, 0x3C9, 0x11);
    out(&mut v, 0x3C9, 0x22);
    assert_eq!(&v.dac.palette[765..768], &[0, 0, 0]);
    out(&mut v, 0x3C9, 0x33);
    assert_eq!(&v.dac.palette[765..768], &[0x11, 0x22, 0x33]);
    assert_eq!(inp(&mut v, 0x3C8), 0x00, "wrapped to 0");
    // Setting an index restarts at red.
    out(&mut v, 0x3C8, 0x01);
    out(&mut v, 0x3C9, 0x05);
    out(&mut v, 0x3C8, 0x02);
    for c in [0x06, 0x07, 0x08] {
        out(&mut v, 0x3C9, c);
    }
    assert_eq!(&v.dac.palette[3..9], &[0, 0, 0, 0x06, 0x07, 0x08]);
}

#[test]
fn dac_pixel_mask_applies_to_every_lookup() {
    let mut v = small();
    out(&mut v, 0x3C8, 0x03);
    for c in [0x3F, 0x00, 0x00] {
        out(&mut v, 0x3C9, c);
    }
    assert_eq!(v.dac.rgb(0x03), 0xFF0000);
    assert_eq!(v.dac.rgb(0x83), 0x000000);
    out(&mut v, 0x3C6, 0x0F);
    assert_eq!(inp(&mut v, 0x3C6), 0x0F);
    assert_eq!(v.dac.rgb(0x83), 0xFF0000);
    out(&mut v, 0x3C6, 0x00);
    assert_eq!(v.dac.rgb(0x03), 0x000000);
}

// --- Input status 1 and timing -------------------------------------------

#[test]
fn vertical_retrace_follows_virtual_time_at_70_hz_in_mode_3() {
    let mut v = small();
    v.set_text_mode_80x25(&[]);
    let clock = ClockRate::hz(28_322_000);
    let at_line = |line: u64, dot: u64| clock.tick_time(line * 900 + dot);
    let st = |v: &mut Vga, t: VirtualTime| v.io_read(t, 0x3DA, IoSize::Byte) as u8;
    assert_eq!(st(&mut v, at_line(0, 0)), 0, "displaying");
    assert_eq!(
        st(&mut v, at_line(0, 720)),
        ST01_DISPLAY_DISABLED,
        "right border"
    );
    assert_eq!(st(&mut v, at_line(411, 0)), ST01_DISPLAY_DISABLED);
    assert_eq!(
        st(&mut v, at_line(412, 0)),
        ST01_VRETRACE | ST01_DISPLAY_DISABLED
    );
    assert_eq!(
        st(&mut v, at_line(413, 899)),
        ST01_VRETRACE | ST01_DISPLAY_DISABLED
    );
    assert_eq!(st(&mut v, at_line(414, 0)), ST01_DISPLAY_DISABLED);
    // The next frame starts after 449 lines.
    assert_eq!(st(&mut v, at_line(449, 0)), 0);
    assert_eq!(
        st(&mut v, at_line(449 + 412, 10)) & ST01_VRETRACE,
        ST01_VRETRACE
    );
    // Retrace starts about 70 times a virtual second.
    let mut starts = 0;
    let mut was = false;
    for i in 0..20_000u64 {
        let now = st(&mut v, VirtualTime::from_micros(i * 50)) & ST01_VRETRACE != 0;
        if now && !was {
            starts += 1;
        }
        was = now;
    }
    assert!((69..=71).contains(&starts), "{starts} retraces in 1 s");
}

#[test]
fn mode_12h_runs_at_60_hz_and_nonsense_timing_falls_back_to_70_hz() {
    let mut v = small();
    mode_12h(&mut v);
    let t = v.timing();
    assert_eq!((t.htotal, t.vtotal, t.dot_hz), (800, 525, 25_175_000));
    assert_eq!((t.vdisplay, t.vretrace, t.vretrace_len), (480, 490, 2));
    // Power-on zeros describe a 300+ kHz "frame": not a monitor mode.
    let v = small();
    assert_eq!(v.timing(), Timing::VGA_70HZ);
    // Retrace still comes round, so a guest polling for it never hangs.
    let mut v = small();
    let seen = (0..400u64)
        .any(|i| v.io_read(VirtualTime::from_micros(i * 50), 0x3DA, IoSize::Byte) & 8 != 0);
    assert!(seen);
}

// --- Memory: write modes, read modes, addressing ---------------------------

#[test]
fn map_mask_selects_the_planes_a_write_reaches() {
    let mut v = small();
    planar(&mut v);
    seq(&mut v, 2, 0b0101);
    wmem(&mut v, 0xA0100, 0xC3);
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0x100)),
        [0xC3, 0x00, 0xC3, 0x00]
    );
    seq(&mut v, 2, 0);
    wmem(&mut v, 0xA0100, 0xFF);
    assert_eq!(plane(&v, 0, 0x100), 0xC3);
}

#[test]
fn write_mode_0_rotates_applies_set_reset_alu_and_bit_mask_with_latches() {
    let mut v = small();
    planar(&mut v);
    for p in 0..4 {
        v.set_plane_byte(p, 0x20, 0xF0);
    }
    rmem(&mut v, 0xA0020); // latches = F0 F0 F0 F0
                           // Rotate right by 4, XOR with the latches, only the low nibble.
    gc(&mut v, 3, 0x18 | 4);
    gc(&mut v, 8, 0x0F);
    // Set/reset enabled for plane 1 (to 1s) and plane 2 (to 0s).
    gc(&mut v, 0, 0b0010);
    gc(&mut v, 1, 0b0110);
    wmem(&mut v, 0xA0020, 0x5A); // rotated: 0xA5
                                 // plane 0/3: (A5 ^ F0) & 0F | F0 & F0 = 0x55 & 0x0F | 0xF0 = 0xF5
                                 // plane 1: (FF ^ F0) & 0F | F0 = 0xFF
                                 // plane 2: (00 ^ F0) & 0F | F0 = 0xF0
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0x20)),
        [0xF5, 0xFF, 0xF0, 0xF5]
    );
    // AND and OR.
    gc(&mut v, 1, 0);
    gc(&mut v, 3, 0x08);
    gc(&mut v, 8, 0xFF);
    wmem(&mut v, 0xA0020, 0x3C);
    assert_eq!(plane(&v, 0, 0x20), 0x3C & 0xF0);
    gc(&mut v, 3, 0x10);
    wmem(&mut v, 0xA0020, 0x3C);
    assert_eq!(plane(&v, 0, 0x20), 0x3C | 0xF0);
}

#[test]
fn write_mode_1_copies_the_latches() {
    let mut v = small();
    planar(&mut v);
    for (p, b) in [0x11, 0x22, 0x33, 0x44].into_iter().enumerate() {
        v.set_plane_byte(p, 0x40, b);
    }
    rmem(&mut v, 0xA0040);
    gc(&mut v, 5, 0x01);
    gc(&mut v, 8, 0x00); // the bit mask does not apply
    wmem(&mut v, 0xA0080, 0x99);
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0x80)),
        [0x11, 0x22, 0x33, 0x44]
    );
}

#[test]
fn write_mode_2_expands_the_cpu_colour_under_the_bit_mask() {
    let mut v = small();
    planar(&mut v);
    gc(&mut v, 5, 0x02);
    gc(&mut v, 3, 0x03); // rotation does not apply in write mode 2
    gc(&mut v, 8, 0x81);
    rmem(&mut v, 0xA0000);
    wmem(&mut v, 0xA0000, 0x0A); // colour 1010
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0)),
        [0x00, 0x81, 0x00, 0x81]
    );
}

#[test]
fn write_mode_3_uses_the_rotated_cpu_byte_as_a_mask_for_set_reset() {
    let mut v = small();
    planar(&mut v);
    for p in 0..4 {
        v.set_plane_byte(p, 7, 0x0F);
    }
    gc(&mut v, 5, 0x03);
    gc(&mut v, 0, 0b1001);
    gc(&mut v, 8, 0xF0);
    gc(&mut v, 3, 0x01); // rotate right by 1
    rmem(&mut v, 0xA0007);
    wmem(&mut v, 0xA0007, 0xC1); // rotated: 0xE0, & bit mask: 0xE0
                                 // Set planes get E0 | (0F & 1F), reset planes 00 | (0F & 1F).
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 7)),
        [0xEF, 0x0F, 0x0F, 0xEF]
    );
}

#[test]
fn read_mode_0_returns_the_selected_plane_and_loads_all_latches() {
    let mut v = small();
    planar(&mut v);
    for (p, b) in [0xA1, 0xB2, 0xC3, 0xD4].into_iter().enumerate() {
        v.set_plane_byte(p, 0x1234, b);
    }
    for p in 0..4u8 {
        gc(&mut v, 4, p);
        assert_eq!(rmem(&mut v, 0xA1234), [0xA1, 0xB2, 0xC3, 0xD4][p as usize]);
    }
    assert_eq!(v.latch, [0xA1, 0xB2, 0xC3, 0xD4]);
}

#[test]
fn read_mode_1_compares_colours_with_dont_care_planes() {
    let mut v = small();
    planar(&mut v);
    // Pixels 0-7 of colours 0,1,...,7 at offset 0.
    let mut planes = [0u8; 4];
    for px in 0..8u8 {
        for (p, byte) in planes.iter_mut().enumerate() {
            if px >> p & 1 != 0 {
                *byte |= 0x80 >> px;
            }
        }
    }
    for (p, &b) in planes.iter().enumerate() {
        v.set_plane_byte(p, 0, b);
    }
    gc(&mut v, 5, 0x08);
    gc(&mut v, 7, 0x0F);
    gc(&mut v, 2, 5);
    assert_eq!(rmem(&mut v, 0xA0000), 0x80 >> 5);
    // Ignore plane 2: colours 1 and 5 both match 5.
    gc(&mut v, 7, 0x0B);
    assert_eq!(rmem(&mut v, 0xA0000), (0x80 >> 5) | (0x80 >> 1));
    // Nothing cared about: everything matches.
    gc(&mut v, 7, 0x00);
    assert_eq!(rmem(&mut v, 0xA0000), 0xFF);
}

#[test]
fn chain_4_selects_the_plane_with_the_low_address_bits() {
    let mut v = small();
    mode_13h(&mut v);
    for i in 0..8u32 {
        wmem(&mut v, 0xA0000 + 0x100 + i, 0x10 + i as u8);
    }
    // Bytes 0x100-0x103 are plane 0-3 at offset 0x100, 0x104-0x107 at 0x104.
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0x100)),
        [0x10, 0x11, 0x12, 0x13]
    );
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0x104)),
        [0x14, 0x15, 0x16, 0x17]
    );
    for i in 0..8u32 {
        assert_eq!(rmem(&mut v, 0xA0100 + i), 0x10 + i as u8);
    }
    // The window is 64 KiB at A0000.
    assert_eq!(rmem(&mut v, 0xB0000), 0xFF);
}

#[test]
fn odd_even_text_addressing_puts_characters_in_plane_0_and_attributes_in_plane_1() {
    let mut v = small();
    v.set_text_mode_80x25(&[]);
    wmem(&mut v, 0xB8000 + 160, b'H');
    wmem(&mut v, 0xB8000 + 161, 0x1F);
    assert_eq!(plane(&v, 0, 160), b'H');
    assert_eq!(plane(&v, 1, 160), 0x1F);
    assert_eq!(
        plane(&v, 2, 160),
        0,
        "the font plane is write-protected by the map mask"
    );
    assert_eq!(rmem(&mut v, 0xB8000 + 160), b'H');
    assert_eq!(rmem(&mut v, 0xB8000 + 161), 0x1F);
    // The window is B8000-BFFFF only.
    assert_eq!(rmem(&mut v, 0xA0000), 0xFF);
    assert_eq!(rmem(&mut v, 0xB0000), 0xFF);
    wmem(&mut v, 0xB0000, 0x41);
    assert_eq!(plane(&v, 0, 0), b' ');
}

#[test]
fn memory_map_select_chooses_the_window() {
    let mut v = small();
    planar(&mut v);
    gc(&mut v, 6, 0x01); // map 0: A0000-BFFFF, 128 KiB
    wmem(&mut v, 0xB0005, 0x77);
    // Planes are 64 KiB: B0005 wraps to offset 5.
    assert_eq!(plane(&v, 0, 5), 0x77);
    gc(&mut v, 6, 0x09); // map 2: B0000-B7FFF
    assert_eq!(rmem(&mut v, 0xB0005), 0x77);
    assert_eq!(rmem(&mut v, 0xB8005), 0xFF);
    assert_eq!(rmem(&mut v, 0xA0005), 0xFF);
}

#[test]
fn wide_mmio_accesses_are_bytes_in_address_order() {
    let mut v = small();
    mode_13h(&mut v);
    v.mmio_write(T0, 0xA0000, IoSize::Dword, 0x4433_2211);
    assert_eq!(
        [0, 1, 2, 3].map(|p| plane(&v, p, 0)),
        [0x11, 0x22, 0x33, 0x44]
    );
    assert_eq!(v.mmio_read(T0, 0xA0001, IoSize::Word), 0x3322);
}

// --- Rendering ----------------------------------------------------------------

/// A font with three glyphs: 'A' a diagonal, 0xC4 a full line at row 8
/// plus its rightmost dot on every row, 0xDB all set. Everything else
/// blank.
fn test_font() -> Vec<u8> {
    let mut f = vec![0u8; 256 * 16];
    for r in 0..16 {
        f[0x41 * 16 + r] = 0x80 >> (r % 8);
        f[0xC4 * 16 + r] = if r == 8 { 0xFF } else { 0x01 };
        f[0xDB * 16 + r] = 0xFF;
    }
    f
}

fn text_screen() -> Vga {
    let mut v = small();
    v.set_text_mode_80x25(&test_font());
    v
}

#[test]
fn text_cell_renders_the_plane_2_glyph_in_attribute_colours() {
    let mut v = text_screen();
    wmem(&mut v, 0xB8002, 0x41);
    wmem(&mut v, 0xB8003, 0x1E); // yellow on blue
    let f = v.render();
    assert_eq!((f.width, f.height), (720, 400));
    let yellow = rgb6(0x3F, 0x3F, 0x15);
    let blue = rgb6(0x00, 0x00, 0x2A);
    for r in 0..16u32 {
        for dx in 0..9u32 {
            let lit = dx < 8 && (0x80u32 >> (r % 8)) >> (7 - dx) & 1 != 0;
            let want = if lit { yellow } else { blue };
            assert_eq!(f.pixel(9 + dx, r), Some(want), "row {r} dot {dx}");
        }
    }
    // The next cell is a grey-on-black space.
    assert_eq!(f.pixel(18, 0), Some(0));
}

#[test]
fn ninth_dot_repeats_the_eighth_for_line_graphics_only() {
    let mut v = text_screen();
    for (cell, ch) in [(0u32, 0xC4u8), (1, 0x41)] {
        wmem(&mut v, 0xB8000 + 160 + 2 * cell, ch);
    }
    let f = v.render();
    let grey = rgb6(0x2A, 0x2A, 0x2A);
    // Row 1, scan line 8: 0xC4 is a solid line across all 9 dots.
    assert_eq!(f.pixel(8, 16 + 8), Some(grey));
    assert_eq!(f.pixel(8, 16 + 3), Some(grey), "dot 8 copies dot 7");
    // 'A' row 7 has dot 7 set; its 9th dot stays background.
    assert_eq!(f.pixel(9 + 7, 16 + 7), Some(grey));
    assert_eq!(f.pixel(9 + 8, 16 + 7), Some(0));
    // Line graphics off: the 9th dot is background for 0xC4 too.
    ac(&mut v, 0x10, 0x08);
    out(&mut v, 0x3C0, 0x20);
    let f = v.render();
    assert_eq!(f.pixel(8, 16 + 8), Some(0));
    // 8-dot characters: 640 wide.
    seq(&mut v, 1, 0x01);
    assert_eq!(v.render().width, 640);
}

#[test]
fn cursor_covers_its_scan_lines_and_blinks() {
    let mut v = text_screen();
    crtc(&mut v, 0x0E, 0x00);
    crtc(&mut v, 0x0F, 81); // row 1, column 1
    assert_eq!(v.cursor_position(), Some((1, 1)));
    let grey = rgb6(0x2A, 0x2A, 0x2A);
    let f = v.render();
    for y in 0..16 {
        let want = if (13..=14).contains(&y) { grey } else { 0 };
        for x in 9..18 {
            assert_eq!(f.pixel(x, 16 + y), Some(want), "({x}, {y})");
        }
    }
    // 8 frames later the cursor is in its dark phase.
    let frame = ClockRate::hz(28_322_000).tick_time(900 * 449 * 8);
    v.advance(frame);
    assert_eq!(v.render().pixel(9, 16 + 13), Some(0));
    v.advance(frame.add_nanos(frame.as_nanos()));
    assert_eq!(v.render().pixel(9, 16 + 13), Some(grey));
    // Disabled cursor: nothing drawn, no position.
    crtc(&mut v, 0x0A, 0x20 | 13);
    assert_eq!(v.render().pixel(9, 16 + 13), Some(0));
    assert_eq!(v.cursor_position(), None);
}

#[test]
fn attribute_bit_7_blinks_or_brightens_the_background() {
    let mut v = text_screen();
    wmem(&mut v, 0xB8000, 0x41); // row 0: dot 0 only
    wmem(&mut v, 0xB8001, 0xC2); // blinking green on red
    let green = rgb6(0, 0x2A, 0);
    let red = rgb6(0x2A, 0, 0);
    assert_eq!(v.render().pixel(0, 0), Some(green));
    assert_eq!(v.render().pixel(1, 0), Some(red), "bit 7 is not intensity");
    let g0 = v.generation();
    // 16 frames on: the character is hidden.
    v.advance(ClockRate::hz(28_322_000).tick_time(900 * 449 * 16));
    assert_ne!(v.generation(), g0, "blinking changes the picture");
    assert_eq!(v.render().pixel(0, 0), Some(red));
    // Blink off (AC10 bit 3 clear): bit 7 is background intensity.
    ac(&mut v, 0x10, 0x04);
    out(&mut v, 0x3C0, 0x20);
    let light_red = rgb6(0x3F, 0x15, 0x15);
    assert_eq!(v.render().pixel(1, 0), Some(light_red));
    assert_eq!(v.render().pixel(0, 0), Some(green));
}

#[test]
fn text_snapshot_follows_the_crtc_start_address() {
    let mut v = text_screen();
    for (i, b) in b"Hello".iter().enumerate() {
        wmem(&mut v, 0xB8000 + 2 * i as u32, *b);
    }
    wmem(&mut v, 0xB8000 + 160, 0xC4);
    wmem(&mut v, 0xB8000 + 162, 0x01);
    let s = v.text_snapshot().unwrap();
    assert_eq!(s.len(), 25);
    assert!(s.iter().all(|r| r.chars().count() == 80));
    assert!(s[0].starts_with("Hello "));
    assert!(s[1].starts_with("─☺ "));
    // Start address one row down: row 1 is now the top.
    crtc(&mut v, 0x0C, 0);
    crtc(&mut v, 0x0D, 80);
    let s = v.text_snapshot().unwrap();
    assert!(s[0].starts_with("─☺"));
    // The cursor is reported relative to the start address.
    crtc(&mut v, 0x0F, 80 + 3);
    assert_eq!(v.cursor_position(), Some((0, 3)));
    // Graphics modes have no text.
    mode_13h(&mut v);
    assert_eq!(v.text_snapshot(), None);
    assert_eq!(v.cursor_position(), None);
}

#[test]
fn second_font_is_selected_by_attribute_bit_3() {
    let mut v = text_screen();
    // Font 1 (at 16 KiB in plane 2): 'A' is a solid block.
    for r in 0..16 {
        v.set_plane_byte(2, 0x4000 + 0x41 * 32 + r, 0xFF);
    }
    // Character map select: font A (attr bit 3 set) = 1, font B = 0.
    seq(&mut v, 3, 0x04);
    wmem(&mut v, 0xB8000, 0x41);
    wmem(&mut v, 0xB8001, 0x0F);
    wmem(&mut v, 0xB8002, 0x41);
    wmem(&mut v, 0xB8003, 0x07);
    let f = v.render();
    assert_eq!(f.pixel(7, 0), Some(0xFFFFFF), "font A: solid");
    assert_eq!(
        f.pixel(9 + 7, 0),
        Some(0),
        "font B: diagonal, dot 7 clear on row 0"
    );
}

#[test]
fn mode_13h_pixel_goes_through_the_dac() {
    let mut v = small();
    mode_13h(&mut v);
    out(&mut v, 0x3C8, 0x42);
    for c in [0x3F, 0x20, 0x01] {
        out(&mut v, 0x3C9, c);
    }
    wmem(&mut v, 0xA0000 + 7 * 320 + 5, 0x42);
    let f = v.render();
    assert_eq!((f.width, f.height), (320, 200));
    assert_eq!(f.pixel(5, 7), Some(0xFF8204));
    assert_eq!(f.pixel(4, 7), Some(0));
    assert_eq!(f.pixel(5, 6), Some(0));
    assert_eq!(f.pixels.iter().filter(|&&p| p != 0).count(), 1);
}

#[test]
fn mode_12h_planar_pixel_goes_through_the_attribute_palette_and_dac() {
    let mut v = small();
    mode_12h(&mut v);
    // Write mode 2, bit mask for pixel 10 of its byte.
    gc(&mut v, 5, 0x02);
    gc(&mut v, 8, 0x80 >> 2);
    let addr = 0xA0000 + 3 * 80 + 1;
    rmem(&mut v, addr);
    wmem(&mut v, addr, 0x0C);
    let f = v.render();
    assert_eq!((f.width, f.height), (640, 480));
    // Colour 12 -> palette 0x3C -> light red.
    assert_eq!(f.pixel(10, 3), Some(rgb6(0x3F, 0x15, 0x15)));
    assert_eq!(f.pixel(9, 3), Some(0));
    assert_eq!(f.pixel(11, 3), Some(0));
    // Colour plane enable without plane 2: colour 12 becomes 8 (dark grey).
    ac(&mut v, 0x12, 0x0B);
    out(&mut v, 0x3C0, 0x20);
    assert_eq!(v.render().pixel(10, 3), Some(rgb6(0x15, 0x15, 0x15)));
}

#[test]
fn line_compare_splits_the_screen_back_to_address_0() {
    let mut v = small();
    mode_13h(&mut v);
    out(&mut v, 0x3C8, 1);
    for c in [0x3F, 0x3F, 0x3F] {
        out(&mut v, 0x3C9, c);
    }
    // Row 0 lit; the display starts at row 100.
    for x in 0..320 {
        wmem(&mut v, 0xA0000 + x, 1);
    }
    let start = 100 * 80;
    crtc(&mut v, 0x0C, (start >> 8) as u8);
    crtc(&mut v, 0x0D, start as u8);
    assert_eq!(v.render().pixel(0, 0), Some(0));
    // Split after scan line 199 (row 99 at 2 lines per row): row 100 of
    // the frame shows memory row 0.
    crtc(&mut v, 0x11, 0x0E); // unprotect
    crtc(&mut v, 0x07, 0x0F); // line compare bit 8 clear
    crtc(&mut v, 0x09, 0x01); // line compare bit 9 clear
    crtc(&mut v, 0x18, 199);
    let f = v.render();
    assert_eq!(f.pixel(0, 99), Some(0));
    assert_eq!(f.pixel(0, 100), Some(0xFFFFFF));
    assert_eq!(f.pixel(319, 100), Some(0xFFFFFF));
    assert_eq!(f.pixel(0, 101), Some(0));
}

#[test]
fn screen_off_and_palette_loading_blank_the_display() {
    let mut v = text_screen();
    wmem(&mut v, 0xB8000, 0xDB);
    assert_ne!(v.render().pixel(0, 0), Some(0));
    seq(&mut v, 1, 0x20);
    assert_eq!(v.render().pixel(0, 0), Some(0));
    seq(&mut v, 1, 0x00);
    // PAS clear: the overscan colour everywhere.
    ac(&mut v, 0x11, 0x01);
    let f = v.render();
    assert!(f.pixels.iter().all(|&p| p == rgb6(0, 0, 0x2A)));
}

#[test]
fn generation_changes_on_writes_and_not_on_reads() {
    let mut v = small();
    mode_13h(&mut v);
    let g = v.generation();
    rmem(&mut v, 0xA0000);
    inp(&mut v, 0x3DA);
    assert_eq!(v.generation(), g);
    wmem(&mut v, 0xA0000, 1);
    assert_ne!(v.generation(), g);
}

#[test]
fn cga_interleaved_mode_4_renders_two_bits_per_pixel() {
    let mut v = small();
    // Mode 4's registers (320x200x4, CGA layout at B8000).
    let mut acs = [0u8; 21];
    acs[..16].copy_from_slice(&[
        0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
        0x17,
    ]);
    acs[16..].copy_from_slice(&[0x01, 0x00, 0x03, 0x00, 0x00]);
    load(
        &mut v,
        0x63,
        [0x09, 0x03, 0x00, 0x02],
        [
            0x2D, 0x27, 0x28, 0x90, 0x2B, 0x80, 0xBF, 0x1F, 0x00, 0xC1, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x14, 0x00, 0x96, 0xB9, 0xA2, 0xFF,
        ],
        acs,
        [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0F, 0x0F, 0xFF],
    );
    out(&mut v, 0x3C8, 0);
    for i in 0..64 {
        for c in ega_colour(i) {
            out(&mut v, 0x3C9, c);
        }
    }
    // Line 0: first byte = pixels 3,2,1,0 colours; line 1 is in the
    // second bank at B8000 + 0x2000.
    wmem(&mut v, 0xB8000, 0b11_10_01_00);
    wmem(&mut v, 0xB8001, 0b01_00_00_00);
    wmem(&mut v, 0xBA000, 0b10_00_00_00);
    let f = v.render();
    assert_eq!((f.width, f.height), (320, 200));
    let colour = |i: u8| {
        let [r, g, b] = ega_colour(i);
        rgb6(r, g, b)
    };
    assert_eq!(f.pixel(0, 0), Some(colour(0x17)));
    assert_eq!(f.pixel(1, 0), Some(colour(0x15)));
    assert_eq!(f.pixel(2, 0), Some(colour(0x13)));
    assert_eq!(f.pixel(3, 0), Some(colour(0x00)));
    assert_eq!(f.pixel(4, 0), Some(colour(0x13)));
    assert_eq!(f.pixel(0, 1), Some(colour(0x15)));
}

// --- VBE ----------------------------------------------------------------------

#[test]
fn vbe_id_negotiation_accepts_only_known_versions() {
    let mut v = big();
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    for id in VBE_DISPI_ID0..=VBE_DISPI_ID5 {
        dispi(&mut v, VBE_DISPI_INDEX_ID, id);
        assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ID), id);
    }
    for bad in [0xB0C6, 0x0000, 0xFFFF, 0xB0BF] {
        dispi(&mut v, VBE_DISPI_INDEX_ID, bad);
        assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    }
    assert_eq!(v.io_read(T0, VBE_INDEX_PORT, IoSize::Word), 0);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIDEO_MEMORY_64K), 256);
}

fn vbe_mode(v: &mut Vga, x: u16, y: u16, bpp: u16, flags: u16) {
    dispi(v, VBE_DISPI_INDEX_ENABLE, 0);
    dispi(v, VBE_DISPI_INDEX_XRES, x);
    dispi(v, VBE_DISPI_INDEX_YRES, y);
    dispi(v, VBE_DISPI_INDEX_BPP, bpp);
    dispi(v, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | flags);
    // The display enable in the attribute controller, as drivers set it.
    inp(v, 0x3DA);
    out(v, 0x3C0, 0x20);
}

#[test]
fn vbe_enable_sets_up_the_mode_and_clears_memory_unless_told_not_to() {
    let mut v = big();
    v.mmio_write(T0, DEFAULT_LFB_BASE, IoSize::Dword, 0xDEAD_BEEF);
    vbe_mode(&mut v, 1024, 768, 32, VBE_DISPI_LFB_ENABLED);
    assert_eq!(
        dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE),
        VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED
    );
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH), 1024);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_HEIGHT), 4096);
    assert_eq!(v.mmio_read(T0, DEFAULT_LFB_BASE, IoSize::Dword), 0);
    let f = v.render();
    assert_eq!((f.width, f.height), (1024, 768));
    // XRES/YRES/BPP are frozen while enabled.
    dispi(&mut v, VBE_DISPI_INDEX_XRES, 800);
    dispi(&mut v, VBE_DISPI_INDEX_BPP, 8);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_XRES), 1024);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BPP), 32);
    // Re-enable with NOCLEARMEM keeps memory.
    v.mmio_write(T0, DEFAULT_LFB_BASE, IoSize::Dword, 0x1234_5678);
    vbe_mode(&mut v, 800, 600, 16, VBE_DISPI_NOCLEARMEM);
    assert_eq!(
        v.mmio_read(T0, DEFAULT_LFB_BASE, IoSize::Dword),
        0x1234_5678
    );
    // Disabling returns to the VGA picture.
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, 0);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE), 0);
    assert_ne!(v.render().width, 800);
}

#[test]
fn vbe_32bpp_lfb_pixel_renders_directly() {
    let mut v = big();
    vbe_mode(&mut v, 640, 480, 32, VBE_DISPI_LFB_ENABLED);
    let at = DEFAULT_LFB_BASE + (10 * 640 + 20) * 4;
    v.mmio_write(T0, at, IoSize::Dword, 0x00AB_CDEF);
    let f = v.render();
    assert_eq!(f.pixel(20, 10), Some(0xABCDEF));
    assert_eq!(f.pixel(21, 10), Some(0));
}

#[test]
fn vbe_direct_colour_depths_and_8bpp_through_the_dac() {
    let mut v = big();
    vbe_mode(&mut v, 64, 4, 24, 0);
    for (i, b) in [0x11, 0x22, 0x33].into_iter().enumerate() {
        wmem(&mut v, DEFAULT_LFB_BASE + 3 + i as u32, b);
    }
    assert_eq!(v.render().pixel(1, 0), Some(0x332211));
    vbe_mode(&mut v, 64, 4, 16, 0);
    v.mmio_write(T0, DEFAULT_LFB_BASE, IoSize::Word, 0xF800 | 0x07E0);
    assert_eq!(v.render().pixel(0, 0), Some(0xFFFF00));
    vbe_mode(&mut v, 64, 4, 15, 0);
    v.mmio_write(T0, DEFAULT_LFB_BASE, IoSize::Word, 0x001F);
    assert_eq!(v.render().pixel(0, 0), Some(0x0000FF));
    vbe_mode(&mut v, 64, 4, 8, 0);
    out(&mut v, 0x3C8, 9);
    for c in [0x00, 0x3F, 0x00] {
        out(&mut v, 0x3C9, c);
    }
    wmem(&mut v, DEFAULT_LFB_BASE + 64 + 2, 9);
    assert_eq!(v.render().pixel(2, 1), Some(0x00FF00));
}

#[test]
fn vbe_8bit_dac_keeps_colours_and_widens_components() {
    let mut v = big();
    out(&mut v, 0x3C8, 1);
    for c in [0x3F, 0x10, 0x00] {
        out(&mut v, 0x3C9, c);
    }
    vbe_mode(&mut v, 64, 4, 8, VBE_DISPI_8BIT_DAC);
    assert_eq!(v.dac.rgb(1), 0xFC4000);
    out(&mut v, 0x3C8, 2);
    for c in [0xFF, 0x80, 0x01] {
        out(&mut v, 0x3C9, c);
    }
    out(&mut v, 0x3C7, 2);
    assert_eq!([0; 3].map(|_| inp(&mut v, 0x3C9)), [0xFF, 0x80, 0x01]);
    assert_eq!(v.dac.rgb(2), 0xFF8001);
    // Back to 6 bits.
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, 0);
    assert_eq!(v.dac.rgb(1), rgb6(0x3F, 0x10, 0x00));
}

#[test]
fn vbe_bank_selects_the_64k_window_at_a0000() {
    let mut v = big();
    vbe_mode(&mut v, 1024, 768, 8, 0);
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 3);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BANK), 3);
    wmem(&mut v, 0xA0010, 0x5A);
    assert_eq!(v.vram()[3 * 0x1_0000 + 0x10], 0x5A);
    assert_eq!(rmem(&mut v, DEFAULT_LFB_BASE + 3 * 0x1_0000 + 0x10), 0x5A);
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 0);
    assert_eq!(rmem(&mut v, 0xA0010), 0);
    // Banks past the end of video memory are refused.
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 256);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BANK), 0);
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 255);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BANK), 255);
    // Only A0000-AFFFF is the bank window.
    assert_eq!(rmem(&mut v, 0xB0000), 0xFF);
}

#[test]
fn vbe_rejects_huge_or_unfitting_modes() {
    let mut v = big();
    dispi(&mut v, VBE_DISPI_INDEX_XRES, 0xFFFF);
    dispi(&mut v, VBE_DISPI_INDEX_YRES, 60000);
    dispi(&mut v, VBE_DISPI_INDEX_BPP, 33);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_XRES), 640);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_YRES), 480);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BPP), 8);
    // 2560x1600x32 (16 000 KiB) fits 16 MiB but not 8: enabling is
    // refused.
    let mut v = Vga::new(VgaConfig {
        vram_size: 8 << 20,
        lfb_base: DEFAULT_LFB_BASE,
    });
    dispi(&mut v, VBE_DISPI_INDEX_XRES, 2560);
    dispi(&mut v, VBE_DISPI_INDEX_YRES, 1600);
    dispi(&mut v, VBE_DISPI_INDEX_BPP, 32);
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE) & 1, 0);
    // A zero-sized mode likewise.
    dispi(&mut v, VBE_DISPI_INDEX_XRES, 0);
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE) & 1, 0);
    // The small card cannot show 640x480x32 at all.
    let mut s = small();
    vbe_mode(&mut s, 640, 480, 32, 0);
    assert_eq!(dispi_get(&mut s, VBE_DISPI_INDEX_ENABLE) & 1, 0);
    // BPP 0 means 8.
    dispi(&mut v, VBE_DISPI_INDEX_BPP, 0);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BPP), 8);
}

#[test]
fn vbe_getcaps_reads_the_maximums() {
    let mut v = big();
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_XRES), VBE_DISPI_MAX_XRES);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_YRES), VBE_DISPI_MAX_YRES);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BPP), 32);
    dispi(&mut v, VBE_DISPI_INDEX_ENABLE, 0);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_XRES), 640);
}

#[test]
fn vbe_virtual_width_and_offsets_pan_the_display() {
    let mut v = big();
    vbe_mode(&mut v, 640, 480, 32, 0);
    dispi(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH, 1280);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH), 1280);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_HEIGHT), 3276);
    // A virtual width below XRES is raised to it.
    dispi(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH, 100);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH), 640);
    dispi(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH, 1280);
    // Pixel (700, 500) of the virtual screen.
    let at = DEFAULT_LFB_BASE + (500 * 1280 + 700) * 4;
    v.mmio_write(T0, at, IoSize::Dword, 0x123456);
    dispi(&mut v, VBE_DISPI_INDEX_X_OFFSET, 600);
    dispi(&mut v, VBE_DISPI_INDEX_Y_OFFSET, 480);
    assert_eq!(v.render().pixel(100, 20), Some(0x123456));
    // Offsets that would show past the virtual screen are refused.
    dispi(&mut v, VBE_DISPI_INDEX_X_OFFSET, 641);
    dispi(&mut v, VBE_DISPI_INDEX_Y_OFFSET, 3000);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_X_OFFSET), 600);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_Y_OFFSET), 480);
    // A virtual width that leaves fewer than YRES lines is refused.
    dispi(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH, 0xFFFF);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_VIRT_WIDTH), 1280);
}

#[test]
fn vbe_4bpp_is_planar_with_banks_per_plane() {
    let mut v = big();
    mode_12h(&mut v);
    vbe_mode(&mut v, 1024, 768, 4, 0);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE) & 1, 1);
    // Pixel 0 of line 700 (plane offset 700 * 128 = 89600: bank 1).
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 1);
    gc(&mut v, 5, 0x02);
    gc(&mut v, 8, 0x80);
    let off = 700 * 128 - 0x1_0000;
    rmem(&mut v, 0xA0000 + off);
    wmem(&mut v, 0xA0000 + off, 0x0C);
    let f = v.render();
    assert_eq!((f.width, f.height), (1024, 768));
    assert_eq!(f.pixel(0, 700), Some(rgb6(0x3F, 0x15, 0x15)));
    assert_eq!(f.pixel(1, 700), Some(0));
    // 16 MiB of planes: 64 banks of 64 KiB per plane.
    dispi(&mut v, VBE_DISPI_INDEX_BANK, 64);
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_BANK), 1);
}

#[test]
fn vga_mode_set_turns_vbe_off() {
    let mut v = big();
    vbe_mode(&mut v, 640, 480, 32, 0);
    v.set_text_mode_80x25(&test_font());
    assert_eq!(dispi_get(&mut v, VBE_DISPI_INDEX_ENABLE) & 1, 0);
    assert_eq!(v.render().width, 720);
}

// --- Configuration and state ------------------------------------------------

#[test]
fn config_sizes_are_clamped_and_the_lfb_can_move() {
    let v = Vga::new(VgaConfig {
        vram_size: 1,
        lfb_base: 0xFD00_0000,
    });
    assert_eq!(v.vram_size(), MIN_VRAM_SIZE);
    let mut v = Vga::new(VgaConfig {
        vram_size: (4 << 20) + 123,
        lfb_base: 0xFD00_0000,
    });
    assert_eq!(v.vram_size(), 4 << 20);
    assert_eq!(
        v.mmio_ranges(),
        [(0xA0000, 0x20000), (0xFD00_0000, 4 << 20)]
    );
    v.set_lfb_base(0xC000_0000);
    wmem(&mut v, 0xC000_0010, 0x42);
    assert_eq!(v.vram()[0x10], 0x42);
    assert_eq!(rmem(&mut v, 0xFD00_0010), 0xFF);
    assert_eq!(rmem(&mut v, 0xC040_0000), 0xFF, "past the end of the BAR");
}

#[test]
fn reset_restores_registers_and_keeps_memory() {
    let mut v = text_screen();
    wmem(&mut v, 0xB8000, b'Z');
    v.reset();
    assert_eq!(v.crtc, [0; CRTC_COUNT]);
    assert_eq!(inp(&mut v, 0x3CC), 0x03);
    assert_eq!(plane(&v, 0, 0), b'Z');
}

#[test]
fn serde_round_trip_keeps_registers_latches_and_memory() {
    let mut v = text_screen();
    wmem(&mut v, 0xB8000, b'Q');
    out(&mut v, 0x3C8, 5);
    out(&mut v, 0x3C9, 0x12); // a half-written DAC entry
    inp(&mut v, 0x3DA);
    out(&mut v, 0x3C0, 0x31); // flip-flop in the data state
    v.advance(VirtualTime::from_millis(123));
    let json = serde_json::to_string(&v).unwrap();
    let mut w: Vga = serde_json::from_str(&json).unwrap();
    assert_eq!(w, v);
    // Both continue identically.
    for d in [&mut v, &mut w] {
        out(d, 0x3C9, 0x13);
        out(d, 0x3C9, 0x14);
        out(d, 0x3C0, 0x05);
    }
    assert_eq!(w, v);
    assert_eq!(w.render(), v.render());
    assert_eq!(w.text_snapshot(), v.text_snapshot());
}

#[test]
fn saved_state_with_a_bad_memory_size_is_refused() {
    let v = small();
    let mut json: serde_json::Value = serde_json::to_value(&v).unwrap();
    json["vram"] = serde_json::Value::Array(vec![0.into(); 1000]);
    assert!(serde_json::from_value::<Vga>(json).is_err());
}

#[test]
fn doctored_saved_states_render_and_run_without_panic() {
    let mut v = Vga::new(VgaConfig {
        vram_size: 1 << 20,
        lfb_base: DEFAULT_LFB_BASE,
    });
    vbe_mode(&mut v, 64, 64, 8, 0);
    let base = serde_json::to_value(&v).unwrap();
    let edits: [(&str, &str, u64); 10] = [
        ("vbe", "bpp", 7),
        ("vbe", "xres", 65535),
        ("vbe", "yres", 0),
        ("vbe", "bank", 65535),
        ("vbe", "virt_width", 0),
        ("vbe", "y_offset", 65535),
        ("dac", "component", 200),
        ("", "seq_index", 200),
        ("", "gc_index", 255),
        ("", "ac_index", 255),
    ];
    for (outer, field, val) in edits {
        for enabled in [0u64, 1] {
            let mut j = base.clone();
            j["vbe"]["enable"] = enabled.into();
            if outer.is_empty() {
                j[field] = val.into();
            } else {
                j[outer][field] = val.into();
            }
            let mut w: Vga = serde_json::from_value(j).unwrap();
            w.render();
            for port in [0x3C1, 0x3C5, 0x3C9, 0x3CF, 0x3DA, 0x1CF] {
                w.io_read(T0, port, IoSize::Byte);
                w.io_write(T0, port, IoSize::Byte, 0xFF);
            }
            for a in [0xA0000, 0xAFFFF, 0xB8000, DEFAULT_LFB_BASE] {
                w.mmio_write(T0, a, IoSize::Dword, 0x1234_5678);
                w.mmio_read(T0, a, IoSize::Dword);
            }
            w.render();
            w.text_snapshot();
        }
    }
}

//! Reader for MOO ("Machine Opcode Operation") test files, the chunked
//! little-endian binary format of the SingleStepTests CPU suites.
//!
//! Layout (as found in the 8086 `v1_binary` and 80286 `v1_real_mode` sets):
//!
//! * every chunk is a 4-byte ASCII tag, a `u32` payload length and the payload;
//! * the file starts with a `MOO ` chunk (`u8` major, `u8` minor, `u16`
//!   reserved, `u32` test count, 4-byte CPU name), optionally followed by a
//!   `META` chunk (skipped), then one `TEST` chunk per test;
//! * a `TEST` payload is a `u32` index followed by subchunks: `NAME`, `BYTS`,
//!   `INIT`, `FINA` (each holding `REGS`, `RAM ` and `QUEU` subchunks),
//!   `CYCL`, `HASH`, `EXCP` and `GMET`.
//!
//! Unknown chunks are skipped by their length. Malformed input never panics:
//! it yields a [`MooError`] naming the file and the offset (in the
//! decompressed stream) where parsing failed.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// Register names in `REGS` bitmask order (bit 0 = `ax`).
pub const REG_NAMES: [&str; REG_COUNT] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

/// Number of registers a `REGS` chunk can describe.
pub const REG_COUNT: usize = 14;

/// Index of FLAGS in [`REG_NAMES`] / [`Regs::values`].
pub const FLAGS: usize = 13;

/// A register set as stored in a `REGS` chunk: only registers whose bit is
/// set in `mask` are present; the values of absent registers are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub mask: u16,
    pub values: [u16; REG_COUNT],
}

impl Regs {
    /// The value of register `index` (see [`REG_NAMES`]) if present.
    pub fn get(&self, index: usize) -> Option<u16> {
        (index < REG_COUNT && self.mask & (1 << index) != 0).then(|| self.values[index])
    }
}

/// Initial or final machine state of a test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub regs: Regs,
    /// `(physical address, byte)` pairs, in file order.
    pub ram: Vec<(u32, u8)>,
}

/// One test case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MooTest {
    /// Position of the test in its file (the stored index is not reliable:
    /// it is always 0 in the 8086 set).
    pub position: usize,
    /// Disassembly of the instruction.
    pub name: String,
    /// The instruction bytes (for the 286 set, including the trailing HLT).
    pub bytes: Vec<u8>,
    pub initial: State,
    pub final_state: State,
    /// SHA-1 identifying the test, when the file has a `HASH` chunk.
    pub hash: Option<[u8; 20]>,
    /// `(exception number, physical address of the pushed FLAGS word)`.
    pub exception: Option<(u8, u32)>,
    /// How many CPU cycles the `CYCL` chunk records (the instruction's
    /// length on the real chip, prefetch effects included).
    pub cycles: Option<u32>,
}

/// A parsed MOO file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MooFile {
    pub major: u8,
    pub minor: u8,
    /// CPU name from the header, e.g. `"8086"` or `"C286"`.
    pub cpu: String,
    pub tests: Vec<MooTest>,
}

/// A parse failure: which file, where in its (decompressed) bytes, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MooError {
    pub file: String,
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for MooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: offset {:#x}: {}",
            self.file, self.offset, self.message
        )
    }
}

impl std::error::Error for MooError {}

/// Render a hash as lowercase hex.
pub fn hash_hex(hash: &[u8; 20]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse a 40-digit hex string into a hash.
pub fn parse_hash(text: &str) -> Option<[u8; 20]> {
    let text = text.trim();
    if text.len() != 40 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Read and parse a MOO file; files whose name ends in `.gz` are
/// gunzipped first.
pub fn load(path: &Path) -> Result<MooFile, MooError> {
    let name = path.display().to_string();
    let io_err = |offset: usize, e: std::io::Error| MooError {
        file: name.clone(),
        offset,
        message: e.to_string(),
    };
    let raw = std::fs::read(path).map_err(|e| io_err(0, e))?;
    let data = if path.extension().is_some_and(|ext| ext == "gz") {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| MooError {
                file: name.clone(),
                offset: out.len(),
                message: format!("gzip: {e}"),
            })?;
        out
    } else {
        raw
    };
    parse(&data, &name)
}

/// Parse an uncompressed MOO image. `source` names it in errors.
pub fn parse(data: &[u8], source: &str) -> Result<MooFile, MooError> {
    parse_file(data).map_err(|e| MooError {
        file: source.to_string(),
        offset: e.offset,
        message: e.message,
    })
}

/// An error before the file name is attached.
struct RawError {
    offset: usize,
    message: String,
}

type Result2<T> = std::result::Result<T, RawError>;

/// A bounds-checked little-endian reader over a window of the file that
/// remembers its absolute offset for error messages.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the file.
    base: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Cursor { buf, pos: 0, base }
    }

    fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn error(&self, message: impl Into<String>) -> RawError {
        RawError {
            offset: self.offset(),
            message: message.into(),
        }
    }

    fn bytes(&mut self, n: usize, what: &str) -> Result2<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "truncated {what}: need {n} bytes, {} left",
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result2<u8> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result2<u16> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result2<u32> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `u32`-length-prefixed byte string.
    fn lp_bytes(&mut self, what: &str) -> Result2<&'a [u8]> {
        let n = self.u32(what)? as usize;
        self.bytes(n, what)
    }

    /// The next chunk: its tag and a cursor over its payload.
    fn chunk(&mut self) -> Result2<([u8; 4], Cursor<'a>)> {
        let start = self.offset();
        let tag: [u8; 4] = self.bytes(4, "chunk tag")?.try_into().expect("4 bytes");
        let len = self.u32("chunk length")? as usize;
        if len > self.remaining() {
            return Err(RawError {
                offset: start,
                message: format!(
                    "chunk {} claims {len} bytes but only {} remain",
                    tag_str(&tag),
                    self.remaining()
                ),
            });
        }
        let base = self.offset();
        let payload = self.bytes(len, "chunk payload")?;
        Ok((tag, Cursor::new(payload, base)))
    }
}

fn tag_str(tag: &[u8; 4]) -> String {
    tag.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect::<String>()
        .escape_debug()
        .to_string()
}

fn parse_file(data: &[u8]) -> Result2<MooFile> {
    let mut top = Cursor::new(data, 0);
    let (tag, mut header) = top.chunk()?;
    if &tag != b"MOO " {
        return Err(RawError {
            offset: 0,
            message: format!("not a MOO file: first chunk is {:?}", tag_str(&tag)),
        });
    }
    let major = header.u8("header version")?;
    let minor = header.u8("header version")?;
    header.u16("header reserved")?;
    let count = header.u32("header test count")? as usize;
    let cpu = String::from_utf8_lossy(header.bytes(4, "header CPU name")?)
        .trim_end_matches(['\0', ' '])
        .to_string();

    // The count comes from the file: bound the preallocation by what the
    // remaining bytes could possibly hold.
    let mut tests = Vec::with_capacity(count.min(top.remaining() / 8));
    while !top.is_empty() {
        let (tag, payload) = top.chunk()?;
        // META and unknown top-level chunks are skipped.
        if &tag == b"TEST" {
            tests.push(parse_test(payload, tests.len())?);
        }
    }
    if tests.len() != count {
        return Err(RawError {
            offset: top.offset(),
            message: format!(
                "header announces {count} tests but the file holds {}",
                tests.len()
            ),
        });
    }
    Ok(MooFile {
        major,
        minor,
        cpu,
        tests,
    })
}

fn parse_test(mut c: Cursor<'_>, position: usize) -> Result2<MooTest> {
    let start = c.offset();
    c.u32("test index")?;
    let mut test = MooTest {
        position,
        ..MooTest::default()
    };
    let (mut have_bytes, mut have_init, mut have_final) = (false, false, false);
    while !c.is_empty() {
        let (tag, mut sub) = c.chunk()?;
        match &tag {
            b"NAME" => test.name = String::from_utf8_lossy(sub.lp_bytes("NAME")?).into_owned(),
            b"BYTS" => {
                test.bytes = sub.lp_bytes("BYTS")?.to_vec();
                have_bytes = true;
            }
            b"INIT" => {
                test.initial = parse_state(sub)?;
                have_init = true;
            }
            b"FINA" => {
                test.final_state = parse_state(sub)?;
                have_final = true;
            }
            b"HASH" => {
                let hash = sub.bytes(20, "HASH")?;
                test.hash = Some(hash.try_into().expect("20 bytes"));
            }
            b"EXCP" => {
                let number = sub.u8("EXCP number")?;
                let flag_address = sub.u32("EXCP flag address")?;
                test.exception = Some((number, flag_address));
            }
            b"CYCL" => test.cycles = Some(sub.u32("CYCL count")?),
            _ => {} // GMET and anything unknown
        }
    }
    let missing = [
        (have_bytes, "BYTS"),
        (have_init, "INIT"),
        (have_final, "FINA"),
    ]
    .iter()
    .filter(|(have, _)| !have)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>();
    if !missing.is_empty() {
        return Err(RawError {
            offset: start,
            message: format!("test #{position} has no {} chunk", missing.join("/")),
        });
    }
    Ok(test)
}

fn parse_state(mut c: Cursor<'_>) -> Result2<State> {
    let mut state = State::default();
    while !c.is_empty() {
        let (tag, mut sub) = c.chunk()?;
        match &tag {
            b"REGS" => {
                let mask = sub.u16("REGS mask")?;
                if mask >> REG_COUNT != 0 {
                    return Err(sub.error(format!("REGS mask {mask:#06x} has unknown registers")));
                }
                state.regs.mask = mask;
                for (i, value) in state.regs.values.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *value = sub.u16("REGS value")?;
                    }
                }
            }
            b"RAM " => {
                let count = sub.u32("RAM count")? as usize;
                if count
                    .checked_mul(5)
                    .filter(|&n| n <= sub.remaining())
                    .is_none()
                {
                    return Err(sub.error(format!(
                        "RAM claims {count} entries but only {} bytes remain",
                        sub.remaining()
                    )));
                }
                state.ram.reserve_exact(count);
                for _ in 0..count {
                    let addr = sub.u32("RAM address")?;
                    let value = sub.u8("RAM value")?;
                    state.ram.push((addr, value));
                }
            }
            _ => {} // QUEU and anything unknown
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = tag.to_vec();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn lp(bytes: &[u8]) -> Vec<u8> {
        let mut out = (bytes.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    fn regs(mask: u16, values: &[u16]) -> Vec<u8> {
        let mut out = mask.to_le_bytes().to_vec();
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        chunk(b"REGS", &out)
    }

    fn ram(entries: &[(u32, u8)]) -> Vec<u8> {
        let mut out = (entries.len() as u32).to_le_bytes().to_vec();
        for (addr, v) in entries {
            out.extend_from_slice(&addr.to_le_bytes());
            out.push(*v);
        }
        chunk(b"RAM ", &out)
    }

    fn test_chunk(name: &str, bytes: &[u8], excp: Option<(u8, u32)>) -> Vec<u8> {
        let mut body = 7u32.to_le_bytes().to_vec();
        body.extend(chunk(b"GMET", &[1, 2, 3]));
        body.extend(chunk(b"NAME", &lp(name.as_bytes())));
        body.extend(chunk(b"BYTS", &lp(bytes)));
        let mut init = regs(0b11_0000_0000_0001, &[0x1234, 0x0002, 0xF002]);
        init.extend(ram(&[(0x10, 0x90), (0xFFFFF, 0x01)]));
        init.extend(chunk(b"QUEU", &lp(&[0x90])));
        body.extend(chunk(b"INIT", &init));
        let mut fin = regs(0b1, &[0x4321]);
        fin.extend(ram(&[(0x10, 0x91)]));
        body.extend(chunk(b"FINA", &fin));
        body.extend(chunk(b"CYCL", &[0; 19]));
        body.extend(chunk(b"ZZZZ", b"unknown"));
        if let Some((n, addr)) = excp {
            let mut e = vec![n];
            e.extend_from_slice(&addr.to_le_bytes());
            body.extend(chunk(b"EXCP", &e));
        }
        body.extend(chunk(b"HASH", &[0xAB; 20]));
        chunk(b"TEST", &body)
    }

    fn blob(count: u32) -> Vec<u8> {
        let mut header = vec![1, 2, 0, 0];
        header.extend_from_slice(&count.to_le_bytes());
        header.extend_from_slice(b"C286");
        let mut out = chunk(b"MOO ", &header);
        out.extend(chunk(b"META", b"whatever"));
        out.extend(test_chunk("add al,1", &[0x04, 0x01], None));
        out.extend(test_chunk("div cl", &[0xF6, 0xF1, 0xF4], Some((0, 0x1234))));
        out
    }

    #[test]
    fn parses_synthetic_file() {
        let file = parse(&blob(2), "synthetic").expect("valid blob");
        assert_eq!((file.major, file.minor, file.cpu.as_str()), (1, 2, "C286"));
        assert_eq!(file.tests.len(), 2);
        let t = &file.tests[0];
        assert_eq!(t.position, 0);
        assert_eq!(t.name, "add al,1");
        assert_eq!(t.bytes, [0x04, 0x01]);
        assert_eq!(t.initial.regs.get(0), Some(0x1234));
        assert_eq!(t.initial.regs.get(1), None);
        assert_eq!(t.initial.regs.get(12), Some(0x0002));
        assert_eq!(t.initial.regs.get(FLAGS), Some(0xF002));
        assert_eq!(t.initial.ram, [(0x10, 0x90), (0xFFFFF, 0x01)]);
        assert_eq!(t.final_state.regs.mask, 1);
        assert_eq!(t.final_state.regs.get(0), Some(0x4321));
        assert_eq!(t.final_state.ram, [(0x10, 0x91)]);
        assert_eq!(t.hash, Some([0xAB; 20]));
        assert_eq!(t.exception, None);
        assert_eq!(t.cycles, Some(0));
        let t = &file.tests[1];
        assert_eq!(t.position, 1);
        assert_eq!(t.exception, Some((0, 0x1234)));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = blob(2);
        for len in 0..data.len() {
            let err = parse(&data[..len], "cut").expect_err("truncated blob must not parse");
            assert_eq!(err.file, "cut");
            assert!(err.offset <= len, "offset {} past end {len}", err.offset);
        }
    }

    #[test]
    fn garbled_blobs_never_panic() {
        let data = blob(2);
        // Flip every byte in turn (and a few patterns) – the parser may accept
        // some variants, but it must never panic.
        for i in 0..data.len() {
            for x in [0xFF, 0x80, 0x01] {
                let mut d = data.clone();
                d[i] ^= x;
                let _ = parse(&d, "garbled");
            }
        }
    }

    #[test]
    fn specific_errors() {
        let err = parse(b"JUNKxxxxxxxxxxxxxxxxxxxx", "f").unwrap_err();
        assert!(err.message.contains("truncated") || err.message.contains("claims"));

        let mut header = vec![1, 0, 0, 0];
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(b"8086");
        let err = parse(&chunk(b"ABCD", &header), "f").unwrap_err();
        assert!(err.message.contains("not a MOO file"), "{err}");

        let err = parse(&blob(3), "count").unwrap_err();
        assert!(err.message.contains("announces 3"), "{err}");
        assert_eq!(err.to_string().split(':').next(), Some("count"));

        // A RAM count that would overflow / over-allocate.
        let mut data = blob(2);
        let pos = data.windows(4).position(|w| w == b"RAM ").unwrap() + 8;
        data[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = parse(&data, "ram").unwrap_err();
        assert!(err.message.contains("RAM claims"), "{err}");
        assert_eq!(err.offset, pos + 4);
    }

    #[test]
    fn hash_round_trip() {
        let h = [
            0x0b, 0x79, 0x6f, 0x0c, 0xf8, 0x8c, 0x29, 0x17, 0x4f, 0x23, 0xf6, 0x51, 0x58, 0x09,
            0xf5, 0xeb, 0x56, 0x83, 0xe5, 0x7c,
        ];
        let text = hash_hex(&h);
        assert_eq!(text, "0b796f0cf88c29174f23f6515809f5eb5683e57c");
        assert_eq!(parse_hash(&text), Some(h));
        assert_eq!(parse_hash("0b796f"), None);
        assert_eq!(parse_hash(&"zz".repeat(20)), None);
    }
}

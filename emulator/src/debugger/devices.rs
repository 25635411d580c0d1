//! `info device NAME`: a device's state as its savestate serializes it
//! (the one description of that state), printed as indented `key: value`
//! lines with long arrays cut short. The VGA's savestate holds all of
//! video memory, so it gets a summary instead.

use serde_json::Value;

use crate::machine::Machine;

/// Arrays longer than this show their first entries and a count.
const ARRAY_SHOWN: usize = 16;

/// The state of device `name` (pic, pit, rtc, uart/com1-com4, ide, kbc,
/// vga).
pub fn show(m: &Machine, name: &str) -> Result<String, String> {
    let bus = &m.bus;
    let uart = |n: usize| serde_json::to_value(&bus.serial[n]);
    let value = match name {
        "pic" => serde_json::to_value(bus.platform.pic()),
        "pit" => serde_json::to_value(bus.platform.pit()),
        "rtc" | "cmos" => serde_json::to_value(bus.platform.rtc()),
        "uart" | "serial" | "com1" => uart(0),
        "com2" => uart(1),
        "com3" => uart(2),
        "com4" => uart(3),
        "ide" => serde_json::to_value(&bus.ide),
        "kbc" | "i8042" | "keyboard" => serde_json::to_value(&bus.kbc),
        "vga" => return Ok(vga(m)),
        _ => {
            return Err(format!(
                "no device `{name}`: pic, pit, rtc, uart (com1-com4), ide, kbc, vga"
            ))
        }
    }
    .map_err(|e| format!("{name}: {e}"))?;
    let mut s = String::new();
    write_value(&mut s, &value, 0);
    Ok(s)
}

fn vga(m: &Machine) -> String {
    let v = &m.bus.vga;
    let frame = v.render();
    let mut s = format!(
        "picture: {}x{}\nvram: {} bytes, linear framebuffer at {:#010x}\n",
        frame.width,
        frame.height,
        v.vram_size(),
        v.lfb_base()
    );
    match (v.text_snapshot(), v.cursor_position()) {
        (Some(rows), cursor) => {
            s += &format!("text mode: {} rows", rows.len());
            if let Some((r, c)) = cursor {
                s += &format!(", cursor at row {r} column {c}");
            }
        }
        (None, _) => s += "graphics mode",
    }
    s
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("none".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(t) => Some(format!("{t:?}")),
        _ => None,
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                match inline(x) {
                    Some(t) => *out += &format!("{pad}{k}: {t}\n"),
                    None => {
                        *out += &format!("{pad}{k}:\n");
                        write_value(out, x, indent + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                match inline(x) {
                    Some(t) => *out += &format!("{pad}[{i}] {t}\n"),
                    None => {
                        *out += &format!("{pad}[{i}]\n");
                        write_value(out, x, indent + 1);
                    }
                }
            }
        }
        other => *out += &format!("{pad}{}\n", scalar(other).unwrap_or_default()),
    }
}

/// A value that fits on one line: scalars, and arrays of scalars (cut
/// short past [`ARRAY_SHOWN`]).
fn inline(v: &Value) -> Option<String> {
    if let Some(s) = scalar(v) {
        return Some(s);
    }
    let Value::Array(items) = v else {
        return None;
    };
    let parts: Option<Vec<String>> = items.iter().take(ARRAY_SHOWN).map(scalar).collect();
    let mut s = format!("[{}", parts?.join(", "));
    if items.len() > ARRAY_SHOWN {
        s += &format!(", ... ({} entries)", items.len());
    }
    s.push(']');
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arrays_are_cut_and_objects_nest() {
        let v: Value = serde_json::json!({
            "a": 1,
            "buf": (0..40).collect::<Vec<u32>>(),
            "inner": {"x": true}
        });
        let mut s = String::new();
        write_value(&mut s, &v, 0);
        assert_eq!(
            s,
            "a: 1\nbuf: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ... (40 entries)]\ninner:\n  x: true\n"
        );
    }
}

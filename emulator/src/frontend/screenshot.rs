//! `--screenshot PATH`: the guest screen as a PNG, taken from the VGA's
//! renderer (not from the host window, so it works headless too).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use oxbox_devices::vga::Frame;

/// Write `frame` as an 8-bit RGB PNG at its own resolution.
pub fn write_png(frame: &Frame, path: &Path) -> Result<(), String> {
    let what = |e: &dyn std::fmt::Display| format!("screenshot {}: {e}", path.display());
    let file = File::create(path).map_err(|e| what(&e))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), frame.width, frame.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| what(&e))?;
    writer
        .write_image_data(&rgb_bytes(frame))
        .map_err(|e| what(&e))?;
    writer.finish().map_err(|e| what(&e))
}

/// The frame's 0x00RRGGBB pixels as R, G, B bytes.
fn rgb_bytes(frame: &Frame) -> Vec<u8> {
    frame
        .pixels
        .iter()
        .flat_map(|&p| [(p >> 16) as u8, (p >> 8) as u8, p as u8])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_through_the_png_file() {
        let frame = Frame {
            width: 3,
            height: 2,
            pixels: vec![0xFF0000, 0x00FF00, 0x0000FF, 0x123456, 0, 0xFFFFFF],
        };
        let path = std::env::temp_dir().join(format!("oxbox-shot-{}.png", std::process::id()));
        write_png(&frame, &path).unwrap();
        let decoder = png::Decoder::new(File::open(&path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(
            &buf[..info.buffer_size()],
            &[255, 0, 0, 0, 255, 0, 0, 0, 255, 0x12, 0x34, 0x56, 0, 0, 0, 255, 255, 255]
        );
    }
}

//! QR codes as pictures: a payee shows its payment request (the EMVCo text of
//! `ferry_proto::qr::ferry::request_to_emv`) in a terminal or as a PNG file, and a payer reads
//! one back from a PNG (a screenshot or a camera frame saved by the platform).
//!
//! Codes are made at error-correction level M, the level the request budget is set for
//! (DESIGN §7), with the standard quiet zone of four modules. Reading accepts any PNG up to
//! [`MAX_IMAGE_SIDE`] pixels a side, in any colour type, transparent pixels counting as white.

use std::fs;
use std::io::Cursor;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};
use thiserror::Error;

use crate::atomic_file::write_atomically;

/// Modules of light margin around the code on every side (ISO/IEC 18004 asks for four).
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in the PNG images this module writes.
pub const PNG_MODULE_PX: usize = 8;
/// Largest width or height, in pixels, of an image [`decode_png`] accepts.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Why a QR image could not be made or read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QrImageError {
    /// The text does not fit a QR code at level M.
    #[error("text too long for a QR code at error-correction level M")]
    TooLong,
    /// The QR encoder refused the text for another reason.
    #[error("QR encoding failed: {0}")]
    Encode(String),
    /// The bytes are not a PNG image (no PNG signature).
    #[error("not a PNG image")]
    NotPng,
    /// A PNG image that is corrupt, truncated or uses an unsupported feature.
    #[error("unreadable PNG image: {0}")]
    Unreadable(String),
    /// The image is wider or taller than [`MAX_IMAGE_SIDE`].
    #[error("image of {width}x{height} pixels is larger than {MAX_IMAGE_SIDE} pixels a side")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// No QR code was found in the image.
    #[error("no QR code found in the image")]
    NoQrCode,
    /// More than one QR code was found, so which one is meant is unclear.
    #[error("{0} QR codes found in the image, expected one")]
    SeveralQrCodes(usize),
    /// A QR code was found but could not be decoded.
    #[error("QR code could not be decoded: {0}")]
    Decode(String),
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The code for `text` at level M.
fn encode(text: &str) -> Result<QrCode, QrImageError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| match e {
        qrcode::types::QrError::DataTooLong => QrImageError::TooLong,
        other => QrImageError::Encode(other.to_string()),
    })
}

/// Whether the module at (`x`, `y`) of the code with its quiet zone is dark; coordinates past
/// the code count as light.
fn dark(code: &QrCode, x: usize, y: usize) -> bool {
    let w = code.width();
    match (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) {
        (Some(x), Some(y)) if x < w && y < w => code[(x, y)] == Color::Dark,
        _ => false,
    }
}

/// How the terminal shows text, which decides which modules are drawn with glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminalTheme {
    /// Light text on a dark background (most terminal emulators' default): glyphs draw the
    /// light modules and the quiet zone, the background shows through as dark modules.
    #[default]
    LightOnDark,
    /// Dark text on a light background: glyphs draw the dark modules, the background is the
    /// light modules and the quiet zone.
    DarkOnLight,
}

/// The QR code of `text` (level M) drawn with Unicode half blocks for a terminal with light
/// text on a dark background ([`TerminalTheme::LightOnDark`]), quiet zone included. Each line
/// holds two rows of modules, so a version-`v` code takes `13 + 2v` lines of `25 + 4v`
/// characters, each ending in `\n`.
pub fn terminal(text: &str) -> Result<String, QrImageError> {
    terminal_with(text, TerminalTheme::LightOnDark)
}

/// [`terminal`] for either kind of terminal: `qrcode`'s own half-block renderer
/// ([`Dense1x2`]), which draws a glyph where its pixel is "dark", told which modules those are.
pub fn terminal_with(text: &str, theme: TerminalTheme) -> Result<String, QrImageError> {
    let code = encode(text)?;
    let (dark, light) = match theme {
        // Glyphs draw the light modules and the quiet zone.
        TerminalTheme::LightOnDark => (Dense1x2::Light, Dense1x2::Dark),
        TerminalTheme::DarkOnLight => (Dense1x2::Dark, Dense1x2::Light),
    };
    let mut out = code
        .render::<Dense1x2>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(dark)
        .light_color(light)
        .build();
    out.push('\n');
    Ok(out)
}

/// The QR code of `text` (level M) as a greyscale PNG: [`PNG_MODULE_PX`] pixels per module,
/// black on white, with a [`QUIET_ZONE`]-module margin.
pub fn png_bytes(text: &str) -> Result<Vec<u8>, QrImageError> {
    let code = encode(text)?;
    let side_modules = code.width() + 2 * QUIET_ZONE;
    let side_px = side_modules * PNG_MODULE_PX;
    let mut pixels = Vec::with_capacity(side_px * side_px);
    for y in 0..side_px {
        for x in 0..side_px {
            let is_dark = dark(&code, x / PNG_MODULE_PX, y / PNG_MODULE_PX);
            pixels.push(if is_dark { 0u8 } else { 255 });
        }
    }
    let side = u32::try_from(side_px).map_err(|_| QrImageError::TooLong)?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let png_error = |e: png::EncodingError| QrImageError::Encode(e.to_string());
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&pixels).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// Writes [`png_bytes`] of `text` to `path` atomically ([`crate::atomic_file`]).
pub fn write_png(text: &str, path: &Path) -> Result<(), QrImageError> {
    let bytes = png_bytes(text)?;
    write_atomically(path, &bytes).map_err(|source| QrImageError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the one QR code in the PNG file at `path` and returns its text.
pub fn read_png(path: &Path) -> Result<String, QrImageError> {
    let bytes = fs::read(path).map_err(|source| QrImageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode_png(&bytes)
}

/// Reads the one QR code in a PNG image and returns its text. Any bytes may be given: the
/// result is an error, never a panic, and images larger than [`MAX_IMAGE_SIDE`] a side are
/// refused before their pixels are decoded.
pub fn decode_png(bytes: &[u8]) -> Result<String, QrImageError> {
    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    if !bytes.starts_with(&SIGNATURE) {
        return Err(QrImageError::NotPng);
    }
    let (width, height, luma) = png_luma(bytes)?;
    find_one_code(width, height, &luma)
}

/// The image's luminance, one byte a pixel, row by row.
fn png_luma(bytes: &[u8]) -> Result<(usize, usize, Vec<u8>), QrImageError> {
    let unreadable = |e: png::DecodingError| QrImageError::Unreadable(e.to_string());
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(unreadable)?;
    let (width, height) = reader.info().size();
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(QrImageError::TooLarge { width, height });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| QrImageError::Unreadable("image too large".into()))?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(unreadable)?;
    if frame.bit_depth != png::BitDepth::Eight {
        return Err(QrImageError::Unreadable(format!(
            "unexpected bit depth {:?}",
            frame.bit_depth
        )));
    }
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(QrImageError::Unreadable("palette not expanded".into()));
        }
    };
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 || frame.line_size == 0 {
        return Err(QrImageError::Unreadable("empty image".into()));
    }
    let mut luma = Vec::with_capacity(w * h);
    for row in buf.chunks(frame.line_size).take(h) {
        for px in row.chunks_exact(channels).take(w) {
            let (value, alpha) = match *px {
                [l] => (u32::from(l), 255),
                [l, a] => (u32::from(l), u32::from(a)),
                [r, g, b] => (luminance(r, g, b), 255),
                [r, g, b, a] => (luminance(r, g, b), u32::from(a)),
                _ => (255, 255),
            };
            // Composite over white: a transparent pixel is background.
            let over_white = (value * alpha + 255 * (255 - alpha)) / 255;
            luma.push(u8::try_from(over_white).unwrap_or(u8::MAX));
        }
    }
    if luma.len() != w * h {
        return Err(QrImageError::Unreadable("short image data".into()));
    }
    Ok((w, h, luma))
}

/// ITU-R BT.601 luma of an sRGB pixel.
fn luminance(r: u8, g: u8, b: u8) -> u32 {
    (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000
}

/// Finds and decodes the one QR code in a greyscale image.
fn find_one_code(width: usize, height: usize, luma: &[u8]) -> Result<String, QrImageError> {
    // rqrr is known to panic on some degenerate images (e.g. a perspective assertion in its
    // grid fitting); such an image is reported as undecodable. No state survives the call.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| luma[y * width + x]);
        let grids = image.detect_grids();
        match grids.as_slice() {
            [] => Err(QrImageError::NoQrCode),
            [grid] => grid
                .decode()
                .map(|(_, text)| text)
                .map_err(|e| QrImageError::Decode(e.to_string())),
            several => Err(QrImageError::SeveralQrCodes(several.len())),
        }
    }));
    outcome.unwrap_or_else(|_| Err(QrImageError::Decode("the QR decoder failed".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The modules a terminal drawing shows: `true` where a glyph draws ink, row by row.
    fn inked(drawing: &str) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in drawing.lines() {
            let (top, bottom): (Vec<bool>, Vec<bool>) = line
                .chars()
                .map(|c| match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?}"),
                })
                .unzip();
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    #[test]
    fn the_terminal_drawing_is_the_code_module_by_module() {
        for text in ["hello", "FERRY:REQ:0123456789", &"0002010102".repeat(20)] {
            let code = encode(text).unwrap();
            let side = code.width() + 2 * QUIET_ZONE;
            for theme in [TerminalTheme::LightOnDark, TerminalTheme::DarkOnLight] {
                let drawing = terminal_with(text, theme).unwrap();
                assert!(drawing.ends_with('\n'));
                let rows = inked(&drawing);
                assert_eq!(rows.len(), side + side % 2, "{text}");
                for (y, row) in rows.iter().enumerate() {
                    assert_eq!(row.len(), side);
                    for (x, &ink) in row.iter().enumerate() {
                        // Below the picture (an odd side) nothing is drawn.
                        let expected =
                            y < side && dark(&code, x, y) == (theme == TerminalTheme::DarkOnLight);
                        assert_eq!(ink, expected, "{text} {theme:?} ({x}, {y})");
                    }
                }
            }
        }
    }

    #[test]
    fn too_long_is_typed() {
        let text = "A".repeat(5000);
        assert!(matches!(terminal(&text), Err(QrImageError::TooLong)));
        assert!(matches!(png_bytes(&text), Err(QrImageError::TooLong)));
    }

    #[test]
    fn themes_are_each_others_inverse_inside_the_picture() {
        let a = terminal_with("hello", TerminalTheme::LightOnDark).expect("qr");
        let b = terminal_with("hello", TerminalTheme::DarkOnLight).expect("qr");
        let lines_a: Vec<_> = a.lines().collect();
        let lines_b: Vec<_> = b.lines().collect();
        assert_eq!(lines_a.len(), lines_b.len());
        // All lines but the last (whose lower half is outside the picture) are complementary.
        for (la, lb) in lines_a.iter().zip(&lines_b).take(lines_a.len() - 1) {
            for (ca, cb) in la.chars().zip(lb.chars()) {
                let complement = match ca {
                    '█' => ' ',
                    ' ' => '█',
                    '▀' => '▄',
                    '▄' => '▀',
                    other => panic!("unexpected {other:?}"),
                };
                assert_eq!(complement, cb);
            }
        }
    }
}

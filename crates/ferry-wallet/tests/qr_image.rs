//! QR images of Ferry payment requests: PNG round trips, terminal drawings, and refusals.

use ferry_proto::ids::{AccountId, RequestNonce};
use ferry_proto::keys::X25519Public;
use ferry_proto::money::{Currency, Money};
use ferry_proto::qr::ferry::{request_from_emv, request_to_emv};
use ferry_proto::request::{
    MAX_AMOUNT_MINOR, MAX_CITY_LEN, MAX_EXPIRES_AT, MAX_NAME_LEN, MAX_REFERENCE_LEN, PaymentRequest,
};
use ferry_proto::time::UnixTime;
use ferry_wallet::qr_image::{
    self, MAX_IMAGE_SIDE, QUIET_ZONE, QrImageError, TerminalTheme, decode_png, png_bytes, read_png,
    terminal, terminal_with, write_png,
};
use proptest::prelude::*;

fn typical() -> PaymentRequest {
    PaymentRequest {
        payee: AccountId(*b"0123456789abcdef"),
        currency: Currency::BRL,
        amount: Some(Money::new(12_50, Currency::BRL)),
        nonce: RequestNonce(*b"nonce-nonce!"),
        link_key: X25519Public([0x42; 32]),
        expires_at: UnixTime(1_767_225_600),
        payee_name: "Padaria Pão Quente".into(),
        city: "Recife".into(),
        reference: "INV-42".into(),
    }
}

/// `c` repeated up to `max_bytes` bytes, topped up with `'a'`.
fn fill(c: char, max_bytes: usize) -> String {
    let mut s = c.to_string().repeat(max_bytes / c.len_utf8());
    while s.len() < max_bytes {
        s.push('a');
    }
    s
}

/// Every field at its longest (25-byte name, 15-byte city, 12-byte reference, the largest
/// amount, the latest expiry), with letters where the QR encoder could otherwise use a denser
/// mode.
fn largest(text_char: char) -> PaymentRequest {
    PaymentRequest {
        payee: AccountId([0; 16]),
        currency: Currency::BHD,
        amount: Some(Money::new(MAX_AMOUNT_MINOR, Currency::BHD)),
        nonce: RequestNonce([0; 12]),
        link_key: X25519Public([0; 32]),
        expires_at: MAX_EXPIRES_AT,
        payee_name: fill(text_char, MAX_NAME_LEN),
        city: fill(text_char, MAX_CITY_LEN),
        reference: fill(text_char, MAX_REFERENCE_LEN),
    }
}

fn qr_version(text: &str) -> usize {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .expect("fits");
    match code.version() {
        qrcode::Version::Normal(v) => usize::try_from(v).expect("positive"),
        qrcode::Version::Micro(_) => panic!("micro code"),
    }
}

/// A greyscale PNG of `pixels` (row by row, 0 = black).
fn grey_png(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("header");
    writer.write_image_data(pixels).expect("data");
    writer.finish().expect("finish");
    out
}

#[test]
fn payment_request_round_trips_through_a_png_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("request.png");
    let req = typical();
    let text = request_to_emv(&req).expect("emv");
    write_png(&text, &path).expect("write");
    assert_eq!(read_png(&path).expect("read"), text);
    assert_eq!(request_from_emv(&read_png(&path).expect("read")), Ok(req));
    // Nothing but the image is left in the directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["request.png"]);

    // Writing again replaces the file atomically.
    let other = request_to_emv(&PaymentRequest {
        amount: None,
        ..typical()
    })
    .expect("emv");
    write_png(&other, &path).expect("rewrite");
    assert_eq!(read_png(&path).expect("read"), other);
}

#[test]
fn largest_requests_round_trip_and_fit_version_10() {
    for c in ['a', 'Z', 'ã', '€'] {
        let req = largest(c);
        let text = request_to_emv(&req).expect("emv");
        assert!(
            qr_version(&text) <= 10,
            "{c:?}: version {}",
            qr_version(&text)
        );
        let decoded = decode_png(&png_bytes(&text).expect("png")).expect("decode");
        assert_eq!(request_from_emv(&decoded), Ok(req), "{c:?}");
    }
    // Four-byte characters (emoji, historic scripts) at every limit need version 11 with the
    // `qrcode` encoder's segmentation: over DESIGN §7's budget, but still a readable image.
    let req = largest('𝄞');
    let text = request_to_emv(&req).expect("emv");
    assert!(qr_version(&text) <= 11);
    let decoded = decode_png(&png_bytes(&text).expect("png")).expect("decode");
    assert_eq!(request_from_emv(&decoded), Ok(req));
}

#[test]
fn png_has_eight_pixels_a_module_and_a_quiet_zone() {
    let text = request_to_emv(&typical()).expect("emv");
    let png = png_bytes(&text).expect("png");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let reader = decoder.read_info().expect("info");
    let modules = 17 + 4 * qr_version(&text) + 2 * QUIET_ZONE;
    let side = u32::try_from(modules * qr_image::PNG_MODULE_PX).expect("small");
    assert_eq!(reader.info().size(), (side, side));
}

/// Turns a terminal drawing back into a picture, one pixel a module, and decodes it.
fn decode_terminal_drawing(drawing: &str, theme: TerminalTheme) -> Result<String, QrImageError> {
    let lines: Vec<Vec<char>> = drawing.lines().map(|l| l.chars().collect()).collect();
    let width = lines[0].len();
    let height = 2 * lines.len();
    // The terminal's background: dark for light-on-dark, light for dark-on-light.
    let (ink, background) = match theme {
        TerminalTheme::LightOnDark => (255u8, 0u8),
        TerminalTheme::DarkOnLight => (0u8, 255u8),
    };
    // A generous margin in the terminal's background colour would hide the quiet zone of a
    // light-on-dark drawing, so the picture is padded with white (the paper around a screen).
    let pad = 8;
    let (w, h) = (width + 2 * pad, height + 2 * pad);
    let mut pixels = vec![255u8; w * h];
    for (row, line) in lines.iter().enumerate() {
        assert_eq!(line.len(), width, "ragged drawing");
        for (x, c) in line.iter().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected {other:?}"),
            };
            for (dy, inked) in [(0, top), (1, bottom)] {
                pixels[(pad + 2 * row + dy) * w + pad + x] = if inked { ink } else { background };
            }
        }
    }
    // Scale up four times so the detector has room.
    let scale = 4;
    let (sw, sh) = (w * scale, h * scale);
    let mut scaled = vec![0u8; sw * sh];
    for y in 0..sh {
        for x in 0..sw {
            scaled[y * sw + x] = pixels[(y / scale) * w + x / scale];
        }
    }
    let png = grey_png(
        u32::try_from(sw).expect("small"),
        u32::try_from(sh).expect("small"),
        &scaled,
    );
    decode_png(&png)
}

#[test]
fn terminal_drawing_has_the_expected_size_and_reads_back() {
    for req in [typical(), largest('a'), largest('€')] {
        let text = request_to_emv(&req).expect("emv");
        let v = qr_version(&text);
        for theme in [TerminalTheme::LightOnDark, TerminalTheme::DarkOnLight] {
            let drawing = terminal_with(&text, theme).expect("terminal");
            assert!(drawing.ends_with('\n'));
            let lines: Vec<&str> = drawing.lines().collect();
            assert_eq!(lines.len(), 13 + 2 * v, "version {v}");
            for line in &lines {
                assert_eq!(line.chars().count(), 25 + 4 * v);
            }
            let decoded = decode_terminal_drawing(&drawing, theme).expect("reads back");
            assert_eq!(request_from_emv(&decoded), Ok(req.clone()));
        }
        assert_eq!(
            terminal(&text).expect("terminal"),
            terminal_with(&text, TerminalTheme::LightOnDark).expect("terminal")
        );
    }
}

#[test]
fn png_without_a_code_is_no_qr_code() {
    let (w, h) = (200u32, 120u32);
    let blank = vec![255u8; (w * h) as usize];
    assert!(matches!(
        decode_png(&grey_png(w, h, &blank)),
        Err(QrImageError::NoQrCode)
    ));
    let stripes: Vec<u8> = (0..w * h)
        .map(|i| if (i % w) / 10 % 2 == 0 { 0 } else { 255 })
        .collect();
    assert!(matches!(
        decode_png(&grey_png(w, h, &stripes)),
        Err(QrImageError::NoQrCode)
    ));
}

#[test]
fn two_codes_are_several_qr_codes() {
    let a = png_bytes("first code").expect("png");
    let b = png_bytes("second code").expect("png");
    let luma = |png: &[u8]| {
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .expect("info");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("frame");
        (info.width as usize, info.height as usize, buf)
    };
    let (wa, ha, pa) = luma(&a);
    let (wb, hb, pb) = luma(&b);
    let (w, h) = (wa + wb, ha.max(hb));
    let mut pixels = vec![255u8; w * h];
    for y in 0..ha {
        pixels[y * w..y * w + wa].copy_from_slice(&pa[y * wa..(y + 1) * wa]);
    }
    for y in 0..hb {
        pixels[y * w + wa..y * w + wa + wb].copy_from_slice(&pb[y * wb..(y + 1) * wb]);
    }
    let both = grey_png(
        u32::try_from(w).expect("small"),
        u32::try_from(h).expect("small"),
        &pixels,
    );
    assert!(matches!(
        decode_png(&both),
        Err(QrImageError::SeveralQrCodes(2))
    ));
}

#[test]
fn non_png_input_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("not-a.png");
    std::fs::write(&path, b"GIF89a this is not a PNG").expect("write");
    assert!(matches!(read_png(&path), Err(QrImageError::NotPng)));
    assert!(matches!(decode_png(b""), Err(QrImageError::NotPng)));

    let png = png_bytes("truncated").expect("png");
    assert!(matches!(
        decode_png(&png[..png.len() / 2]),
        Err(QrImageError::Unreadable(_))
    ));
    assert!(matches!(
        decode_png(&png[..8]),
        Err(QrImageError::Unreadable(_))
    ));

    assert!(matches!(
        read_png(&dir.path().join("missing.png")),
        Err(QrImageError::Io { .. })
    ));
    assert!(matches!(
        write_png("x", &dir.path().join("no-such-dir").join("a.png")),
        Err(QrImageError::Io { .. })
    ));
}

#[test]
fn oversized_images_are_refused_before_decoding() {
    let wide = MAX_IMAGE_SIDE + 1;
    let png = grey_png(wide, 1, &vec![255u8; wide as usize]);
    assert!(matches!(
        decode_png(&png),
        Err(QrImageError::TooLarge { width, height: 1 }) if width == wide
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_png(&bytes);
        let mut with_signature = b"\x89PNG\r\n\x1a\n".to_vec();
        with_signature.extend_from_slice(&bytes);
        let _ = decode_png(&with_signature);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn damaged_pngs_fail_or_read_right(cut in any::<prop::sample::Index>(),
                                       flip_at in any::<prop::sample::Index>(),
                                       flip in 1u8..=255) {
        let text = "FERRY damaged-image test";
        let png = png_bytes(text).expect("png");
        if let Ok(read) = decode_png(&png[..cut.index(png.len())]) {
            prop_assert_eq!(read, text);
        }
        let mut flipped = png.clone();
        flipped[flip_at.index(png.len())] ^= flip;
        if let Ok(read) = decode_png(&flipped) {
            prop_assert_eq!(read, text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Valid PNGs of random blocky pictures (finder-like shapes appear often enough to send
    /// the detector down its grid-fitting paths) give a result, never a panic.
    #[test]
    fn random_pictures_never_panic(blocks in proptest::collection::vec(any::<bool>(), 16..=1024),
                                   block_px in 1usize..8) {
        let side_blocks = (blocks.len() as f64).sqrt() as usize;
        let side = side_blocks * block_px;
        let mut pixels = vec![0u8; side * side];
        for y in 0..side {
            for x in 0..side {
                let dark = blocks[(y / block_px) * side_blocks + x / block_px];
                pixels[y * side + x] = if dark { 0 } else { 255 };
            }
        }
        let side = u32::try_from(side).expect("small");
        let _ = decode_png(&grey_png(side, side, &pixels));
    }
}

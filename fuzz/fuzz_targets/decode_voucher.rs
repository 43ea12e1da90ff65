#![no_main]
//! Offline Pix vouchers: the sealed binary form, the `FV1:` text form and the payload, each
//! strict and canonical. `open` is deliberately not called: Argon2id is slow by design.
use ferry_proto::Message;
use ferry_proto::voucher::{SealedVoucher, VoucherPayload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = SealedVoucher::from_bytes(data) {
        assert_eq!(v.to_bytes(), data);
        assert_eq!(SealedVoucher::from_text(&v.to_text()), Ok(v));
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(v) = SealedVoucher::from_text(s)
    {
        assert_eq!(v.to_text(), s);
    }
    if let Ok(p) = VoucherPayload::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
        assert_eq!(p.check(), Ok(()));
    }
});

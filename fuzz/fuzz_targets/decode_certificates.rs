#![no_main]
//! Every issuer-signed document: strict decode and canonical re-encoding.
use ferry_proto::{
    AttestationStatement, ClientCertificate, DepositAuthorization, NetworkParameters, Receipt,
    RevocationList, TaCertificate,
};
use libfuzzer_sys::fuzz_target;

macro_rules! roundtrip {
    ($t:ty, $data:expr) => {
        if let Ok(d) = <$t>::from_bytes($data) {
            assert_eq!(d.to_bytes(), $data);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    roundtrip!(ClientCertificate, data);
    roundtrip!(TaCertificate, data);
    roundtrip!(AttestationStatement, data);
    roundtrip!(NetworkParameters, data);
    roundtrip!(RevocationList, data);
    roundtrip!(DepositAuthorization, data);
    roundtrip!(Receipt, data);
});

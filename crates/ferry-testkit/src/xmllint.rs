//! XML Schema validation with `xmllint` (Debian's `libxml2-utils`), for tests of the camt.053
//! end-of-day statement. Without `xmllint` a test skips — unless `FERRY_REQUIRE_XMLLINT=1`
//! (set by `.ci/run`), when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The published camt.053.001.08 schema kept with the wallet's tests.
pub fn camt053_xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ferry-wallet/tests/fixtures/camt.053.001.08.xsd")
}

/// True if `xmllint` runs here. Panics if it does not and `FERRY_REQUIRE_XMLLINT=1`.
pub fn available() -> bool {
    let ok = Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("FERRY_REQUIRE_XMLLINT").as_deref() != Ok("1"),
            "xmllint not found and FERRY_REQUIRE_XMLLINT=1 (apt-get install libxml2-utils)"
        );
        eprintln!("xmllint not found: skipping schema validation");
    }
    ok
}

/// Validates the XML file `xml` against the schema `xsd`: `Ok(())`, or `Err` with
/// xmllint's complaints.
pub fn validate(xsd: &Path, xml: &Path) -> Result<(), String> {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(xml)
        .output()
        .map_err(|e| format!("xmllint: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

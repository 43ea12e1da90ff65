//! Shared by the ledger's integration tests: a store of each kind available on this machine.

use ferry_ledger::Store;

/// A store of each kind available here. Each PostgreSQL store lives in a fresh schema so tests
/// running in parallel processes never see each other's rows.
pub async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::open_sqlite_dir(dir.path())
        .await
        .expect("sqlite store");
    let mut out = vec![("sqlite", sqlite, Some(dir))];
    match std::env::var("FERRY_TEST_DATABASE_URL") {
        Ok(url) => {
            let schema = format!("ferry_test_{}", ferry_proto::AccountId::random().to_hex());
            let admin = Store::open(&url).await.expect("postgres store");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(admin.pool())
                .await
                .expect("create schema");
            let sep = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
            out.push((
                "postgres",
                Store::open(&scoped).await.expect("scoped postgres store"),
                None,
            ));
        }
        Err(_) => {
            eprintln!("SKIPPED PostgreSQL: FERRY_TEST_DATABASE_URL is not set; testing SQLite only")
        }
    }
    out
}

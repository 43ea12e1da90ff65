//! PostgreSQL for tests: a fresh, empty schema per test in the database that
//! [`POSTGRES_ENV`] names, so tests running in parallel never see each other's rows.
//!
//! Without the variable a test says so ([`SKIPPED_POSTGRES`]) and runs on SQLite only —
//! unless [`REQUIRE_ENV`] is `1` (CI sets it), in which case a missing or unreachable database
//! fails the test instead of letting it pass silently.

use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL database tests may use.
pub const POSTGRES_ENV: &str = "FERRY_TEST_DATABASE_URL";

/// When this environment variable is `1`, PostgreSQL tests fail rather than skip.
pub const REQUIRE_ENV: &str = "FERRY_REQUIRE_POSTGRES";

/// What a PostgreSQL test prints when [`POSTGRES_ENV`] is not set.
pub const SKIPPED_POSTGRES: &str = "SKIPPED PostgreSQL: FERRY_TEST_DATABASE_URL is not set";

/// True when [`REQUIRE_ENV`] is `1`.
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The database URL tests may use: `Some` when [`POSTGRES_ENV`] is set; `None` after printing
/// [`SKIPPED_POSTGRES`] when it is not.
///
/// # Panics
/// When it is not set and [`REQUIRE_ENV`] is `1`.
pub fn database_url() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) => Some(url),
        Err(_) if required() => {
            panic!("{REQUIRE_ENV}=1 but {POSTGRES_ENV} is not set: PostgreSQL tests cannot run")
        }
        Err(_) => {
            println!("{SKIPPED_POSTGRES}");
            eprintln!("{SKIPPED_POSTGRES}");
            None
        }
    }
}

/// Creates schema `name` in the database at `url` and returns a URL whose connections use it
/// (`search_path`). `name` must be an SQL identifier of `[a-z0-9_]`.
///
/// # Errors
/// When the database cannot be reached or the schema cannot be created.
pub async fn create_schema(url: &str, name: &str) -> Result<String, sqlx::Error> {
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "schema names are [a-z0-9_]"
    );
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(scoped_url(url, name))
}

/// Drops schema `name` and everything in it (the benchmark cleans up after itself).
///
/// # Errors
/// When the database cannot be reached or the schema cannot be dropped.
pub async fn drop_schema(url: &str, name: &str) -> Result<(), sqlx::Error> {
    assert!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "schema names are [a-z0-9_]"
    );
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
        .execute(&mut conn)
        .await?;
    let _ = conn.close().await;
    Ok(())
}

/// `url` with its connections' `search_path` set to `schema`.
pub fn scoped_url(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

/// The URL of a fresh, empty schema `ferry_test_<hex>` for one test, or `None` (after printing
/// [`SKIPPED_POSTGRES`]) without [`POSTGRES_ENV`].
///
/// # Panics
/// If the variable is set but the database cannot be reached, or if it is not set while
/// [`REQUIRE_ENV`] is `1`.
pub async fn fresh_schema() -> Option<String> {
    let url = database_url()?;
    let name = format!("ferry_test_{}", crate::random_hex());
    Some(
        create_schema(&url, &name)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: cannot create a test schema: {e}")),
    )
}

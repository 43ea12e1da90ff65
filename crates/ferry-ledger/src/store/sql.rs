//! Placeholders for statements built at run time (the multi-row statements of group commits).
//!
//! PostgreSQL numbers its parameters (`$1, $2, …`). On SQLite the same statements use anonymous
//! `?` placeholders: for every bound value sqlx-sqlite asks `sqlite3_bind_parameter_name`, which
//! scans the statement's list of *named* parameters (`$N` counts as named), so a statement with
//! `n` of them costs O(n²) to bind — with hundreds of parameters per statement that was the
//! largest single cost of a SQLite batch. Anonymous parameters have no name, so nothing is
//! scanned, and they bind in the order they are written.
//!
//! [`Params`] writes either kind, numbered in the order they are written; a caller must bind
//! its values in that same order (and bind a value again where it is used twice).

use std::fmt::{self, Display, Write as _};

use super::Dialect;

/// Writes placeholders for one statement, in order (see the module documentation).
#[derive(Debug)]
pub(crate) struct Params {
    dialect: Dialect,
    written: usize,
}

/// One placeholder, as [`Params::next`] wrote it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    dialect: Dialect,
    number: usize,
}

impl Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dialect {
            Dialect::Sqlite => f.write_str("?"),
            Dialect::Postgres => write!(f, "${}", self.number),
        }
    }
}

impl Params {
    /// Placeholders for a new statement in `dialect`.
    pub(crate) fn new(dialect: Dialect) -> Self {
        Params {
            dialect,
            written: 0,
        }
    }

    /// The next placeholder.
    pub(crate) fn next(&mut self) -> Param {
        self.written += 1;
        Param {
            dialect: self.dialect,
            number: self.written,
        }
    }

    /// `n` placeholders separated by commas: `?, ?, ?` or `$4, $5, $6`.
    pub(crate) fn list(&mut self, n: usize) -> String {
        let mut out = String::with_capacity(n * 6);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", self.next());
        }
        out
    }

    /// `rows` parenthesized rows of `columns` placeholders each, separated by commas, for
    /// `INSERT … VALUES`: `(?, ?), (?, ?)`.
    pub(crate) fn rows(&mut self, rows: usize, columns: usize) -> String {
        let mut out = String::with_capacity(rows * (columns * 6 + 4));
        for r in 0..rows {
            if r > 0 {
                out.push_str(", ");
            }
            out.push('(');
            out.push_str(&self.list(columns));
            out.push(')');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_in_order_and_sqlite_is_anonymous() {
        let mut p = Params::new(Dialect::Postgres);
        assert_eq!(p.next().to_string(), "$1");
        assert_eq!(p.rows(2, 3), "($2, $3, $4), ($5, $6, $7)");
        assert_eq!(p.list(2), "$8, $9");
        let mut s = Params::new(Dialect::Sqlite);
        assert_eq!(s.next().to_string(), "?");
        assert_eq!(s.rows(2, 2), "(?, ?), (?, ?)");
        assert_eq!(s.list(3), "?, ?, ?");
        assert_eq!(Params::new(Dialect::Sqlite).rows(0, 3), "");
    }
}

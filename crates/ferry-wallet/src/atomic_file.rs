//! Replacing a file atomically and durably: a reader, and the file system after a power cut,
//! finds the old content or the new, never a mix.
//!
//! The new content goes to a temporary file beside the target (`tempfile`: a unique name,
//! mode 0600), is flushed to disk, renamed over the target (`NamedTempFile::persist`), and
//! then the directory is flushed so that the rename itself survives a power cut. A temporary
//! file that is never renamed is removed when it is dropped. [`StagedFile`] splits the two
//! halves for a caller that acts between them (the secure wallet's crash points);
//! [`write_atomically`] does both.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// New content for a file, written and flushed to a temporary file beside it, not yet in
/// place. Dropping it without [`StagedFile::commit`] leaves the file as it was.
#[derive(Debug)]
pub struct StagedFile {
    tmp: NamedTempFile,
    path: PathBuf,
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

impl StagedFile {
    /// Writes `bytes` to a new temporary file in the directory of `path` (named after it:
    /// `.NAME.XXXXXX.tmp`) and flushes it to disk.
    pub fn write(path: &Path, bytes: &[u8]) -> io::Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::other("the path names no file"))?;
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let mut tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .tempfile_in(parent_of(path))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        Ok(StagedFile {
            tmp,
            path: path.to_owned(),
        })
    }

    /// Renames the new content over the file and flushes the directory.
    pub fn commit(self) -> io::Result<()> {
        let StagedFile { tmp, path } = self;
        tmp.persist(&path).map_err(|e| e.error)?;
        File::open(parent_of(&path))?.sync_all()
    }
}

/// Replaces the content of `path` with `bytes`, atomically and durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    StagedFile::write(path, bytes)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("request.txt");
        write_atomically(&path, b"first, and longer").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(names(dir.path()), ["request.txt"]);
    }

    #[test]
    fn a_staged_file_changes_nothing_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomically(&path, b"old").unwrap();
        let staged = StagedFile::write(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let tmp = names(dir.path());
        assert_eq!(tmp.len(), 2, "{tmp:?}");
        assert!(
            tmp.iter()
                .any(|n| n.starts_with(".state.") && n.ends_with(".tmp")),
            "{tmp:?}"
        );
        drop(staged);
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["state"], "the temporary file is gone");
        StagedFile::write(&path, b"new").unwrap().commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error() {
        assert!(write_atomically(Path::new("/"), b"x").is_err());
        assert!(write_atomically(Path::new(".."), b"x").is_err());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("file");
        assert_eq!(
            write_atomically(&path, b"x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}

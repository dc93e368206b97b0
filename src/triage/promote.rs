//! Filing a minimized crasher as a regression input,
//! `<dir>/<signature id>`, which `cargo test` replays: once per bug, and
//! never twice for the same bytes.

use std::path::{Path, PathBuf};

use super::TriageError;
use super::report::Regression;

/// Writes `data` as `dir/id` unless that file, or a file with the same
/// bytes, is already there.
pub fn promote(dir: &Path, id: &str, data: &[u8]) -> Result<Regression, TriageError> {
    let io = |what: String| move |source| TriageError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let path = dir.join(id);
    if path.exists() {
        return Ok(regression(path, false));
    }
    for entry in std::fs::read_dir(dir).map_err(io(format!("cannot list {}", dir.display())))? {
        let existing = entry.map_err(io(format!("cannot list {}", dir.display())))?.path();
        if existing.is_file() && std::fs::read(&existing).is_ok_and(|bytes| bytes == data) {
            return Ok(regression(existing, false));
        }
    }
    // Created only if still absent: a concurrent triage may have filed it.
    let created = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
    match created {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(data)
                .map_err(io(format!("cannot write {}", path.display())))?;
            Ok(regression(path, true))
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(regression(path, false)),
        Err(error) => Err(io(format!("cannot write {}", path.display()))(error)),
    }
}

fn regression(path: PathBuf, added: bool) -> Regression {
    Regression {
        path: path.display().to_string(),
        added,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_once_by_id_and_by_content() {
        let dir = std::env::temp_dir().join(format!("kafka-fuzz-promote-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = promote(&dir, "00aa", b"!P").unwrap();
        assert!(first.added);
        assert_eq!(std::fs::read(dir.join("00aa")).unwrap(), b"!P");
        let again = promote(&dir, "00aa", b"other").unwrap();
        assert!(!again.added);
        let same_bytes = promote(&dir, "11bb", b"!P").unwrap();
        assert!(!same_bytes.added);
        assert_eq!(same_bytes.path, dir.join("00aa").display().to_string());
        assert!(!dir.join("11bb").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

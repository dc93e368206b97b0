//! The disk under a node's write-ahead log: a trait with the few file
//! operations the log needs, and [`FileDisk`], its implementation over a data
//! directory.
//!
//! The trait separates "written" from "durable" (`append` versus `flush`) so
//! that the simulation's disk (`server::sim::disk::SimDisk`) can lose exactly
//! what a power loss loses, and the log's recovery can be tested against it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A flat directory of files, with explicit durability.
///
/// File names are plain names (`00000000000000000000.wal`), never paths.
pub trait Disk: Send {
    /// Writes `bytes` at the end of `file`, creating it. Not durable until
    /// [`flush`](Disk::flush): a crash may lose all or part of it.
    fn append(&mut self, file: &str, bytes: &[u8]) -> Result<(), DiskError>;

    /// Makes everything appended to `file` so far durable.
    fn flush(&mut self, file: &str) -> Result<(), DiskError>;

    /// The whole contents as this process sees them: durable and unflushed.
    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError>;

    /// Cuts `file` to `len` bytes (at most its length); durable at once.
    fn truncate(&mut self, file: &str, len: u64) -> Result<(), DiskError>;

    /// The file names, sorted.
    fn list(&self) -> Result<Vec<String>, DiskError>;

    /// Deletes `file`.
    fn remove(&mut self, file: &str) -> Result<(), DiskError>;
}

/// A disk reached through a borrow: lets a caller keep the disk it lends to a
/// log (tests inspect it after a refused recovery).
impl<D: Disk + ?Sized> Disk for &mut D {
    fn append(&mut self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
        (**self).append(file, bytes)
    }
    fn flush(&mut self, file: &str) -> Result<(), DiskError> {
        (**self).flush(file)
    }
    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
        (**self).read(file)
    }
    fn truncate(&mut self, file: &str, len: u64) -> Result<(), DiskError> {
        (**self).truncate(file, len)
    }
    fn list(&self) -> Result<Vec<String>, DiskError> {
        (**self).list()
    }
    fn remove(&mut self, file: &str) -> Result<(), DiskError> {
        (**self).remove(file)
    }
}

/// Why a disk operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// The OS refused an operation on a file of a [`FileDisk`].
    #[error("cannot {op} {file} in data dir {}: {source}", dir.display())]
    Io {
        op: &'static str,
        file: String,
        dir: PathBuf,
        source: io::Error,
    },
    /// The OS refused an operation on the data directory itself.
    #[error("cannot {op} data dir {}: {source}", dir.display())]
    DataDir {
        op: &'static str,
        dir: PathBuf,
        source: io::Error,
    },
    /// The file does not exist (simulated disk).
    #[error("cannot {op} {file}: no such file")]
    NoSuchFile { op: &'static str, file: String },
    /// `truncate` cannot make a file longer.
    #[error("cannot truncate {file} to {len} bytes: it holds only {size}")]
    TruncateBeyondEnd { file: String, len: u64, size: u64 },
    /// A name that is empty or would reach outside the data directory.
    #[error("invalid file name {file:?}: expected a plain name without directories")]
    InvalidName { file: String },
}

/// Refuses names that are not a single plain component, so that no caller
/// (or corrupt metadata naming a file) can reach outside the data directory.
pub(crate) fn check_name(file: &str) -> Result<(), DiskError> {
    let plain = !file.is_empty() && file != "." && file != ".." && !file.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(DiskError::InvalidName { file: file.to_owned() })
    }
}

/// Real files in one data directory. Only regular files ending in `.wal` are
/// listed, so the directory may hold other things (a lock file, notes).
#[derive(Debug)]
pub struct FileDisk {
    dir: PathBuf,
    /// Open handles, so appends do not reopen the file each time.
    open: BTreeMap<String, OpenFile>,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    /// Whether the directory was synced since this handle was opened: a new
    /// file's directory entry is not durable until its directory is.
    dir_synced: bool,
}

impl FileDisk {
    /// Opens the data directory `dir`, creating it (and its parents).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, DiskError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| DiskError::DataDir {
            op: "create",
            dir: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            open: BTreeMap::new(),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_error(&self, op: &'static str, file: &str) -> impl FnOnce(io::Error) -> DiskError + use<> {
        let dir = self.dir.clone();
        let file = file.to_owned();
        move |source| DiskError::Io { op, file, dir, source }
    }

    /// The cached handle of `file`, opened for appending (`create`: creating it).
    fn handle(&mut self, op: &'static str, file: &str, create: bool) -> Result<&mut OpenFile, DiskError> {
        check_name(file)?;
        if !self.open.contains_key(file) {
            let handle = OpenOptions::new()
                .append(true)
                .create(create)
                .open(self.dir.join(file))
                .map_err(self.io_error(op, file))?;
            self.open.insert(
                file.to_owned(),
                OpenFile {
                    file: handle,
                    dir_synced: false,
                },
            );
        }
        Ok(self.open.get_mut(file).expect("inserted above"))
    }

    /// Syncs the file's data, then (once per handle) the directory, so the
    /// file is found again after a power loss.
    fn sync(&mut self, op: &'static str, file: &str) -> Result<(), DiskError> {
        let sync_error = self.io_error(op, file);
        let dir_error = self.io_error(op, file);
        let dir = self.dir.clone();
        let handle = self.handle(op, file, false)?;
        handle.file.sync_data().map_err(sync_error)?;
        if !handle.dir_synced {
            sync_dir(&dir).map_err(dir_error)?;
            handle.dir_synced = true;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Elsewhere a directory cannot be opened as a file; its entries are synced
/// with the file's metadata.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

impl Disk for FileDisk {
    fn append(&mut self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
        let error = self.io_error("append to", file);
        let handle = self.handle("append to", file, true)?;
        handle.file.write_all(bytes).map_err(error)
    }

    fn flush(&mut self, file: &str) -> Result<(), DiskError> {
        self.sync("flush", file)
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
        check_name(file)?;
        fs::read(self.dir.join(file)).map_err(self.io_error("read", file))
    }

    fn truncate(&mut self, file: &str, len: u64) -> Result<(), DiskError> {
        let meta_error = self.io_error("truncate", file);
        let cut_error = self.io_error("truncate", file);
        let handle = self.handle("truncate", file, false)?;
        let size = handle.file.metadata().map_err(meta_error)?.len();
        if len > size {
            return Err(DiskError::TruncateBeyondEnd {
                file: file.to_owned(),
                len,
                size,
            });
        }
        handle.file.set_len(len).map_err(cut_error)?;
        self.sync("truncate", file)
    }

    fn list(&self) -> Result<Vec<String>, DiskError> {
        let list_error = |source| DiskError::DataDir {
            op: "list",
            dir: self.dir.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(list_error)? {
            let entry = entry.map_err(list_error)?;
            // `DirEntry::file_type` does not follow symlinks: only regular files.
            if !entry.file_type().map_err(list_error)?.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string()
                && name.ends_with(".wal")
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove(&mut self, file: &str) -> Result<(), DiskError> {
        check_name(file)?;
        self.open.remove(file);
        fs::remove_file(self.dir.join(file)).map_err(self.io_error("remove", file))?;
        sync_dir(&self.dir).map_err(self.io_error("remove", file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos());
            let unique = format!(
                "kafka-fuzz-{name}-{}-{nanos}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            Self(std::env::temp_dir().join(unique))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn file_disk_round_trip() {
        let temp = TempDir::new("file-disk");
        let dir = temp.0.join("data");
        let mut disk = FileDisk::open(&dir).unwrap();
        assert!(dir.is_dir(), "open creates the data dir");
        assert_eq!(disk.list().unwrap(), Vec::<String>::new());

        disk.append("b.wal", b"hello").unwrap();
        disk.append("b.wal", b" world").unwrap();
        assert_eq!(
            disk.read("b.wal").unwrap(),
            b"hello world",
            "unflushed bytes are readable"
        );
        disk.flush("b.wal").unwrap();
        disk.append("a.wal", b"first").unwrap();
        disk.flush("a.wal").unwrap();
        // Not listed: another extension, a directory named like a segment.
        fs::write(dir.join("notes.txt"), b"x").unwrap();
        fs::create_dir(dir.join("c.wal")).unwrap();
        assert_eq!(disk.list().unwrap(), ["a.wal", "b.wal"]);

        disk.truncate("b.wal", 5).unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"hello");
        disk.append("b.wal", b"!").unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"hello!", "appends go to the new end");
        disk.flush("b.wal").unwrap();
        let error = disk.truncate("b.wal", 7).unwrap_err();
        assert!(
            matches!(error, DiskError::TruncateBeyondEnd { len: 7, size: 6, .. }),
            "{error}"
        );

        // A second process sees the same files.
        drop(disk);
        let mut disk = FileDisk::open(&dir).unwrap();
        assert_eq!(disk.read("a.wal").unwrap(), b"first");
        assert_eq!(disk.read("b.wal").unwrap(), b"hello!");
        disk.remove("a.wal").unwrap();
        assert_eq!(disk.list().unwrap(), ["b.wal"]);

        let message = disk.read("a.wal").unwrap_err().to_string();
        assert!(message.contains("a.wal"), "{message}");
        assert!(message.contains(&dir.display().to_string()), "{message}");
        let message = disk.flush("missing.wal").unwrap_err().to_string();
        assert!(message.contains("missing.wal"), "{message}");
        assert!(!dir.join("missing.wal").exists(), "flush does not create files");
    }

    #[test]
    fn file_disk_refuses_paths_as_names() {
        let temp = TempDir::new("file-disk-names");
        let mut disk = FileDisk::open(&temp.0).unwrap();
        for name in ["", ".", "..", "../escape.wal", "sub/x.wal", "a\\b.wal", "nul\0.wal"] {
            let error = disk.append(name, b"x").unwrap_err();
            assert!(matches!(error, DiskError::InvalidName { .. }), "{name:?}: {error}");
        }
        assert!(!temp.0.with_file_name("escape.wal").exists());
        assert_eq!(disk.list().unwrap(), Vec::<String>::new());
    }
}

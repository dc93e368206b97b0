//! An in-memory [`Disk`] for the simulation, which can crash.
//!
//! Each file is durable bytes plus an unflushed tail, so a simulated power
//! loss drops exactly what a real one may drop, from a seeded RNG so that any
//! failure it finds replays.

use std::collections::BTreeMap;

use rand::Rng;

use crate::server::cluster::disk::{Disk, DiskError, check_name};

/// Files in memory, each durable bytes followed by an unflushed tail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimDisk {
    files: BTreeMap<String, SimFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SimFile {
    durable: Vec<u8>,
    unflushed: Vec<u8>,
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }

    /// A power loss or SIGKILL before the page cache reached the disk: every
    /// file loses its unflushed tail, except that half the time a file keeps
    /// a random-length prefix of it (a torn last write).
    pub fn crash(&mut self, rng: &mut impl Rng) {
        for file in self.files.values_mut() {
            let tail = std::mem::take(&mut file.unflushed);
            if !tail.is_empty() && rng.gen_bool(0.5) {
                let kept = rng.gen_range(0..=tail.len());
                file.durable.extend_from_slice(&tail[..kept]);
            }
        }
    }

    /// Flips every bit of the byte at `offset` of `file` (durable or not), as
    /// a bad sector or a stray write would.
    ///
    /// # Panics
    ///
    /// If the file does not exist or is not longer than `offset`: a test that
    /// corrupts nothing would pass for the wrong reason.
    pub fn corrupt(&mut self, file: &str, offset: usize) {
        let contents = self
            .files
            .get_mut(file)
            .unwrap_or_else(|| panic!("cannot corrupt {file}: no such file"));
        let durable = contents.durable.len();
        let byte = if offset < durable {
            &mut contents.durable[offset]
        } else {
            contents
                .unflushed
                .get_mut(offset - durable)
                .unwrap_or_else(|| panic!("cannot corrupt {file} at {offset}: past its end"))
        };
        *byte ^= 0xff;
    }

    /// How many bytes of `file` survive a crash for certain.
    pub fn durable_len(&self, file: &str) -> Option<usize> {
        self.files.get(file).map(|contents| contents.durable.len())
    }

    /// How many bytes of `file` a crash may lose.
    pub fn unflushed_len(&self, file: &str) -> Option<usize> {
        self.files.get(file).map(|contents| contents.unflushed.len())
    }

    fn file_mut(&mut self, op: &'static str, file: &str) -> Result<&mut SimFile, DiskError> {
        check_name(file)?;
        self.files.get_mut(file).ok_or_else(|| no_such_file(op, file))
    }
}

fn no_such_file(op: &'static str, file: &str) -> DiskError {
    DiskError::NoSuchFile {
        op,
        file: file.to_owned(),
    }
}

impl Disk for SimDisk {
    fn append(&mut self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
        check_name(file)?;
        let contents = self.files.entry(file.to_owned()).or_default();
        contents.unflushed.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self, file: &str) -> Result<(), DiskError> {
        let contents = self.file_mut("flush", file)?;
        let tail = std::mem::take(&mut contents.unflushed);
        contents.durable.extend_from_slice(&tail);
        Ok(())
    }

    fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
        check_name(file)?;
        let contents = self.files.get(file).ok_or_else(|| no_such_file("read", file))?;
        Ok([contents.durable.as_slice(), &contents.unflushed].concat())
    }

    /// Like `ftruncate` then `fdatasync`: what remains is durable.
    fn truncate(&mut self, file: &str, len: u64) -> Result<(), DiskError> {
        let contents = self.file_mut("truncate", file)?;
        let size = (contents.durable.len() + contents.unflushed.len()) as u64;
        if len > size {
            return Err(DiskError::TruncateBeyondEnd {
                file: file.to_owned(),
                len,
                size,
            });
        }
        // `len <= size`, and `size` came from a `usize`.
        let len = len as usize;
        let tail = std::mem::take(&mut contents.unflushed);
        contents.durable.extend_from_slice(&tail);
        contents.durable.truncate(len);
        Ok(())
    }

    fn list(&self) -> Result<Vec<String>, DiskError> {
        // BTreeMap keys: already sorted.
        Ok(self.files.keys().cloned().collect())
    }

    fn remove(&mut self, file: &str) -> Result<(), DiskError> {
        check_name(file)?;
        self.files
            .remove(file)
            .map(|_| ())
            .ok_or_else(|| no_such_file("remove", file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn reads_see_unflushed_bytes_and_flush_makes_them_durable() {
        let mut disk = SimDisk::new();
        disk.append("b.wal", b"abc").unwrap();
        disk.append("a.wal", b"x").unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"abc");
        assert_eq!(
            (disk.durable_len("b.wal"), disk.unflushed_len("b.wal")),
            (Some(0), Some(3))
        );
        disk.flush("b.wal").unwrap();
        disk.append("b.wal", b"de").unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"abcde");
        assert_eq!(
            (disk.durable_len("b.wal"), disk.unflushed_len("b.wal")),
            (Some(3), Some(2))
        );
        assert_eq!(disk.list().unwrap(), ["a.wal", "b.wal"]);
        assert_eq!(disk.durable_len("c.wal"), None);

        // Truncating into the unflushed tail keeps (and makes durable) its start.
        disk.truncate("b.wal", 4).unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"abcd");
        assert_eq!(
            (disk.durable_len("b.wal"), disk.unflushed_len("b.wal")),
            (Some(4), Some(0))
        );
        disk.truncate("b.wal", 1).unwrap();
        assert_eq!(disk.read("b.wal").unwrap(), b"a");
        let error = disk.truncate("b.wal", 2).unwrap_err();
        assert!(
            matches!(error, DiskError::TruncateBeyondEnd { len: 2, size: 1, .. }),
            "{error}"
        );

        disk.corrupt("b.wal", 0);
        assert_eq!(disk.read("b.wal").unwrap(), [b'a' ^ 0xff]);
        disk.corrupt("a.wal", 0);
        assert_eq!(
            disk.read("a.wal").unwrap(),
            [b'x' ^ 0xff],
            "corrupts unflushed bytes too"
        );

        disk.remove("a.wal").unwrap();
        assert_eq!(disk.list().unwrap(), ["b.wal"]);
        for error in [
            disk.read("a.wal").unwrap_err(),
            disk.flush("a.wal").unwrap_err(),
            disk.remove("a.wal").unwrap_err(),
            disk.truncate("a.wal", 0).unwrap_err(),
        ] {
            assert!(matches!(error, DiskError::NoSuchFile { .. }), "{error}");
            assert!(error.to_string().contains("a.wal"), "{error}");
        }
        let error = disk.append("../a.wal", b"x").unwrap_err();
        assert!(matches!(error, DiskError::InvalidName { .. }), "{error}");
    }

    #[test]
    fn crash_drops_unflushed_bytes_keeps_flushed_ones_and_sometimes_tears() {
        let (mut dropped, mut torn, mut kept_whole) = (0, 0, 0);
        for seed in 0..200 {
            let mut disk = SimDisk::new();
            disk.append("flushed.wal", b"durable").unwrap();
            disk.flush("flushed.wal").unwrap();
            disk.append("flushed.wal", b"-tail").unwrap();
            disk.append("clean.wal", b"all flushed").unwrap();
            disk.flush("clean.wal").unwrap();
            disk.append("never.wal", b"never flushed").unwrap();

            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed));

            assert_eq!(disk.read("clean.wal").unwrap(), b"all flushed", "seed {seed}");
            let after = disk.read("flushed.wal").unwrap();
            assert!(b"durable-tail".starts_with(&after), "seed {seed}: {after:?}");
            assert!(after.starts_with(b"durable"), "seed {seed}: lost flushed bytes");
            match after.len() - b"durable".len() {
                0 => dropped += 1,
                5 => kept_whole += 1,
                _ => torn += 1,
            }
            let never = disk.read("never.wal").unwrap();
            assert!(b"never flushed".starts_with(&never), "seed {seed}: {never:?}");
            for file in ["flushed.wal", "clean.wal", "never.wal"] {
                assert_eq!(disk.unflushed_len(file), Some(0), "seed {seed}: {file}");
            }

            // What survived a crash is durable: a second crash changes nothing.
            let survived = disk.clone();
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed + 1000));
            assert_eq!(disk, survived, "seed {seed}");
        }
        assert!(dropped > 50, "the unflushed tail is usually lost: {dropped}/200");
        assert!(torn > 10, "a torn prefix is sometimes kept: {torn}/200");
        assert!(dropped + torn + kept_whole == 200);
    }

    #[test]
    fn crash_is_deterministic_per_seed() {
        let mut disk = SimDisk::new();
        for file in ["a.wal", "b.wal", "c.wal"] {
            disk.append(file, &[7; 100]).unwrap();
        }
        let mut first = disk.clone();
        let mut second = disk.clone();
        first.crash(&mut ChaCha8Rng::seed_from_u64(42));
        second.crash(&mut ChaCha8Rng::seed_from_u64(42));
        assert_eq!(first, second);
    }
}

//! A write-ahead log of opaque records over a [`Disk`]: what a node of the
//! replicated broker keeps its partition logs and Raft metadata log in.
//!
//! A record is framed as `[u32 BE payload length][u32 BE CRC-32C of the
//! payload][payload]`; records go into segment files named after the index of
//! their first record (`{index:020}.wal`, so names sort in log order).
//!
//! Recovery tells a crash from corruption. A crash can only tear the end of
//! the last segment: the log syncs a segment before it starts the next, so
//! every earlier segment is whole on disk. A record cut short at the end of
//! the last segment is therefore cut off and reported; anything else (a CRC
//! mismatch, an earlier segment ending mid-record, an absurd length, a
//! missing segment) is corruption, which is refused without touching the
//! disk, so that no valid record is thrown away by guessing.

use bytes::Bytes;

use super::disk::{Disk, DiskError};

/// Bytes before each payload: its length and its CRC-32C.
pub const RECORD_HEADER_BYTES: usize = 8;

/// The largest payload: a length prefix above it is corruption, never a
/// reason to trust and allocate.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

const SEGMENT_SUFFIX: &str = ".wal";

/// A log of records numbered from the first segment's index on.
#[derive(Debug, Clone)]
pub struct WriteAheadLog<D: Disk> {
    disk: D,
    segment_bytes: u64,
    next_index: u64,
    /// The segment appends go to; `None` before the first record.
    current: Option<Segment>,
    /// Whether `current` holds bytes not yet flushed.
    dirty: bool,
    /// A disk error left the files in an unknown state (a partial record, or
    /// a failed fsync whose data the kernel may have dropped): appending more
    /// could bury valid records behind garbage, so the log must be reopened.
    failed: bool,
}

#[derive(Debug, Clone)]
struct Segment {
    file: String,
    len: u64,
}

/// What [`WriteAheadLog::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The index of `records[0]` (that of the first segment: 0 unless earlier
    /// segments were removed).
    pub first_index: u64,
    /// Every whole record, in order.
    pub records: Vec<Bytes>,
    /// The torn write cut off the end of the last segment, if any.
    pub torn_tail: Option<TornTail>,
}

/// An incomplete record at the end of the last segment, cut off by recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub file: String,
    /// Where the incomplete record began: the segment's length now.
    pub offset: u64,
    pub bytes_cut: u64,
}

/// Why the log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log segment {file} is corrupt at byte offset {offset}: {reason}")]
    Corrupt { file: String, offset: u64, reason: String },
    /// A segment's name does not fit the sequence (a missing segment, a
    /// foreign `.wal` file).
    #[error("write-ahead log segment {file} does not fit the log: {reason}")]
    Inconsistent { file: String, reason: String },
    #[error("record of {len} bytes refused: records hold 1 to {MAX_RECORD_BYTES} bytes")]
    BadRecordSize { len: usize },
    #[error("write-ahead log is full: record index {0} is the last")]
    IndexExhausted(u64),
    #[error("write-ahead log failed on an earlier disk error; reopen it to recover")]
    Failed,
    #[error(transparent)]
    Disk(#[from] DiskError),
}

impl<D: Disk> WriteAheadLog<D> {
    /// Recovers the log on `disk`: every record of every segment, in order,
    /// with a torn last record cut off. New segments start once the current
    /// one would pass `segment_bytes`.
    pub fn open(mut disk: D, segment_bytes: u64) -> Result<(Self, Recovered), WalError> {
        let files: Vec<String> = disk
            .list()?
            .into_iter()
            .filter(|name| name.ends_with(SEGMENT_SUFFIX))
            .collect();
        let mut first_index = None;
        let mut next_index = 0u64;
        let mut records = Vec::new();
        let mut torn_tail = None;
        let mut current = None;
        for (position, file) in files.iter().enumerate() {
            let start = segment_index(file).ok_or_else(|| WalError::Inconsistent {
                file: file.clone(),
                reason: "its name is not a 20-digit record index followed by .wal".to_owned(),
            })?;
            match first_index {
                None => first_index = Some(start),
                Some(_) if start != next_index => {
                    return Err(WalError::Inconsistent {
                        file: file.clone(),
                        reason: format!("it starts at record {start}, but the segments before it end at {next_index}"),
                    });
                }
                Some(_) => {}
            }
            let is_last = position + 1 == files.len();
            let data = Bytes::from(disk.read(file)?);
            let scanned = scan_segment(file, &data, is_last)?;
            let count = scanned.records.len() as u64;
            next_index = start.checked_add(count).ok_or_else(|| WalError::Inconsistent {
                file: file.clone(),
                reason: format!("its {count} records from index {start} overflow a u64"),
            })?;
            records.extend(scanned.records);
            torn_tail = scanned.torn_tail;
            current = Some(Segment {
                file: file.clone(),
                len: scanned.whole_len,
            });
        }
        // Everything checked: only now cut, so a refusal leaves the disk as it was.
        if let Some(torn) = &torn_tail {
            disk.truncate(&torn.file, torn.offset)?;
        }
        let log = Self {
            disk,
            segment_bytes,
            next_index,
            current,
            dirty: false,
            failed: false,
        };
        let recovered = Recovered {
            first_index: first_index.unwrap_or(0),
            records,
            torn_tail,
        };
        Ok((log, recovered))
    }

    /// Appends a record (1 to [`MAX_RECORD_BYTES`] bytes), returning its
    /// index. Not durable until [`flush`](Self::flush).
    ///
    /// Empty payloads are refused: a file extended without its data written
    /// reads as zeros, which would otherwise parse as empty records.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, WalError> {
        if self.failed {
            return Err(WalError::Failed);
        }
        if payload.is_empty() || payload.len() > MAX_RECORD_BYTES {
            return Err(WalError::BadRecordSize { len: payload.len() });
        }
        let index = self.next_index;
        let after = index.checked_add(1).ok_or(WalError::IndexExhausted(index))?;
        let frame = frame(payload);
        let frame_len = frame.len() as u64;
        let result = self.write(index, &frame);
        if result.is_err() {
            self.failed = true;
        }
        result?;
        self.next_index = after;
        if let Some(current) = &mut self.current {
            current.len += frame_len;
        }
        Ok(index)
    }

    fn write(&mut self, index: u64, frame: &[u8]) -> Result<(), WalError> {
        let roll = match &self.current {
            None => true,
            Some(current) => current.len > 0 && current.len + frame.len() as u64 > self.segment_bytes,
        };
        if roll {
            // The finished segment must be whole on disk before the next one
            // exists: recovery counts on a tear only ever being at the end.
            self.flush_current()?;
            self.current = Some(Segment {
                file: segment_name(index),
                len: 0,
            });
        }
        let current = self.current.as_ref().expect("set above");
        self.dirty = true;
        self.disk.append(&current.file, frame)?;
        Ok(())
    }

    /// Makes every record appended so far durable.
    pub fn flush(&mut self) -> Result<(), WalError> {
        if self.failed {
            return Err(WalError::Failed);
        }
        let result = self.flush_current();
        if result.is_err() {
            // After a failed fsync the kernel may have dropped the dirty pages:
            // a retry that succeeded would claim durability falsely.
            self.failed = true;
        }
        result
    }

    fn flush_current(&mut self) -> Result<(), WalError> {
        if let Some(current) = &self.current
            && self.dirty
        {
            self.disk.flush(&current.file)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The index the next appended record gets.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    pub fn disk(&self) -> &D {
        &self.disk
    }

    /// The disk, for a test's fault injection; writing the log's segments
    /// through it leaves the log's own idea of their lengths stale.
    pub fn disk_mut(&mut self) -> &mut D {
        &mut self.disk
    }

    pub fn into_disk(self) -> D {
        self.disk
    }
}

/// A segment's file name: the index of its first record.
pub fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

/// The first record index a segment's name gives, if it is one of ours.
fn segment_index(file: &str) -> Option<u64> {
    let digits = file.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    // `append` bounds the length by MAX_RECORD_BYTES, far below u32::MAX.
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

struct Scanned {
    /// Slices of the segment's bytes: nothing allocated per record.
    records: Vec<Bytes>,
    /// The length of the segment's whole records.
    whole_len: u64,
    torn_tail: Option<TornTail>,
}

/// Parses one segment's records; `is_last`: whether a torn end is a crash's
/// (and not corruption).
fn scan_segment(file: &str, data: &Bytes, is_last: bool) -> Result<Scanned, WalError> {
    let corrupt = |offset: usize, reason: String| WalError::Corrupt {
        file: file.to_owned(),
        offset: offset as u64,
        reason,
    };
    let mut records = Vec::new();
    let mut offset = 0;
    let mut torn_tail = None;
    while offset < data.len() {
        let rest = &data[offset..];
        let cut_short = |what: String| {
            if is_last {
                Ok(TornTail {
                    file: file.to_owned(),
                    offset: offset as u64,
                    bytes_cut: rest.len() as u64,
                })
            } else {
                Err(corrupt(offset, format!("{what}, but a later segment exists")))
            }
        };
        let Some((header, body)) = rest.split_first_chunk::<RECORD_HEADER_BYTES>() else {
            torn_tail = Some(cut_short(format!(
                "the segment ends {} bytes into a {RECORD_HEADER_BYTES}-byte record header",
                rest.len()
            ))?);
            break;
        };
        let [l0, l1, l2, l3, c0, c1, c2, c3] = *header;
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        let stored_crc = u32::from_be_bytes([c0, c1, c2, c3]);
        if len == 0 {
            // A file whose size reached the disk before its data reads as
            // zeros there: a torn write too, if only zeros follow.
            if is_last && rest.iter().all(|&byte| byte == 0) {
                torn_tail = Some(cut_short(String::new())?);
                break;
            }
            return Err(corrupt(offset, "record length 0 (records are never empty)".to_owned()));
        }
        if len > MAX_RECORD_BYTES {
            return Err(corrupt(
                offset,
                format!("record length {len} exceeds the maximum of {MAX_RECORD_BYTES} bytes"),
            ));
        }
        if body.len() < len {
            torn_tail = Some(cut_short(format!(
                "the segment ends {} bytes into a record of {len} payload bytes",
                body.len()
            ))?);
            break;
        }
        let payload_start = offset + RECORD_HEADER_BYTES;
        let payload = data.slice(payload_start..payload_start + len);
        let computed_crc = crc32c::crc32c(&payload);
        if computed_crc != stored_crc {
            return Err(corrupt(
                offset,
                format!(
                    "CRC-32C 0x{computed_crc:08x} of the {len}-byte payload does not match 0x{stored_crc:08x} \
                     in the record header"
                ),
            ));
        }
        records.push(payload);
        offset = payload_start + len;
    }
    let whole_len = torn_tail.as_ref().map_or(data.len() as u64, |torn| torn.offset);
    Ok(Scanned {
        records,
        whole_len,
        torn_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sim::disk::SimDisk;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const FIRST: &str = "00000000000000000000.wal";

    fn payloads(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("record {i} {}", "x".repeat(i % 13)).into_bytes())
            .collect()
    }

    /// A log of `payloads`, flushed, on a fresh disk.
    fn written(payloads: &[Vec<u8>], segment_bytes: u64) -> SimDisk {
        let (mut log, recovered) = WriteAheadLog::open(SimDisk::new(), segment_bytes).unwrap();
        assert!(recovered.records.is_empty());
        for (i, payload) in payloads.iter().enumerate() {
            assert_eq!(log.append(payload).unwrap(), i as u64);
        }
        log.flush().unwrap();
        log.into_disk()
    }

    fn open(disk: SimDisk, segment_bytes: u64) -> (WriteAheadLog<SimDisk>, Recovered) {
        WriteAheadLog::open(disk, segment_bytes).unwrap()
    }

    /// Where record `index` starts in a segment holding `payloads` from its start.
    fn record_offset(payloads: &[Vec<u8>], index: usize) -> usize {
        payloads[..index]
            .iter()
            .map(|payload| RECORD_HEADER_BYTES + payload.len())
            .sum()
    }

    /// The segment files and the payloads in each, as a log with
    /// `segment_bytes` lays them out.
    fn layout(payloads: &[Vec<u8>], segment_bytes: u64) -> Vec<(String, Vec<Vec<u8>>)> {
        let mut segments: Vec<(String, Vec<Vec<u8>>, u64)> = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            let len = (RECORD_HEADER_BYTES + payload.len()) as u64;
            match segments.last_mut() {
                Some((_, records, used)) if *used + len <= segment_bytes => {
                    records.push(payload.clone());
                    *used += len;
                }
                _ => segments.push((segment_name(i as u64), vec![payload.clone()], len)),
            }
        }
        segments.into_iter().map(|(file, records, _)| (file, records)).collect()
    }

    fn assert_refused(disk: &mut SimDisk, file: &str, offset: usize, reason: &str) {
        let before = disk.clone();
        let error = WriteAheadLog::open(&mut *disk, 64).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(&error, WalError::Corrupt { file: f, offset: o, .. } if f == file && *o == offset as u64),
            "{message}"
        );
        let expected = format!("write-ahead log segment {file} is corrupt at byte offset {offset}: ");
        assert!(message.starts_with(&expected), "{message}");
        assert!(message.contains(reason), "{message}");
        assert_eq!(*disk, before, "a refused recovery changes nothing");
    }

    #[test]
    fn records_survive_reopen_in_order_across_segments() {
        let payloads = payloads(60);
        let disk = written(&payloads, 100);
        let files = disk.list().unwrap();
        let expected_layout = layout(&payloads, 100);
        assert!(expected_layout.len() >= 5, "{expected_layout:?}");
        let expected_files: Vec<&String> = expected_layout.iter().map(|(file, _)| file).collect();
        assert_eq!(files.iter().collect::<Vec<_>>(), expected_files);
        for (file, records) in &expected_layout {
            assert_eq!(
                disk.read(file).unwrap(),
                records.iter().flat_map(|p| frame(p)).collect::<Vec<u8>>()
            );
            assert_eq!(disk.unflushed_len(file), Some(0), "{file}");
        }

        let (mut log, recovered) = open(disk, 100);
        assert_eq!(recovered.records, payloads);
        assert_eq!((recovered.first_index, recovered.torn_tail), (0, None));
        assert_eq!(log.next_index(), 60);

        // Appends continue the last segment, then roll on.
        let more = payloads
            .iter()
            .take(20)
            .map(|p| [p.as_slice(), b"!"].concat())
            .collect::<Vec<_>>();
        for (i, payload) in more.iter().enumerate() {
            assert_eq!(log.append(payload).unwrap(), 60 + i as u64);
        }
        log.flush().unwrap();
        let (log, recovered) = open(log.into_disk(), 100);
        assert_eq!(recovered.records, [payloads, more].concat());
        assert_eq!(log.next_index(), 80);
        assert!(log.disk().list().unwrap().len() > files.len());
    }

    #[test]
    fn a_record_larger_than_a_segment_gets_one_of_its_own() {
        let payloads = vec![b"a".to_vec(), vec![b'b'; 300], b"c".to_vec(), b"d".to_vec()];
        let disk = written(&payloads, 64);
        assert_eq!(
            disk.list().unwrap(),
            [segment_name(0), segment_name(1), segment_name(2)]
        );
        assert_eq!(disk.read(&segment_name(1)).unwrap().len(), RECORD_HEADER_BYTES + 300);
        assert_eq!(open(disk, 64).1.records, payloads);
    }

    #[test]
    fn rolling_syncs_the_finished_segment() {
        let (mut log, _) = open(SimDisk::new(), 32);
        log.append(&[1; 20]).unwrap();
        assert_eq!(log.disk().unflushed_len(FIRST), Some(28));
        log.append(&[2; 20]).unwrap();
        assert_eq!(
            log.disk().unflushed_len(FIRST),
            Some(0),
            "flushed before the next segment began"
        );
        assert_eq!(log.disk().unflushed_len(&segment_name(1)), Some(28));
    }

    #[test]
    fn an_unflushed_tail_is_lost_in_a_crash() {
        let payloads = payloads(10);
        let (mut log, _) = open(SimDisk::new(), 1 << 20);
        for payload in &payloads[..5] {
            log.append(payload).unwrap();
        }
        log.flush().unwrap();
        for payload in &payloads[5..] {
            log.append(payload).unwrap();
        }
        let mut disk = log.into_disk();
        // A crash that keeps no torn prefix: find a seed that drops the tail.
        let seed = (0..)
            .find(|&seed| {
                let mut crashed = disk.clone();
                crashed.crash(&mut ChaCha8Rng::seed_from_u64(seed));
                crashed.durable_len(FIRST) == disk.durable_len(FIRST)
            })
            .unwrap();
        disk.crash(&mut ChaCha8Rng::seed_from_u64(seed));
        let (mut log, recovered) = open(disk, 1 << 20);
        assert_eq!(recovered.records, payloads[..5]);
        assert_eq!(recovered.torn_tail, None);
        assert_eq!(log.append(b"next").unwrap(), 5, "indexes continue after the survivors");
    }

    #[test]
    fn crashes_at_random_points_always_recover_a_prefix() {
        let payloads = payloads(40);
        let mut tears = 0;
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (mut log, _) = open(SimDisk::new(), 80);
            let flushed_upto = rng.gen_range(0..=payloads.len());
            let written_upto = rng.gen_range(flushed_upto..=payloads.len());
            for payload in &payloads[..flushed_upto] {
                log.append(payload).unwrap();
            }
            log.flush().unwrap();
            for payload in &payloads[flushed_upto..written_upto] {
                log.append(payload).unwrap();
            }
            let mut disk = log.into_disk();
            disk.crash(&mut rng);

            let (mut log, recovered) = WriteAheadLog::open(disk, 80).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let survived = recovered.records.len();
            assert!((flushed_upto..=written_upto).contains(&survived), "seed {seed}");
            assert_eq!(recovered.records, payloads[..survived], "seed {seed}");
            tears += usize::from(recovered.torn_tail.is_some());

            // The recovered log carries on and reopens clean.
            assert_eq!(log.append(b"after").unwrap(), survived as u64, "seed {seed}");
            log.flush().unwrap();
            let (_, reopened) = open(log.into_disk(), 80);
            assert_eq!(reopened.torn_tail, None, "seed {seed}");
            assert_eq!(reopened.records.len(), survived + 1, "seed {seed}");
        }
        assert!(tears > 10, "crashes tear records: {tears}/300");
    }

    #[test]
    fn a_torn_last_record_is_cut_reported_and_the_log_carries_on() {
        let payloads = payloads(3);
        let whole = record_offset(&payloads, 3);
        for (name, partial) in [
            ("header", &frame(b"torn")[..5]),
            ("payload", &frame(b"torn record")[..12]),
        ] {
            let mut disk = written(&payloads, 1 << 20);
            disk.append(FIRST, partial).unwrap();
            disk.flush(FIRST).unwrap();

            let (mut log, recovered) = open(disk, 1 << 20);
            assert_eq!(recovered.records, payloads, "{name}");
            let expected = TornTail {
                file: FIRST.to_owned(),
                offset: whole as u64,
                bytes_cut: partial.len() as u64,
            };
            assert_eq!(recovered.torn_tail, Some(expected), "{name}");
            assert_eq!(
                log.disk().read(FIRST).unwrap().len(),
                whole,
                "{name}: cut to the last whole record"
            );
            assert_eq!(log.disk().unflushed_len(FIRST), Some(0), "{name}: the cut is durable");

            assert_eq!(log.append(b"after the tear").unwrap(), 3, "{name}");
            log.flush().unwrap();
            let (log, recovered) = open(log.into_disk(), 1 << 20);
            assert_eq!(recovered.torn_tail, None, "{name}");
            assert_eq!(
                recovered.records,
                [payloads.clone(), vec![b"after the tear".to_vec()]].concat()
            );
            assert_eq!(log.next_index(), 4);
        }
    }

    #[test]
    fn zeros_past_the_last_record_are_a_torn_write() {
        let payloads = payloads(2);
        let mut disk = written(&payloads, 1 << 20);
        disk.append(FIRST, &[0; 20]).unwrap();
        let (_, recovered) = open(disk, 1 << 20);
        assert_eq!(recovered.records, payloads);
        assert_eq!(recovered.torn_tail.map(|torn| torn.bytes_cut), Some(20));

        // Zeros followed by anything else are not.
        let mut disk = written(&payloads, 1 << 20);
        disk.append(FIRST, &[0, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert_refused(&mut disk, FIRST, record_offset(&payloads, 2), "record length 0");
    }

    #[test]
    fn a_corrupt_byte_in_an_earlier_segment_is_refused() {
        let payloads = payloads(30);
        let segments = layout(&payloads, 64);
        assert!(segments.len() >= 3);
        let (file, records) = &segments[1];
        assert!(records.len() >= 2, "{segments:?}");
        let mut disk = written(&payloads, 64);
        let offset = record_offset(records, 1);
        disk.corrupt(file, offset + RECORD_HEADER_BYTES + 2);
        assert_refused(&mut disk, file, offset, "CRC-32C 0x");
    }

    #[test]
    fn a_crc_mismatch_mid_way_through_the_last_segment_is_refused() {
        let payloads = payloads(5);
        let mut disk = written(&payloads, 1 << 20);
        let offset = record_offset(&payloads, 2);
        // The stored CRC itself damaged.
        disk.corrupt(FIRST, offset + 5);
        let stored = crc32c::crc32c(&payloads[2]) ^ 0x00ff_0000;
        let reason = format!(
            "CRC-32C 0x{:08x} of the {}-byte payload does not match 0x{stored:08x}",
            crc32c::crc32c(&payloads[2]),
            payloads[2].len()
        );
        assert_refused(&mut disk, FIRST, offset, &reason);
    }

    #[test]
    fn an_earlier_segment_ending_mid_record_is_refused() {
        let payloads = payloads(30);
        let segments = layout(&payloads, 64);
        let (file, records) = &segments[0];
        let mut disk = written(&payloads, 64);
        let len = record_offset(records, records.len());
        disk.truncate(file, len as u64 - 3).unwrap();
        assert_refused(
            &mut disk,
            file,
            record_offset(records, records.len() - 1),
            "a later segment exists",
        );
    }

    #[test]
    fn a_hostile_length_prefix_is_refused_without_allocating() {
        let mut hostile = vec![0xff; RECORD_HEADER_BYTES];
        hostile.extend_from_slice(b"short");
        // Alone in the last segment: an impossible length is no torn write.
        let mut disk = SimDisk::new();
        disk.append(FIRST, &hostile).unwrap();
        assert_refused(&mut disk, FIRST, 0, "record length 4294967295 exceeds the maximum");

        // After valid records, just past the maximum.
        let payloads = payloads(3);
        let mut disk = written(&payloads, 1 << 20);
        let mut header = ((MAX_RECORD_BYTES + 1) as u32).to_be_bytes().to_vec();
        header.extend_from_slice(&[0; 4]);
        disk.append(FIRST, &header).unwrap();
        assert_refused(&mut disk, FIRST, record_offset(&payloads, 3), "exceeds the maximum");
    }

    #[test]
    fn a_missing_or_foreign_segment_is_refused() {
        let payloads = payloads(30);
        let segments = layout(&payloads, 64);
        let mut disk = written(&payloads, 64);
        disk.remove(&segments[1].0).unwrap();
        let error = WriteAheadLog::open(disk.clone(), 64).unwrap_err();
        assert!(
            matches!(&error, WalError::Inconsistent { file, .. } if *file == segments[2].0),
            "{error}"
        );

        let mut disk = written(&payloads, 64);
        disk.append("backup.wal", b"x").unwrap();
        let error = WriteAheadLog::open(disk, 64).unwrap_err();
        assert!(error.to_string().contains("backup.wal"), "{error}");

        // Files of other kinds are not the log's.
        let mut disk = written(&payloads, 64);
        disk.append("snapshot.bin", b"x").unwrap();
        assert_eq!(open(disk, 64).1.records, payloads);
    }

    #[test]
    fn a_log_whose_first_segments_were_removed_starts_at_its_first_segment() {
        let payloads = payloads(30);
        let segments = layout(&payloads, 64);
        let mut disk = written(&payloads, 64);
        disk.remove(&segments[0].0).unwrap();
        let (log, recovered) = open(disk, 64);
        let skipped = segments[0].1.len();
        assert_eq!(recovered.first_index, skipped as u64);
        assert_eq!(recovered.records, payloads[skipped..]);
        assert_eq!(log.next_index(), 30);
    }

    #[test]
    fn record_sizes_outside_the_limits_are_refused() {
        let (mut log, _) = open(SimDisk::new(), 64);
        assert!(matches!(log.append(b""), Err(WalError::BadRecordSize { len: 0 })));
        let huge = vec![0; MAX_RECORD_BYTES + 1];
        assert!(matches!(log.append(&huge), Err(WalError::BadRecordSize { .. })));
        assert_eq!(log.append(b"ok").unwrap(), 0, "a refused record takes no index");
    }

    /// A disk whose appends fail once `budget` runs out.
    struct FailingDisk {
        inner: SimDisk,
        budget: usize,
    }

    impl Disk for FailingDisk {
        fn append(&mut self, file: &str, bytes: &[u8]) -> Result<(), DiskError> {
            if self.budget == 0 {
                // Half the bytes reached the file before the error.
                self.inner.append(file, &bytes[..bytes.len() / 2])?;
                return Err(DiskError::NoSuchFile {
                    op: "append to",
                    file: file.to_owned(),
                });
            }
            self.budget -= 1;
            self.inner.append(file, bytes)
        }
        fn flush(&mut self, file: &str) -> Result<(), DiskError> {
            self.inner.flush(file)
        }
        fn read(&self, file: &str) -> Result<Vec<u8>, DiskError> {
            self.inner.read(file)
        }
        fn truncate(&mut self, file: &str, len: u64) -> Result<(), DiskError> {
            self.inner.truncate(file, len)
        }
        fn list(&self) -> Result<Vec<String>, DiskError> {
            self.inner.list()
        }
        fn remove(&mut self, file: &str) -> Result<(), DiskError> {
            self.inner.remove(file)
        }
    }

    #[test]
    fn a_disk_error_fails_the_log_until_reopened() {
        let disk = FailingDisk {
            inner: SimDisk::new(),
            budget: 2,
        };
        let (mut log, _) = WriteAheadLog::open(disk, 1 << 20).unwrap();
        log.append(b"one").unwrap();
        log.append(b"two").unwrap();
        assert!(matches!(log.append(b"three"), Err(WalError::Disk(_))));
        assert!(
            matches!(log.append(b"four"), Err(WalError::Failed)),
            "no record after a partial one"
        );
        assert!(matches!(log.flush(), Err(WalError::Failed)));

        let mut disk = log.into_disk();
        disk.budget = usize::MAX;
        let (mut log, recovered) = WriteAheadLog::open(disk, 1 << 20).unwrap();
        assert_eq!(recovered.records, [b"one".as_slice(), b"two"]);
        assert!(recovered.torn_tail.is_some(), "the partial record is cut");
        assert_eq!(log.append(b"three").unwrap(), 2);
    }

    #[test]
    fn random_segments_never_panic() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let valid: Vec<u8> = payloads(6).iter().flat_map(|p| frame(p)).collect();
        for case in 0..2000 {
            let len = rng.gen_range(0..200);
            let mut bytes = vec![0; len];
            rng.fill(&mut bytes[..]);
            match case % 3 {
                // Pure noise.
                0 => {}
                // Valid records, then noise.
                1 => bytes = [valid.as_slice(), &bytes].concat(),
                // Valid records with one byte changed, or cut anywhere.
                _ => {
                    bytes = valid.clone();
                    let at = rng.gen_range(0..bytes.len());
                    if rng.gen_bool(0.5) {
                        bytes[at] ^= rng.gen_range(1..=255u8);
                    } else {
                        bytes.truncate(at);
                    }
                }
            }
            let mut disk = SimDisk::new();
            disk.append(FIRST, &bytes).unwrap();
            let before = disk.clone();
            match WriteAheadLog::open(&mut disk, 64) {
                Ok((_, recovered)) => {
                    let total: usize = recovered
                        .records
                        .iter()
                        .map(|record| RECORD_HEADER_BYTES + record.len())
                        .sum();
                    let cut = recovered.torn_tail.as_ref().map_or(0, |torn| torn.bytes_cut as usize);
                    assert_eq!(total + cut, bytes.len(), "case {case}: every byte accounted for");
                    assert_eq!(disk.read(FIRST).unwrap(), bytes[..total], "case {case}");
                }
                Err(error) => {
                    assert!(matches!(error, WalError::Corrupt { .. }), "case {case}: {error}");
                    assert_eq!(disk, before, "case {case}: refused, untouched");
                }
            }
            // As an earlier segment, nothing may be cut.
            match scan_segment(FIRST, &Bytes::from(bytes.clone()), false) {
                Ok(scanned) => {
                    assert!(scanned.torn_tail.is_none(), "case {case}");
                    assert_eq!(scanned.whole_len, bytes.len() as u64, "case {case}");
                }
                Err(error) => assert!(matches!(error, WalError::Corrupt { .. }), "case {case}: {error}"),
            }
        }
    }
}

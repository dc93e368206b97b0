//! One direction of a TCP connection, reassembled from its segments in
//! capture order into runs of contiguous bytes.
//!
//! Segments may come out of order, twice, or overlapping: the first bytes
//! received for a stream position win, as in most TCP stacks (a stack that
//! let later bytes win would only differ on inconsistent retransmissions).
//! Sequence numbers wrap at 2^32; positions here are 64-bit offsets from the
//! stream's first byte, so they do not. A segment that never comes leaves a
//! hole: the bytes after it start a new piece, where frames must be found
//! again.

use std::collections::BTreeMap;

/// The out-of-order bytes one direction may hold while waiting for a
/// missing segment; past it, the segment is taken as lost.
const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Where a piece starts, which says how to find its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// At the stream's first byte, right after the SYN: a frame starts here.
    Clean,
    /// Somewhere unknown: the capture started mid-stream, or the bytes before
    /// were lost.
    Unknown,
}

/// A run of contiguous bytes of a stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub start: Start,
    pub data: Vec<u8>,
}

#[derive(Debug)]
pub(super) struct Stream {
    max_pending: usize,
    /// The SYN's sequence number, if the stream began with one.
    isn: Option<u32>,
    /// The sequence number of stream offset 0: the byte after the SYN, or
    /// the first segment's when the capture started mid-stream.
    origin: Option<u32>,
    /// The stream offset of the next byte to deliver.
    next: u64,
    /// Bytes received ahead of `next`, by stream offset; never overlapping.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    pieces: Vec<Piece>,
    /// Whether the next byte delivered continues the last piece.
    contiguous: bool,
}

impl Stream {
    pub(super) fn new() -> Self {
        Self::with_max_pending(MAX_PENDING_BYTES)
    }

    fn with_max_pending(max_pending: usize) -> Self {
        Self {
            max_pending,
            isn: None,
            origin: None,
            next: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            pieces: Vec::new(),
            contiguous: false,
        }
    }

    /// The sequence number of the SYN that began the stream, if seen.
    pub(super) fn isn(&self) -> Option<u32> {
        self.isn
    }

    /// Takes in a segment of this direction.
    pub(super) fn segment(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        // A SYN takes one sequence number; data it carries (TCP Fast Open)
        // comes after it.
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        let origin = *self.origin.get_or_insert_with(|| {
            if syn {
                self.isn = Some(seq);
            }
            data_seq
        });
        if payload.is_empty() {
            return;
        }
        // The distance from the next byte expected, in sequence space:
        // negative for bytes already delivered.
        let next_seq = origin.wrapping_add(self.next as u32);
        let distance = i64::from(data_seq.wrapping_sub(next_seq) as i32);
        let already = (-distance).clamp(0, payload.len() as i64) as usize;
        let offset = self.next.saturating_add_signed(distance.max(0));
        self.insert(offset, &payload[already..]);
        while self.pending_bytes > self.max_pending {
            self.skip_hole();
        }
    }

    /// The pieces, once every segment is in: bytes still waiting for a
    /// missing segment are delivered after the hole.
    pub(super) fn finish(mut self) -> Vec<Piece> {
        while !self.pending.is_empty() {
            self.skip_hole();
        }
        self.pieces
    }

    /// Adds the bytes at `offset` (not before `next`) that no pending
    /// segment holds already, then delivers what has become contiguous.
    fn insert(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        // The ranges of [offset, end) that no pending segment covers.
        let mut gaps = Vec::new();
        let mut covered_to = match self.pending.range(..offset).next_back() {
            Some((&start, bytes)) => offset.max(start + bytes.len() as u64),
            None => offset,
        };
        for (&start, bytes) in self.pending.range(offset..end) {
            if start > covered_to {
                gaps.push((covered_to, start));
            }
            covered_to = covered_to.max(start + bytes.len() as u64);
        }
        if covered_to < end {
            gaps.push((covered_to, end));
        }
        for (start, gap_end) in gaps {
            let bytes = data[(start - offset) as usize..(gap_end - offset) as usize].to_vec();
            self.pending_bytes += bytes.len();
            self.pending.insert(start, bytes);
        }
        self.drain();
    }

    /// Delivers pending bytes while they continue the stream.
    fn drain(&mut self) {
        while let Some(entry) = self.pending.first_entry()
            && *entry.key() == self.next
        {
            let bytes = entry.remove();
            let offset = self.next;
            self.pending_bytes -= bytes.len();
            self.next += bytes.len() as u64;
            match self.pieces.last_mut() {
                Some(piece) if self.contiguous => piece.data.extend_from_slice(&bytes),
                _ => {
                    let start = match offset == 0 && self.isn.is_some() {
                        true => Start::Clean,
                        false => Start::Unknown,
                    };
                    self.pieces.push(Piece { start, data: bytes });
                    self.contiguous = true;
                }
            }
        }
    }

    /// Gives up on the bytes before the first pending segment.
    fn skip_hole(&mut self) {
        if let Some((&offset, _)) = self.pending.first_key_value() {
            self.next = offset;
            self.contiguous = false;
            self.drain();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{CLIENT_ISN, Flow, Link, cut, pcap_on, read, requests};
    use super::*;

    /// The requests read from a connection whose client sends `segments`
    /// (stream offset, bytes) in this order after the handshake, with
    /// `isn` as its initial sequence number.
    fn requests_from(isn: u32, segments: &[(usize, Vec<u8>)]) -> (Vec<bytes::Bytes>, u64) {
        let flow = Flow::v4(40000);
        let mut packets = vec![flow.to_server(isn, "S", &[])];
        for (offset, bytes) in segments {
            packets.push(flow.to_server(isn.wrapping_add(1 + *offset as u32), "A", bytes));
        }
        let capture = read(&pcap_on(Link::Ethernet, &packets));
        let connection = &capture.connections[0];
        (connection.requests.clone(), connection.skipped_bytes)
    }

    #[test]
    fn frames_split_across_many_segments() {
        let frames = requests(4);
        let stream = frames.concat();
        let ends: Vec<usize> = (7..stream.len()).step_by(7).collect();
        assert_eq!(requests_from(CLIENT_ISN, &cut(&stream, &ends)), (frames, 0));
    }

    #[test]
    fn several_frames_in_one_segment() {
        let frames = requests(4);
        let stream = frames.concat();
        let three = frames[0].len() + frames[1].len() + frames[2].len();
        assert_eq!(requests_from(CLIENT_ISN, &cut(&stream, &[three])), (frames, 0));
    }

    #[test]
    fn out_of_order_segments() {
        let frames = requests(4);
        let stream = frames.concat();
        let mut segments = cut(&stream, &[10, 50, 51, 90, 140]);
        segments.reverse();
        segments.swap(0, 3);
        assert_eq!(requests_from(CLIENT_ISN, &segments), (frames, 0));
    }

    #[test]
    fn retransmitted_segments() {
        let frames = requests(4);
        let stream = frames.concat();
        let segments = cut(&stream, &[30, 60, 100]);
        let resent = [0, 1, 1, 0, 2, 3, 2, 3, 3].map(|index| segments[index].clone());
        assert_eq!(requests_from(CLIENT_ISN, &resent), (frames, 0));
    }

    #[test]
    fn overlapping_segments_keep_the_first_bytes_received() {
        let frames = requests(4);
        let stream = frames.concat();
        let garbage = [0xee; 20];
        let segment = |offset: usize, parts: &[&[u8]]| (offset, parts.concat());
        let segments = [
            segment(0, &[&stream[..30]]),
            // Overlaps delivered bytes: only 30..50 are new.
            segment(20, &[&garbage[..10], &stream[30..50]]),
            // Ahead of the stream, waiting...
            segment(70, &[&stream[70..120]]),
            // ... so its bytes win over this one's at 70..80.
            segment(50, &[&stream[50..70], &garbage[..10]]),
            // Covered up to 120 by the one waiting: only 120.. are new.
            segment(100, &[&garbage, &stream[120..]]),
        ];
        assert_eq!(requests_from(CLIENT_ISN, &segments), (frames, 0));
    }

    #[test]
    fn sequence_numbers_wrap_around() {
        let frames = requests(4);
        let stream = frames.concat();
        let mut segments = cut(&stream, &[5, 40, 70, 120]);
        segments.swap(1, 2);
        assert_eq!(requests_from(u32::MAX - 50, &segments), (frames.clone(), 0));
        assert_eq!(requests_from(u32::MAX, &segments), (frames, 0));
    }

    #[test]
    fn a_hole_ends_a_piece_and_frames_are_found_after_it() {
        let frames = requests(4);
        let stream = frames.concat();
        // Lose 10 bytes in the middle of the second frame.
        let hole_start = frames[0].len() + 5;
        let segments = cut(&stream, &[hole_start, hole_start + 10]);
        let kept = [segments[0].clone(), segments[2].clone()];
        let after_hole = frames[1].len() - 15;
        assert_eq!(
            requests_from(CLIENT_ISN, &kept),
            (
                vec![frames[0].clone(), frames[2].clone(), frames[3].clone()],
                5 + after_hole as u64
            )
        );
    }

    #[test]
    fn bytes_past_the_pending_bound_give_the_missing_segment_up() {
        let mut stream = Stream::with_max_pending(10);
        stream.segment(99, true, &[]);
        stream.segment(100, false, b"abc");
        stream.segment(110, false, b"0123456");
        stream.segment(117, false, b"789");
        // 10 bytes wait for 103..110; one more is past the bound.
        stream.segment(120, false, b"x");
        // Too late: the hole was given up.
        stream.segment(103, false, b"defghij");
        stream.segment(130, false, b"after another hole");
        let piece = |start, data: &[u8]| Piece {
            start,
            data: data.to_vec(),
        };
        assert_eq!(
            stream.finish(),
            [
                piece(Start::Clean, b"abc"),
                piece(Start::Unknown, b"0123456789x"),
                piece(Start::Unknown, b"after another hole"),
            ]
        );
    }

    #[test]
    fn a_stream_without_syn_starts_at_its_first_segment_and_unknown() {
        let mut stream = Stream::new();
        stream.segment(7, false, b"tail");
        stream.segment(3, false, b"xxxxtail and more");
        assert_eq!(stream.isn(), None);
        assert_eq!(
            stream.finish(),
            [Piece {
                start: Start::Unknown,
                data: b"tail and more".to_vec()
            }]
        );
    }
}

//! Splitting a reassembled stream into Kafka frames: a big-endian `i32`
//! size, then that many bytes.
//!
//! A piece that starts at the stream's first byte is split strictly, frame
//! after frame. Elsewhere (a capture that started mid-stream, the bytes after
//! a hole) and after a size that cannot be Kafka's (negative, or over the
//! maximum), frames are found again: the first offset where a plausible frame
//! starts, is whole, and is followed by another plausible frame or by the end
//! of the piece, so that a stray plausible-looking size inside a record batch
//! does not win on its own. Bytes skipped that way, and a partial frame at
//! the end of a piece, are counted.

use std::collections::HashSet;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::reassembly::{Piece, Start};

/// Which direction's frames: what a frame starts with differs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side<'a> {
    /// Client to server: a request header (api key, api version, correlation
    /// id, client id).
    Requests,
    /// Server to client: only a correlation id, which must be one of the
    /// connection's requests' when any were read (with none, any is taken).
    Responses { correlation_ids: &'a HashSet<i32> },
}

/// One direction's whole frames, size prefix included, in stream order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Split {
    pub frames: Vec<Bytes>,
    /// Bytes not in any whole frame: skipped while finding frames, or a
    /// partial frame at the end of a piece.
    pub skipped_bytes: u64,
}

/// Splits every piece: strictly from a clean start, else from the first
/// frame found; after a size over `max_frame_size`, frames are found again.
pub(super) fn split(pieces: Vec<Piece>, side: Side, max_frame_size: usize) -> Split {
    let mut split = Split::default();
    for piece in pieces {
        let data = Bytes::from(piece.data);
        let mut at = 0;
        let mut in_sync = piece.start == Start::Clean;
        while at < data.len() {
            if !in_sync {
                let found = find_frame(&data, at, side, max_frame_size).unwrap_or(data.len());
                split.skipped_bytes += (found - at) as u64;
                at = found;
                in_sync = true;
                continue;
            }
            let Some(size) = size_at(&data, at).filter(|&size| size <= max_frame_size) else {
                // Fewer than 4 bytes left is a partial frame, and finding
                // frames skips them.
                in_sync = false;
                continue;
            };
            let end = at + 4 + size;
            if end > data.len() {
                split.skipped_bytes += (data.len() - at) as u64;
                break;
            }
            split.frames.push(data.slice(at..end));
            at = end;
        }
    }
    split
}

/// The correlation ids of request frames (size prefix included).
pub(super) fn correlation_ids(requests: &[Bytes]) -> HashSet<i32> {
    requests
        .iter()
        .filter_map(|frame| Some(i32::from_be_bytes(*frame.get(8..)?.first_chunk::<4>()?)))
        .collect()
}

/// The first offset from `from` where a whole plausible frame starts and is
/// followed by another plausible frame (as far as the piece holds it) or by
/// the end of the piece.
fn find_frame(data: &[u8], from: usize, side: Side, max_frame_size: usize) -> Option<usize> {
    (from..data.len()).find(|&start| {
        let Some(end) = plausible_frame(data, start, side, max_frame_size) else {
            return false;
        };
        end <= data.len() && (data.len() - end < 4 || plausible_frame(data, end, side, max_frame_size).is_some())
    })
}

/// Where the frame at `start` ends, if its size and header are plausible for
/// `side`; its body is checked as far as `data` holds it.
fn plausible_frame(data: &[u8], start: usize, side: Side, max_frame_size: usize) -> Option<usize> {
    let size = size_at(data, start)?;
    let body = &data[start + 4..data.len().min(start + 4 + size)];
    let plausible = match side {
        Side::Requests => plausible_request(body, size),
        Side::Responses { correlation_ids } => {
            size >= 4
                && body
                    .first_chunk::<4>()
                    .is_none_or(|id| correlation_ids.is_empty() || correlation_ids.contains(&i32::from_be_bytes(*id)))
        }
    };
    (plausible && size <= max_frame_size).then_some(start + 4 + size)
}

/// Whether `body`, the first bytes of a frame of `size` bytes, can start a
/// request: an api key Kafka has, a version up to the newest `kafka-protocol`
/// knows (older clients send versions Kafka 4 dropped), and a client id that
/// is null or fits in the frame.
fn plausible_request(body: &[u8], size: usize) -> bool {
    let int16 = |at: usize| Some(i16::from_be_bytes(*body.get(at..)?.first_chunk::<2>()?));
    let Some(api_key) = int16(0) else {
        return size >= 8;
    };
    let Ok(api) = ApiKey::try_from(api_key) else {
        return false;
    };
    let Some(version) = int16(2) else {
        return size >= 8;
    };
    if !(0..=api.valid_versions().max).contains(&version) {
        return false;
    }
    // Request header v0 has no client id; v1 and v2 have a nullable string.
    if api.request_header_version(version) == 0 {
        return size >= 8;
    }
    size >= 10
        && int16(8).is_none_or(|length| length == -1 || usize::try_from(length).is_ok_and(|length| length <= size - 10))
}

/// The size at `at`, if 4 bytes are there and it is not negative.
fn size_at(data: &[u8], at: usize) -> Option<usize> {
    usize::try_from(i32::from_be_bytes(*data.get(at..)?.first_chunk::<4>()?)).ok()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{CLIENT_ISN, Flow, Link, MAX_FRAME_SIZE, cut, pcap_on, read, requests, responses};
    use super::*;

    fn split_one(start: Start, data: &[u8], side: Side) -> Split {
        split(
            vec![Piece {
                start,
                data: data.to_vec(),
            }],
            side,
            MAX_FRAME_SIZE,
        )
    }

    #[test]
    fn a_capture_that_starts_mid_frame_gives_the_later_whole_frames() {
        let frames = requests(4);
        let stream = frames.concat();
        let flow = Flow::v4(40000);
        for start in [1, 4, 9, frames[0].len() - 1] {
            let packets: Vec<Vec<u8>> = cut(&stream[start..], &[20, 50])
                .into_iter()
                .map(|(offset, bytes)| flow.to_server(CLIENT_ISN + (start + offset) as u32, "A", &bytes))
                .collect();
            let capture = read(&pcap_on(Link::Ethernet, &packets));
            let connection = &capture.connections[0];
            assert_eq!(connection.requests, frames[1..], "start {start}");
            assert_eq!(connection.skipped_bytes, (frames[0].len() - start) as u64);
        }
    }

    #[test]
    fn a_size_that_cannot_be_kafka_is_skipped_up_to_the_next_frame() {
        let frames = requests(4);
        for garbage in [&[0xff; 7][..], &[0x7f, 0, 0, 0, 1, 2]] {
            let data = [&frames[0][..], garbage, &frames[1..].concat()].concat();
            let found = split_one(Start::Clean, &data, Side::Requests);
            assert_eq!(
                found,
                Split {
                    frames: frames.clone(),
                    skipped_bytes: garbage.len() as u64
                }
            );
        }
    }

    #[test]
    fn a_partial_frame_at_the_end_is_dropped_and_counted() {
        let frames = requests(2);
        for cut_short in [1, 3, 5, frames[1].len() - 1] {
            let data = &frames.concat()[..frames[0].len() + cut_short];
            let found = split_one(Start::Clean, data, Side::Requests);
            assert_eq!(found.frames, frames[..1], "{cut_short}");
            assert_eq!(found.skipped_bytes, cut_short as u64);
        }
    }

    #[test]
    fn a_plausible_frame_not_followed_by_one_is_not_taken() {
        let frames = requests(2);
        // An ApiVersions v3 header claiming 2 bytes more than it has: the
        // frame "after" it starts inside the real one's size prefix.
        let decoy = [0, 0, 0, 12, 0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff];
        let data = [&decoy[..], &frames.concat()].concat();
        let found = split_one(Start::Unknown, &data, Side::Requests);
        assert_eq!(
            found,
            Split {
                frames,
                skipped_bytes: decoy.len() as u64
            }
        );
    }

    #[test]
    fn responses_are_found_by_their_requests_correlation_ids() {
        let requests = requests(4);
        let responses = responses(4);
        let ids = correlation_ids(&requests);
        assert_eq!(ids, HashSet::from([1, 2, 3, 4]));
        let stream = responses.concat();
        let side = Side::Responses { correlation_ids: &ids };
        let found = split_one(Start::Unknown, &stream[3..], side);
        assert_eq!(found.frames, responses[1..]);
        // An id no request had: not a response of this connection.
        let other = HashSet::from([9]);
        let found = split_one(
            Start::Unknown,
            &stream,
            Side::Responses {
                correlation_ids: &other,
            },
        );
        assert_eq!((found.frames.len(), found.skipped_bytes), (0, stream.len() as u64));
        // With no requests read, any id is taken.
        let none = HashSet::new();
        let found = split_one(Start::Unknown, &stream, Side::Responses { correlation_ids: &none });
        assert_eq!(found.frames, responses);
    }
}

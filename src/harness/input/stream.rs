//! A client's byte stream, split into request frames the way a server's
//! framing does, except at the end: a last frame cut short is still sent,
//! as far as it goes. Fuzzer inputs therefore never need a size prefix that
//! matches exactly, and `cargo fuzz tmin` can cut bytes from anywhere.

use bytes::Bytes;

use crate::server::wire::{DecodeError, FrameSplitter};

/// The frames of a stream and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStream {
    pub frames: Vec<Bytes>,
    /// A negative or oversized size prefix: the server closes the
    /// connection there, and nothing after it is a frame.
    pub framing_error: Option<DecodeError>,
}

/// Splits `stream` into frames (size prefixes removed) with the reference
/// server's `FrameSplitter`. A final prefix that claims more bytes than
/// remain yields the bytes that do; fewer than 4 trailing bytes are dropped.
pub fn split_stream(stream: &[u8], max_frame_size: usize) -> ClientStream {
    let mut splitter = FrameSplitter::new(max_frame_size);
    splitter.push(stream);
    let mut frames = Vec::new();
    loop {
        match splitter.next_frame() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => break,
            Err(error) => {
                return ClientStream {
                    frames,
                    framing_error: Some(error),
                };
            }
        }
    }
    let rest = splitter.take_buffered();
    if rest.len() > 4 {
        frames.push(rest.slice(4..));
    }
    ClientStream {
        frames,
        framing_error: None,
    }
}

/// Frames joined into a stream, each behind its true size prefix.
pub fn join_frames<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut stream = Vec::new();
    for frame in frames {
        let size = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        stream.extend_from_slice(&size.to_be_bytes());
        stream.extend_from_slice(frame);
    }
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::wire::DecodeErrorKind;

    #[test]
    fn whole_frames_then_a_short_last_one() {
        let mut stream = join_frames([&b"abc"[..], b"", b"de"]);
        stream.extend_from_slice(&[0, 0, 0, 9, b'x', b'y']);
        let split = split_stream(&stream, 100);
        assert_eq!(split.frames, ["abc", "", "de", "xy"].map(|f| Bytes::from(f.as_bytes())));
        assert_eq!(split.framing_error, None);
    }

    #[test]
    fn a_prefix_shorter_than_its_frame_splits_it() {
        let split = split_stream(&[0, 0, 0, 1, b'a', b'b', b'c', b'd', b'e'], 100);
        // "a", then "bcde" read as the prefix of an empty frame... of
        // 0x62636465 bytes, over the limit: the connection closes.
        assert_eq!(split.frames, [Bytes::from_static(b"a")]);
        let error = split.framing_error.expect("oversized prefix");
        assert!(matches!(error.kind, DecodeErrorKind::FrameTooLarge { .. }), "{error}");
        assert_eq!(error.offset, 5);
    }

    #[test]
    fn fewer_than_four_trailing_bytes_are_no_frame() {
        let split = split_stream(&[0, 0, 0, 1, b'a', 0, 0], 100);
        assert_eq!(split.frames, [Bytes::from_static(b"a")]);
        let split = split_stream(&[0, 0, 0, 7], 100);
        assert!(split.frames.is_empty());
    }

    #[test]
    fn negative_prefix_closes() {
        let split = split_stream(&[0xff, 0xff, 0xff, 0xfe, 1, 2], 100);
        assert!(split.frames.is_empty());
        assert!(matches!(
            split.framing_error.map(|e| e.kind.clone()),
            Some(DecodeErrorKind::NegativeFrameLength { length: -2 })
        ));
    }
}

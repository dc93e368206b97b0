//! `FrameSplitter`: turns a byte stream, in any chunking, into request frames.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{DecodeError, DecodeErrorKind};

/// Kafka's default `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Splits a stream of bytes into size-prefixed frames (the 4-byte prefix is
/// not part of the frame). A partial frame waits for more bytes: nothing is
/// reserved for the length it declares, only what has arrived is held.
#[derive(Debug)]
pub struct FrameSplitter {
    buffer: BytesMut,
    max_frame_size: usize,
    /// Bytes of the stream already returned as frames, so errors name the
    /// stream offset of the bad size prefix.
    consumed: usize,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameSplitter {
    pub fn new(max_frame_size: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_frame_size,
            consumed: 0,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received that do not yet form a whole frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Takes the bytes received that do not yet form a whole frame (a
    /// partial frame's size prefix included), leaving the splitter empty.
    pub fn take_buffered(&mut self) -> Bytes {
        self.consumed += self.buffer.len();
        self.buffer.split().freeze()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an
    /// error for a negative or oversized length prefix (after which the
    /// stream cannot be resynchronised and the connection should close).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        let Some(prefix) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let error = |kind| DecodeError::new(kind, self.consumed);
        if length < 0 {
            return Err(error(DecodeErrorKind::NegativeFrameLength { length }));
        }
        let length = length as usize;
        if length > self.max_frame_size {
            return Err(error(DecodeErrorKind::FrameTooLarge {
                length,
                max: self.max_frame_size,
            }));
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        self.buffer.advance(4);
        self.consumed += 4 + length;
        Ok(Some(self.buffer.split_to(length).freeze()))
    }
}

/// Builds a frame: whatever `write` puts in the buffer, behind its 4-byte
/// size prefix. The one place frames are made, for requests and responses.
pub fn size_prefixed(write: impl FnOnce(&mut BytesMut) -> anyhow::Result<()>) -> anyhow::Result<Bytes> {
    // Most requests and responses fit: one small allocation instead of a
    // chain of growing copies.
    let mut buf = BytesMut::with_capacity(512);
    buf.put_i32(0);
    write(&mut buf)?;
    let size = i32::try_from(buf.len() - 4).map_err(|_| {
        anyhow::anyhow!(
            "{} bytes exceed the largest frame a size prefix can describe",
            buf.len() - 4
        )
    })?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `payload` behind its 4-byte big-endian size prefix.
    fn prefixed(payload: &[u8]) -> Vec<u8> {
        [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
    }

    /// Pushes `stream` in chunks of the given sizes (cycled), taking every
    /// complete frame after each push.
    fn split(stream: &[u8], chunk_sizes: &[usize]) -> Vec<Bytes> {
        let mut splitter = FrameSplitter::default();
        let mut frames = Vec::new();
        let mut rest = stream;
        for &size in chunk_sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            splitter.push(chunk);
            rest = tail;
            while let Some(frame) = splitter.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(splitter.buffered(), 0);
        frames
    }

    #[test]
    fn chunking_does_not_change_the_frames() {
        let payloads = [b"hello".to_vec(), (0..300).map(|i| i as u8).collect(), vec![0x42]];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| prefixed(p)).collect();
        assert_eq!(stream.len(), 4 + 5 + 4 + 300 + 4 + 1);
        for chunks in [
            &[1][..],
            &[stream.len()],
            &[3, 7, 1, 13, 2, 64, 5],
            &[4, 301, 2, 9],
            &[317, 1, 1000],
        ] {
            assert_eq!(split(&stream, chunks), payloads, "chunks {chunks:?}");
        }
    }

    #[test]
    fn zero_length_frame() {
        let mut splitter = FrameSplitter::default();
        splitter.push(&[0, 0, 0, 0, 0, 0, 0, 1, 0x7f]);
        assert_eq!(splitter.next_frame(), Ok(Some(Bytes::new())));
        assert_eq!(splitter.next_frame(), Ok(Some(Bytes::from_static(&[0x7f]))));
        assert_eq!(splitter.next_frame(), Ok(None));
        assert_eq!(splitter.buffered(), 0);
    }

    #[test]
    fn buffered_counts_a_partial_frame() {
        let mut splitter = FrameSplitter::default();
        splitter.push(&[0, 0, 0]);
        assert_eq!((splitter.next_frame(), splitter.buffered()), (Ok(None), 3));
        splitter.push(&[10, 1, 2, 3]);
        assert_eq!((splitter.next_frame(), splitter.buffered()), (Ok(None), 7));
        splitter.push(&[4, 5, 6, 7, 8, 9, 10, 0, 0]);
        let frame = splitter.next_frame().unwrap().unwrap();
        assert_eq!(&frame[..], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!((splitter.next_frame(), splitter.buffered()), (Ok(None), 2));
    }

    /// Pushes the frames of `before`, then a bare prefix of `length`, into
    /// `splitter`; returns the error once the good frames are taken.
    fn error_after(splitter: &mut FrameSplitter, before: &[&[u8]], length: i32) -> DecodeError {
        for payload in before {
            splitter.push(&prefixed(payload));
        }
        splitter.push(&length.to_be_bytes());
        for payload in before {
            assert_eq!(splitter.next_frame().unwrap().as_deref(), Some(*payload));
        }
        splitter.next_frame().unwrap_err()
    }

    #[test]
    fn negative_length_names_the_prefix_offset() {
        let cases: [(&[&[u8]], i32, usize); 3] = [(&[], -1, 0), (&[b"abc"], i32::MIN, 7), (&[b"abc", b""], -2, 11)];
        for (before, length, offset) in cases {
            let error = error_after(&mut FrameSplitter::default(), before, length);
            let kind = DecodeErrorKind::NegativeFrameLength { length };
            assert_eq!(error, DecodeError::new(kind, offset));
        }
    }

    #[test]
    fn frame_too_large_at_a_custom_max() {
        // A frame of exactly the maximum passes; one byte more fails as soon
        // as its prefix arrives, before any of its body.
        let mut splitter = FrameSplitter::new(10);
        let error = error_after(&mut splitter, &[&[7; 10]], 11);
        let kind = DecodeErrorKind::FrameTooLarge { length: 11, max: 10 };
        assert_eq!(error, DecodeError::new(kind, 14));
    }

    #[test]
    fn size_prefixed_writes_the_big_endian_length() {
        for (len, prefix) in [
            (0, [0, 0, 0, 0]),
            (5, [0, 0, 0, 5]),
            (300, [0, 0, 1, 0x2c]),
            (70_000, [0, 1, 0x11, 0x70]),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = size_prefixed(|buf| {
                buf.put_slice(&payload);
                Ok(())
            })
            .unwrap();
            assert_eq!(frame[..4], prefix);
            assert_eq!(frame[4..], payload[..]);
        }
        let error = size_prefixed(|_| anyhow::bail!("refused")).unwrap_err();
        assert_eq!(error.to_string(), "refused");
    }
}

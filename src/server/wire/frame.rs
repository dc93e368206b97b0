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
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    write(&mut buf)?;
    let size = i32::try_from(buf.len() - 4)
        .map_err(|_| anyhow::anyhow!("{} bytes exceed the largest frame a size prefix can describe", buf.len() - 4))?;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

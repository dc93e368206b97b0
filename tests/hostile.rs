//! Hostile inputs: each is rejected with a typed error that names the byte,
//! and decoding it allocates only a small multiple of its size.

mod common;

use std::io::Write;

use arbitrary::Unstructured;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_fuzz::harness::alloc::{CountingAllocator, peak_allocation};
use kafka_fuzz::harness::input::{arbitrary_records, arbitrary_request, encode_record_batch, encode_request};
use kafka_fuzz::server::wire::{
    BatchLimits, Codec, DecodeError, DecodeErrorKind, FrameSplitter, Item, SUPPORTED_APIS, SupportedApi,
    decode_record_batches, decode_request,
};
use kafka_protocol::messages::RequestHeader;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The bound every hostile input must stay under.
fn allocation_bound(input_len: usize) -> usize {
    64 * input_len + 64 * 1024
}

/// Decodes a request frame (no size prefix), asserting the allocation bound.
fn decode_hostile(frame: &[u8]) -> DecodeError {
    let frame = Bytes::copy_from_slice(frame);
    let (result, peak) = peak_allocation(|| decode_request(frame.clone()));
    assert!(
        peak <= allocation_bound(frame.len()),
        "peak {peak} bytes for a {}-byte frame",
        frame.len()
    );
    result.expect_err("hostile frame must be rejected").error
}

/// Header v1 (api key, version, correlation id 7, null client id).
fn header_v1(api_key: i16, version: i16) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(7);
    buf.put_i16(-1);
    buf
}

/// Header v2: v1 plus an empty tagged-field section.
fn header_v2(api_key: i16, version: i16) -> BytesMut {
    let mut buf = header_v1(api_key, version);
    buf.put_u8(0);
    buf
}

#[test]
fn produce_v3_with_topic_count_i32_max() {
    let mut frame = header_v1(0, 3);
    frame.put_i16(-1); // transactional id: null
    frame.put_i16(1); // acks
    frame.put_i32(30_000); // timeout
    frame.put_i32(0x7fff_ffff); // topic count
    frame.put_slice(&[0; 19]);
    let error = decode_hostile(&frame);
    assert_eq!(
        error.kind,
        DecodeErrorKind::CountExceedsRemaining {
            item: Item::Array,
            count: 0x7fff_ffff,
            remaining: 19
        }
    );
    assert_eq!(error.offset, 18);
    assert_eq!(
        error.to_string(),
        "array count 2147483647 exceeds 19 remaining bytes at offset 18"
    );
}

#[test]
fn compact_array_count_u32_max() {
    let mut frame = header_v2(3, 12); // Metadata v12: flexible
    frame.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // topics: count + 1 = 0xffffffff
    frame.put_slice(&[0; 4]);
    let error = decode_hostile(&frame);
    assert_eq!(
        error.kind,
        DecodeErrorKind::CountExceedsRemaining {
            item: Item::Array,
            count: 0xffff_fffe,
            remaining: 4
        }
    );
    assert_eq!(error.offset, 11);
}

#[test]
fn string_lengths_below_minus_one() {
    for length in [-2i16, -100, i16::MIN] {
        let mut frame = header_v1(0, 3);
        frame.put_i16(length); // transactional id
        frame.put_slice(&[0; 12]);
        let error = decode_hostile(&frame);
        assert_eq!(
            error.kind,
            DecodeErrorKind::NegativeLength {
                item: Item::String,
                length: i64::from(length)
            }
        );
        assert_eq!(error.offset, 10);
    }
    // The client id in the header too.
    let mut frame = BytesMut::new();
    frame.put_slice(&[0, 18, 0, 0, 0, 0, 0, 1]);
    frame.put_i16(-5);
    let error = decode_hostile(&frame);
    assert_eq!(
        error.kind,
        DecodeErrorKind::NegativeLength {
            item: Item::String,
            length: -5
        }
    );
    assert_eq!(error.offset, 8);
}

#[test]
fn null_where_not_nullable() {
    let mut frame = header_v1(0, 3); // Produce v3: topic names are not nullable
    frame.put_i16(-1); // transactional id: null
    frame.put_i16(1);
    frame.put_i32(30_000);
    frame.put_i32(1);
    frame.put_i16(-1); // topic name: null
    frame.put_i32(0);
    let error = decode_hostile(&frame);
    assert_eq!(error.kind, DecodeErrorKind::UnexpectedNull { item: Item::String });
    assert_eq!(error.offset, 22);
}

#[test]
fn every_api_truncated_at_every_byte() {
    let mut cuts = 0;
    for api in SUPPORTED_APIS {
        for version in [api.versions.min, api.versions.max] {
            let frame = valid_frame(api, version, version as u64);
            assert!(decode_request(frame.clone()).is_ok());
            for cut in 0..frame.len() {
                let error = decode_hostile(&frame[..cut]);
                assert!(error.offset <= cut, "{} v{version} cut {cut}: {error}", api.name);
                cuts += 1;
            }
        }
    }
    assert!(cuts > 1000, "only {cuts} truncations checked");
}

/// A valid frame of `api` at `version`, without its size prefix.
fn valid_frame(api: &SupportedApi, version: i16, seed: u64) -> Bytes {
    let data = common::seeded_bytes(seed, 4096);
    let body = arbitrary_request(&mut Unstructured::new(&data), *api, version).unwrap();
    let header = RequestHeader::default()
        .with_request_api_key(api.key as i16)
        .with_request_api_version(version)
        .with_correlation_id(3);
    encode_request(&header, &body).unwrap().slice(4..)
}

/// The bug upstream decoders ship: an array or string count read off the
/// wire and trusted. Every API at every version, with a huge int32 and a
/// huge unsigned varint written over every position after the header's
/// first 8 bytes: whatever each then reads, it stays under the bound.
#[test]
fn every_api_with_a_huge_count_at_every_byte() {
    let mut frames = 0;
    for api in SUPPORTED_APIS {
        for version in api.versions.min..=api.versions.max {
            let frame = valid_frame(api, version, 0xc0_0000 | version as u64);
            for at in 8..frame.len() {
                for huge in [&[0x7f, 0xff, 0xff, 0xff][..], &[0xff, 0xff, 0xff, 0xff, 0x0f]] {
                    let mut hostile = frame.to_vec();
                    let end = (at + huge.len()).min(hostile.len());
                    hostile[at..end].copy_from_slice(&huge[..end - at]);
                    let hostile = Bytes::from(hostile);
                    let (_, peak) = peak_allocation(|| decode_request(hostile.clone()));
                    assert!(
                        peak <= allocation_bound(hostile.len()),
                        "{} v{version}, count at byte {at}: peak {peak} bytes for {} bytes",
                        api.name,
                        hostile.len()
                    );
                    frames += 1;
                }
            }
        }
    }
    eprintln!("{frames} frames, each under the bound");
    assert!(frames > 20_000, "only {frames} frames checked");
}

/// DescribeTopicPartitions v0's nullable `cursor` struct: -1 is null, 1 is
/// present, any other marker an error at its byte.
#[test]
fn nullable_struct_markers() {
    let mut frame = header_v2(75, 0);
    frame.put_u8(1); // topics: empty compact array
    frame.put_i32(100); // response partition limit
    let cursor_at = frame.len();
    for (marker, expected) in [(-1i8, None), (0, Some(0)), (2, Some(2)), (-2, Some(-2))] {
        let mut request = frame.clone();
        request.put_i8(marker);
        request.put_u8(0); // tagged fields
        let result = decode_request(request.freeze());
        match expected {
            None => assert!(result.is_ok(), "{result:?}"),
            Some(marker) => {
                let error = result.unwrap_err().error;
                assert_eq!(error.kind, DecodeErrorKind::InvalidPresenceMarker { marker });
                assert_eq!(error.offset, cursor_at);
            }
        }
    }
}

/// A one-record batch as kafka-protocol encodes it, with `codec`.
fn valid_batch(codec: Codec) -> BytesMut {
    let data = common::seeded_bytes(42, 1024);
    let mut records = arbitrary_records(&mut Unstructured::new(&data)).unwrap();
    records.truncate(1);
    BytesMut::from(&encode_record_batch(&records, codec).unwrap()[..])
}

/// Rewrites the CRC after a test edits the batch, so only the edit is wrong.
fn fix_crc(batch: &mut BytesMut) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn decode_batch_hostile(batch: &[u8], limits: BatchLimits, bound: usize) -> DecodeError {
    let batch = Bytes::copy_from_slice(batch);
    let (result, peak) = peak_allocation(|| decode_record_batches(batch.clone(), limits));
    assert!(
        peak <= bound,
        "peak {peak} bytes for a {}-byte batch (bound {bound})",
        batch.len()
    );
    result.expect_err("hostile batch must be rejected")
}

#[test]
fn record_batch_claiming_i32_max_records() {
    let mut batch = valid_batch(Codec::None);
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut batch);
    let error = decode_batch_hostile(&batch, BatchLimits::default(), allocation_bound(batch.len()));
    assert!(
        matches!(error.kind, DecodeErrorKind::CountExceedsRemaining { item: Item::Records, count, .. } if count == i64::from(i32::MAX)),
        "{error}"
    );
    assert_eq!(error.offset, 57);
}

#[test]
fn record_batch_with_negative_record_count() {
    for count in [-1i32, -2, i32::MIN] {
        let mut batch = valid_batch(Codec::None);
        batch[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut batch);
        let error = decode_batch_hostile(&batch, BatchLimits::default(), allocation_bound(batch.len()));
        assert_eq!(
            error.kind,
            DecodeErrorKind::NegativeLength {
                item: Item::Records,
                length: i64::from(count)
            }
        );
        assert_eq!(error.offset, 57);
    }
}

#[test]
fn record_batch_with_bad_crc_magic_and_codec() {
    let mut batch = valid_batch(Codec::None);
    batch[30] ^= 0x40;
    let error = decode_batch_hostile(&batch, BatchLimits::default(), allocation_bound(batch.len()));
    assert!(matches!(error.kind, DecodeErrorKind::CrcMismatch { .. }), "{error}");

    let mut batch = valid_batch(Codec::None);
    batch[16] = 1;
    let error = decode_batch_hostile(&batch, BatchLimits::default(), allocation_bound(batch.len()));
    assert_eq!(error.kind, DecodeErrorKind::UnsupportedMagic { magic: 1 });
    assert_eq!(error.offset, 16);

    let mut batch = valid_batch(Codec::None);
    batch[22] |= 0x07; // attributes low byte: codec 7
    fix_crc(&mut batch);
    let error = decode_batch_hostile(&batch, BatchLimits::default(), allocation_bound(batch.len()));
    assert_eq!(error.kind, DecodeErrorKind::UnknownCompression { codec: 7 });
}

/// A batch of one record whose compressed payload is `payload`.
fn batch_with_payload(codec: Codec, payload: &[u8]) -> BytesMut {
    let mut batch = valid_batch(codec);
    batch.truncate(61);
    batch.put_slice(payload);
    let length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&length.to_be_bytes());
    fix_crc(&mut batch);
    batch
}

const BOMB_SIZE: usize = 64 * 1024 * 1024;
const BOMB_LIMIT: usize = 256 * 1024;

/// `decoder_state`: what the codec's decoder itself needs (zstd: its window
/// and up to two 128 KiB blocks).
fn assert_bomb_rejected(codec: Codec, payload: &[u8], decoder_state: usize) {
    let batch = batch_with_payload(codec, payload);
    let limits = BatchLimits {
        max_decompressed_size: BOMB_LIMIT,
    };
    // The output may grow to the limit; nothing may grow past twice that.
    let bound = 2 * BOMB_LIMIT + decoder_state + allocation_bound(batch.len());
    let error = decode_batch_hostile(&batch, limits, bound);
    assert_eq!(
        error.kind,
        DecodeErrorKind::DecompressionLimit {
            codec: codec.name(),
            limit: BOMB_LIMIT
        },
        "{error}"
    );
}

#[test]
fn gzip_bomb() {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..BOMB_SIZE / zeros.len() {
        encoder.write_all(&zeros).unwrap();
    }
    assert_bomb_rejected(Codec::Gzip, &encoder.finish().unwrap(), 0);
}

#[test]
fn zstd_bomb() {
    // A small window, so the bomb is caught by the output limit...
    let mut encoder = zstd::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(16).unwrap();
    encoder.write_all(&vec![0u8; BOMB_SIZE]).unwrap();
    assert_bomb_rejected(Codec::Zstd, &encoder.finish().unwrap(), (1 << 16) + 2 * (128 << 10));
    // ...and a large one, refused before the decoder reserves it.
    let payload = zstd::encode_all(&vec![0u8; BOMB_SIZE][..], 3).unwrap();
    let batch = batch_with_payload(Codec::Zstd, &payload);
    let limits = BatchLimits {
        max_decompressed_size: BOMB_LIMIT,
    };
    let error = decode_batch_hostile(&batch, limits, allocation_bound(batch.len()));
    assert!(
        matches!(error.kind, DecodeErrorKind::WindowTooLarge { codec: "zstd", .. }),
        "{error}"
    );
}

#[test]
fn snappy_bomb_claims_are_checked_before_allocating() {
    // A raw snappy block whose length preamble claims 2^32-1 bytes.
    assert_bomb_rejected(Codec::Snappy, &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], 0);
    let raw = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 4 * BOMB_LIMIT])
        .unwrap();
    assert_bomb_rejected(Codec::Snappy, &raw, 0);
}

#[test]
fn lz4_bomb() {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    encoder.write_all(&vec![0u8; 16 * 1024 * 1024]).unwrap();
    assert_bomb_rejected(Codec::Lz4, &encoder.finish().unwrap(), 0);
}

#[test]
fn varints_of_six_or_more_bytes() {
    for extra in 1..4 {
        let mut frame = header_v2(3, 12);
        frame.put_slice(&[0x80, 0x80, 0x80, 0x80, 0x80]);
        frame.put_slice(&vec![0x80; extra - 1]);
        frame.put_u8(0x01);
        let error = decode_hostile(&frame);
        assert_eq!(error.kind, DecodeErrorKind::VarintTooLong { max_bytes: 5 });
        assert_eq!(error.offset, 11);
    }
    // Five bytes whose last carries bits past 32 are too long as well.
    let mut frame = header_v2(3, 12);
    frame.put_slice(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
    assert_eq!(
        decode_hostile(&frame).kind,
        DecodeErrorKind::VarintTooLong { max_bytes: 5 }
    );
}

#[test]
fn size_prefix_of_i32_max_on_a_ten_byte_stream() {
    let stream = [0x7f, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5];
    // With the default 100 MiB limit the prefix itself is the error.
    let mut splitter = FrameSplitter::default();
    let (result, peak) = peak_allocation(|| {
        splitter.push(&stream);
        splitter.next_frame()
    });
    assert_eq!(
        result.unwrap_err().kind,
        DecodeErrorKind::FrameTooLarge {
            length: 0x7fff_ffff,
            max: 100 * 1024 * 1024
        }
    );
    assert!(peak <= allocation_bound(stream.len()), "peak {peak}");
    // With a limit that admits it, the splitter waits, holding only what came.
    let mut splitter = FrameSplitter::new(usize::MAX);
    let (result, peak) = peak_allocation(|| {
        splitter.push(&stream);
        splitter.next_frame()
    });
    assert_eq!(result.unwrap(), None);
    assert_eq!(splitter.buffered(), stream.len());
    assert!(peak <= allocation_bound(stream.len()), "peak {peak}");
}

#[test]
fn many_compressed_batches_share_one_decompression_limit() {
    // Each batch decompresses to about 100 KiB: two fit the 256 KiB limit,
    // a third does not, however small each is compressed.
    let value = bytes::Bytes::from(vec![0u8; 100 * 1024]);
    let batch = kafka_fuzz::harness::input::encode_entries(&[(None, Some(value))], None, 0, Codec::Gzip).unwrap();
    let limits = BatchLimits {
        max_decompressed_size: BOMB_LIMIT,
    };
    let two = decode_record_batches(batch.repeat(2).into(), limits).unwrap();
    assert_eq!(two.len(), 2);
    let error = decode_record_batches(batch.repeat(3).into(), limits).unwrap_err();
    assert!(
        matches!(error.kind, DecodeErrorKind::DecompressionLimit { codec: "gzip", .. }),
        "{error}"
    );
}

#[test]
fn many_tiny_compressed_records_are_charged_as_decoded() {
    // ~170 KiB of lz4-compressed empty records fit the 256 KiB limit as
    // bytes, but 15,000 decoded records do not.
    let entries = vec![(None, None); 15_000];
    let batch = kafka_fuzz::harness::input::encode_entries(&entries, None, 0, Codec::Lz4).unwrap();
    let limits = BatchLimits {
        max_decompressed_size: BOMB_LIMIT,
    };
    let bound = 2 * BOMB_LIMIT + allocation_bound(batch.len());
    let (result, peak) = peak_allocation(|| decode_record_batches(batch.clone(), limits));
    let error = result.unwrap_err();
    assert!(
        matches!(error.kind, DecodeErrorKind::DecodedRecordsLimit { count: 15_000, .. }),
        "{error}"
    );
    assert!(peak <= bound, "peak {peak} over {bound}");
}

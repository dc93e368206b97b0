//! Decode / re-encode / decode: whatever a decoder accepts, `kafka-protocol`
//! can encode, and the encoding decodes back to the same thing. A decoder
//! that misreads a field (a wrong version range, a swapped nullability)
//! breaks this even when it never crashes.

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};

use super::{Oracle, Violation};
use crate::harness::input::{encodable, encode_record_batch, encode_request, to_protocol_records};
use crate::server::wire::{Codec, DecodeError, RecordBatch, Request, RequestError};

/// Re-encodes `decoded` (read from `frame`) with `kafka-protocol` and
/// decodes it again with `decode` (the decoder that produced `decoded`): it
/// must come back equal. When the re-encoding is `frame` itself (a
/// canonical encoding, most valid frames), decoding it again would only
/// repeat the first decode, so it is not run: the check costs one encode.
pub fn check_request_roundtrip(
    frame: &[u8],
    decoded: &Request,
    decode: impl FnOnce(&Bytes) -> Result<Request, RequestError>,
) -> Result<(), Violation> {
    let violation = |detail: String| {
        Violation::new(
            Oracle::RequestRoundtrip,
            format!(
                "api key {} v{}: {detail}",
                decoded.header.request_api_key, decoded.header.request_api_version
            ),
        )
    };
    let encoded = encode_request(&decoded.header, &decoded.body)
        .map_err(|e| violation(format!("accepted, but kafka-protocol cannot encode it: {e:#}")))?;
    let encoded = encoded.slice(4..);
    if encoded == frame {
        return Ok(());
    }
    match decode(&encoded) {
        Err(error) => Err(violation(format!("its re-encoding is rejected: {error}"))),
        Ok(again) if same_request(&again, decoded) => Ok(()),
        Ok(again) => Err(violation(format!("decoded {decoded:?}\nre-decoded {again:?}"))),
    }
}

/// Whether two decodings are the same request: equal, or, where `==`
/// cannot tell (a NaN quota is not equal to itself), encoded alike bit for
/// bit.
pub fn same_request(a: &Request, b: &Request) -> bool {
    a == b || {
        let encoded = |request: &Request| encode_request(&request.header, &request.body).ok();
        encoded(a).is_some_and(|bytes| Some(bytes) == encoded(b))
    }
}

/// Re-encodes every record of `batches` with `kafka-protocol` and decodes
/// it again with `decode` (the decoder that produced `batches`): the
/// records must come back the same. Re-encoded uncompressed: the codecs are
/// checked where `record_batch` decodes what `kafka-protocol` compressed,
/// and a compressor's set-up (hundreds of KiB zeroed for gzip and zstd)
/// would otherwise be most of every execution. Batches whose offsets or
/// timestamps `kafka-protocol` cannot write (see `encodable`) are left out:
/// the reference is not asked what it cannot do.
pub fn check_batch_roundtrip(
    batches: &[RecordBatch],
    decode: impl Fn(Bytes) -> Result<Vec<RecordBatch>, DecodeError>,
) -> Result<(), Violation> {
    for (index, batch) in batches.iter().enumerate() {
        let violation = |detail: String| Violation::new(Oracle::BatchRoundtrip, format!("batch {index}: {detail}"));
        let records = comparable(to_protocol_records(batch));
        if !encodable(&records) {
            continue;
        }
        let encoded = encode_record_batch(&records, Codec::None)
            .map_err(|e| violation(format!("accepted, but kafka-protocol cannot encode it: {e:#}")))?;
        let again = decode(encoded).map_err(|e| violation(format!("its re-encoding is rejected: {e}")))?;
        let again = comparable(again.iter().flat_map(to_protocol_records).collect());
        if again != records {
            return Err(violation(format!("records {records:?}\nre-decoded {again:?}")));
        }
    }
    Ok(())
}

/// Records as they survive `kafka-protocol`'s encoder, which never sets the
/// log-append-time bit: a log-append batch comes back as create time, with
/// the batch's max timestamp on every record, which is what it read as.
fn comparable(mut records: Vec<Record>) -> Vec<Record> {
    for record in &mut records {
        record.timestamp_type = TimestampType::Creation;
    }
    records
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{MetadataRequest, RequestHeader, metadata_request::MetadataRequestTopic};
    use kafka_protocol::protocol::StrBytes;

    use super::*;
    use crate::harness::input::encode_entries;
    use crate::server::wire::{BatchLimits, decode_record_batches, decode_request};

    fn metadata(topic: &'static str) -> Request {
        Request {
            header: RequestHeader::default()
                .with_request_api_key(3)
                .with_request_api_version(9)
                .with_correlation_id(1)
                .with_client_id(Some(StrBytes::from_static_str("c"))),
            body: MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(StrBytes::from_static_str(topic).into())),
                ]))
                .into(),
        }
    }

    fn our_decoder(frame: &Bytes) -> Result<Request, RequestError> {
        decode_request(frame.clone())
    }

    #[test]
    fn a_faithful_decoder_passes() {
        // Given another form of the frame, so the re-encoding is decoded.
        assert_eq!(check_request_roundtrip(&[], &metadata("a"), our_decoder), Ok(()));
    }

    #[test]
    fn a_decoder_that_misreads_a_field_is_caught() {
        // A decoder that drops the topic name: what it gave the first time
        // differs from what it reads back.
        let misreading = |frame: &Bytes| {
            our_decoder(frame).map(|mut request| {
                if let kafka_protocol::messages::RequestKind::Metadata(m) = &mut request.body {
                    m.topics = Some(vec![]);
                }
                request
            })
        };
        let violation = check_request_roundtrip(&[], &metadata("a"), misreading).unwrap_err();
        assert_eq!(violation.oracle, Oracle::RequestRoundtrip);
        assert!(violation.detail.contains("re-decoded"), "{violation}");
        // A decoder that rejects what it accepted in another form.
        let rejecting = |frame: &Bytes| decode_request(frame.slice(..frame.len() - 1));
        let violation = check_request_roundtrip(&[], &metadata("a"), rejecting).unwrap_err();
        assert!(violation.detail.contains("its re-encoding is rejected"), "{violation}");
    }

    #[test]
    fn a_canonical_frame_is_not_decoded_twice() {
        let request = metadata("a");
        let frame = encode_request(&request.header, &request.body).unwrap().slice(4..);
        let never = |_: &Bytes| -> Result<Request, RequestError> { panic!("decoded again") };
        assert_eq!(check_request_roundtrip(&frame, &request, never), Ok(()));
        // A non-canonical frame (here: one more byte) is decoded again.
        let longer = [&frame[..], &[0]].concat();
        let violation = check_request_roundtrip(&longer, &request, |f| decode_request(f.slice(1..))).unwrap_err();
        assert!(violation.detail.contains("rejected"), "{violation}");
    }

    #[test]
    fn batches_of_every_codec_survive_and_a_misread_record_is_caught() {
        let entries = [
            (None, Some(Bytes::from_static(b"v1"))),
            (Some(Bytes::from_static(b"k")), None),
        ];
        let decode = |data| decode_record_batches(data, BatchLimits::default());
        for codec in Codec::ALL {
            let encoded = encode_entries(&entries, Some((7, 1, 3)), 1_000, codec).unwrap();
            let batches = decode(encoded).unwrap();
            assert_eq!(check_batch_roundtrip(&batches, decode), Ok(()), "{codec:?}");
            // A decoder that loses the first record's value.
            let misreading = |data| {
                decode(data).map(|mut batches| {
                    batches[0].records[0].value = None;
                    batches
                })
            };
            let violation = check_batch_roundtrip(&batches, misreading).unwrap_err();
            assert_eq!(violation.oracle, Oracle::BatchRoundtrip, "{codec:?}");
        }
    }
}

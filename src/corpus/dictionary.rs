//! The fuzzing dictionary (`corpus/kafka.dict`, libFuzzer's format, which
//! AFL++ and honggfuzz read too): the api key and version that open every
//! request, at the oldest, a middle and the newest version of every API the
//! decoder reads, then wire tokens and the names the generators pool.
//! `kafka-fuzz corpus seed` writes it beside the seeds.

use std::fmt::Write;

use crate::harness::input::pools::NAMES;
use crate::server::wire::SUPPORTED_APIS;

/// Encodings a hostile or unusual request is made of.
const WIRE_TOKENS: &[(&str, &[u8])] = &[
    ("null_string", b"\xff\xff"),
    ("null_array", b"\xff\xff\xff\xff"),
    ("compact_null", b"\x00"),
    ("empty_tagged", b"\x00"),
    ("int32_max", b"\x7f\xff\xff\xff"),
    ("int32_min", b"\x80\x00\x00\x00"),
    ("int16_max", b"\x7f\xff"),
    ("minus_two", b"\xff\xfe"),
    ("varint_max", b"\xff\xff\xff\xff\x0f"),
    ("varint_long", b"\x80\x80\x80\x80\x80\x01"),
    ("int64_zero", &[0; 8]),
    ("int64_minus_one", &[0xff; 8]),
    ("int64_max", b"\x7f\xff\xff\xff\xff\xff\xff\xff"),
    ("nullable_struct_absent", b"\xff"),
    ("magic_v2", b"\x02"),
    ("producer_none", &[0xff; 14]),
    ("attr_gzip", b"\x00\x01"),
    ("attr_snappy", b"\x00\x02"),
    ("attr_lz4", b"\x00\x03"),
    ("attr_zstd", b"\x00\x04"),
    ("attr_txn", b"\x00\x10"),
    ("attr_control", b"\x00\x20"),
    ("gzip_magic", b"\x1f\x8b\x08"),
    ("zstd_magic", b"\x28\xb5\x2f\xfd"),
    ("lz4_magic", b"\x04\x22\x4d\x18"),
    ("snappy_xerial", b"\x82SNAPPY\x00"),
    ("uuid_one", &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
];

/// Names a broker gives meaning to that the generators' pool
/// (`pools::NAMES`) lacks.
const MORE_NAMES: &[&str] = &[
    "roundrobin",
    "kafka-fuzz",
    "__consumer_offsets",
    "PLAIN",
    "retention.ms",
    "max.message.bytes",
    "cleanup.policy",
];

/// The dictionary's text.
pub fn dictionary() -> String {
    let mut text = String::from("# Kafka wire tokens for libFuzzer / AFL++ / honggfuzz (-dict=corpus/kafka.dict).\n");
    text.push_str("# Written by `kafka-fuzz corpus seed`; do not edit.\n");
    for api in SUPPORTED_APIS {
        let (min, max) = (api.versions.min, api.versions.max);
        let mut versions = vec![min, min + (max - min) / 2, max];
        versions.dedup();
        for version in versions {
            let key = [(api.key as i16).to_be_bytes(), version.to_be_bytes()].concat();
            entry(&mut text, &format!("{}_v{version}", snake_case(api.name)), &key);
        }
    }
    for (name, bytes) in WIRE_TOKENS {
        entry(&mut text, name, bytes);
    }
    // Each name as a string and as a compact string.
    let names = NAMES.iter().filter(|name| !name.is_empty()).chain(MORE_NAMES);
    for name in names {
        let token = name.replace(['-', '.'], "_").trim_start_matches('_').to_lowercase();
        let length = name.len() as u16;
        entry(
            &mut text,
            &format!("str_{token}"),
            &[&length.to_be_bytes()[..], name.as_bytes()].concat(),
        );
        // A compact string's length is stored plus one, as an unsigned varint
        // (one byte for names this short).
        entry(
            &mut text,
            &format!("cstr_{token}"),
            &[&[length as u8 + 1][..], name.as_bytes()].concat(),
        );
    }
    text
}

fn entry(text: &mut String, name: &str, bytes: &[u8]) {
    text.push_str(name);
    text.push_str("=\"");
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            text.push(byte as char);
        } else {
            write!(text, "\\x{byte:02x}").expect("writing to a String");
        }
    }
    text.push_str("\"\n");
}

/// `ListOffsets` as `list_offsets`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_opens_an_entry_at_its_oldest_and_newest_version() {
        let text = dictionary();
        for api in SUPPORTED_APIS {
            for version in [api.versions.min, api.versions.max] {
                let name = format!("{}_v{version}=", snake_case(api.name));
                assert!(text.lines().any(|line| line.starts_with(&name)), "{name}");
            }
        }
        assert!(text.contains("list_offsets_v1=\"\\x00\\x02\\x00\\x01\"\n"));
        assert!(text.contains("cstr_topic_a=\"\\x08topic-a\"\n"));
        assert!(text.contains("str_consumer_offsets=\"\\x00\\x12__consumer_offsets\"\n"));
    }
}

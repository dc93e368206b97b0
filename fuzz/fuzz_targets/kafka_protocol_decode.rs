#![cfg_attr(feature = "libfuzzer", no_main)]
// Third party (feature third-party): see kafka-fuzz's src/adapters/kafka_protocol.rs.
kafka_fuzz_targets::fuzz_main!(@path kafka_fuzz_targets::kafka_fuzz::adapters::kafka_protocol::kafka_protocol_decode);

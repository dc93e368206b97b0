#![cfg_attr(feature = "libfuzzer", no_main)]
// Third party (feature tansu): see kafka-fuzz's src/adapters/tansu.rs.
kafka_fuzz_targets::fuzz_main!(@path kafka_fuzz_targets::kafka_fuzz::adapters::tansu::tansu_differential);

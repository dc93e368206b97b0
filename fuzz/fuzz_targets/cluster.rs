#![cfg_attr(feature = "libfuzzer", no_main)]
kafka_fuzz_targets::fuzz_main!(cluster);

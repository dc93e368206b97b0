#![cfg_attr(feature = "libfuzzer", no_main)]
kafka_fuzz_targets::fuzz_main!(session, mutator = mutate_session_script);

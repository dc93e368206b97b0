#![cfg_attr(feature = "libfuzzer", no_main)]
// Test only: the planted bugs triage's tests find (kafka-fuzz feature planted-bugs).
kafka_fuzz_targets::fuzz_main!(@path kafka_fuzz_targets::kafka_fuzz::harness::planted::planted);

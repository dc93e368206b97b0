use kafka_fuzz::harness::input::seeded_bytes;
use kafka_fuzz::harness::target::ReferenceServer;
use kafka_fuzz::harness::targets::play_session;
use std::collections::BTreeMap;

#[test]
fn scratch_stats() {
    let mut server = ReferenceServer::default();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    for seed in 0..20000u64 {
        let data = seeded_bytes(0x7777_0000 + seed, 64 + (seed as usize * 13) % 2048);
        let mut transcript = Vec::new();
        let _ = play_session(&mut server, &data, Some(&mut transcript));
        let t = String::from_utf8_lossy(&transcript);
        for line in t.lines() {
            for key in [
                "-> delete topic",
                "to 1 partitions",
                "to 2 partitions",
                "to 3 partitions",
                "to 4 partitions",
                "low watermark",
                "retention.ms",
                "max.message.bytes",
                "cleanup.policy",
                "with ",
                "-> NONE: [",
                "-> delete group",
                "committed offset -1",
                "topic-lifecycle",
                "deleted while it waited",
                "OffsetOutOfRange",
            ] {
                if line.contains(key) {
                    let k = format!(
                        "{key} | {}",
                        line.split(": ").last().unwrap_or("").split(' ').next().unwrap_or("")
                    );
                    *counts.entry(k).or_default() += 1;
                }
            }
        }
        if shown < 1 && t.contains("-> delete topic-a: NONE") && t.contains("low watermark") {
            shown += 1;
            println!("{t}");
        }
    }
    for (k, v) in counts {
        println!("{v:8} {k}");
    }
}

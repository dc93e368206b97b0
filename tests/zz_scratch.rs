use kafka_fuzz::harness::input::seeded_bytes;
use kafka_fuzz::harness::target::ReferenceServer;
use kafka_fuzz::harness::targets::play_session;

#[test]
fn scratch_many_seeds() {
    let mut server = ReferenceServer::default();
    let n: u64 = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(20000);
    let mut failures = 0;
    for seed in 0..n {
        let data = seeded_bytes(0x7777_0000 + seed, 64 + (seed as usize * 13) % 2048);
        let mut transcript = Vec::new();
        let result = play_session(&mut server, &data, Some(&mut transcript));
        if let Err(v) = result {
            failures += 1;
            if failures <= 3 {
                println!("seed {seed}: {v:?}\n{}", String::from_utf8_lossy(&transcript));
            } else {
                println!("seed {seed}: {}", v.detail.lines().next().unwrap_or(""));
            }
        }
    }
    println!("failures {failures}/{n}");
}

use kafka_fuzz::server::sim::*;
fn main() {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let seed: u64 = std::env::args().nth(1).unwrap().parse().unwrap();
    let outcome = run_schedule(&Schedule { seed, options: ScheduleOptions::default() });
    println!("{:?}", outcome.violations);
}

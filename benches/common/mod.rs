//! Shared by the benchmarks: timing a subject beside a reference in the same
//! process, so that machine noise hits both alike.

use std::time::Instant;

/// Median nanoseconds per call of `subject` and of `reference`, measured in
/// alternating rounds of about 2 ms each.
pub fn side_by_side(mut subject: impl FnMut(), mut reference: impl FnMut()) -> (f64, f64) {
    const ROUNDS: usize = 31;
    let mut iterations = 1u32;
    loop {
        let start = Instant::now();
        for _ in 0..iterations {
            subject();
        }
        if start.elapsed().as_micros() > 2_000 {
            break;
        }
        iterations *= 2;
    }
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        start.elapsed().as_nanos() as f64 / f64::from(iterations)
    };
    let (mut a, mut b): (Vec<f64>, Vec<f64>) = (0..ROUNDS).map(|_| (time(&mut subject), time(&mut reference))).unzip();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    (a[ROUNDS / 2], b[ROUNDS / 2])
}

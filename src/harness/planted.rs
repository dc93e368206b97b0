//! `planted`: a test-only target with four planted bugs, each reached by its
//! own two-byte pattern anywhere in the input, so triage's end-to-end test
//! has known answers: `!P` panics, `!A` over-allocates, `!H` hangs, `!S`
//! overflows the stack. Behind the `planted-bugs` feature, and refused in
//! release builds: it must never ship.

#[cfg(not(debug_assertions))]
compile_error!("the planted-bugs feature is for tests only: never build it with debug assertions off");

use super::targets::FuzzTarget;

pub const PLANTED: FuzzTarget = FuzzTarget {
    name: "planted",
    run: planted,
    about: "test only: four planted bugs (panic, over-allocation, hang, stack overflow) for triage's tests",
    explain: None,
};

pub fn planted(data: &[u8]) {
    for pair in data.windows(2) {
        match pair {
            b"!P" => planted_panic(data.len()),
            b"!A" => planted_over_allocation(data.len()),
            b"!H" => planted_hang(),
            b"!S" => {
                planted_recursion(0);
            }
            _ => {}
        }
    }
}

#[inline(never)]
fn planted_panic(len: usize) {
    panic!("planted panic on an input of {len} bytes");
}

#[inline(never)]
fn planted_over_allocation(len: usize) {
    // Far over the allocation cap: the counting allocator aborts first.
    let hoard: Vec<u8> = Vec::with_capacity((len + 1) << 36);
    std::hint::black_box(hoard);
}

#[inline(never)]
fn planted_hang() {
    let mut spins = 0u64;
    loop {
        spins = std::hint::black_box(spins.wrapping_add(1));
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn planted_recursion(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    planted_recursion(depth + 1).wrapping_add(frame[0])
}

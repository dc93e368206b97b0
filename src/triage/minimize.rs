//! `DeltaDebugging`: the smallest input that still shows the same crash,
//! by Zeller's ddmin over bytes: remove ever smaller chunks while the crash
//! stays the same, down to single bytes. Used for every reproducer; for a
//! libFuzzer binary it finishes what libFuzzer's own minimizer started.

use std::time::{Duration, Instant};

/// How long minimizing one crash may take.
#[derive(Debug, Clone, Copy)]
pub struct MinimizeBudget {
    pub runs: usize,
    pub time: Duration,
}

/// What a minimization ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minimized {
    pub data: Vec<u8>,
    /// Reproducer runs spent.
    pub runs: usize,
    /// False when the budget ran out before the input was 1-minimal.
    pub complete: bool,
}

/// Shrinks `data`, for which `reproduces` holds, keeping it true.
pub fn delta_debug(data: &[u8], budget: MinimizeBudget, mut reproduces: impl FnMut(&[u8]) -> bool) -> Minimized {
    let started = Instant::now();
    let mut current = data.to_vec();
    let mut runs = 0;
    let mut granularity = 2usize;
    let spent = |runs: usize| runs >= budget.runs || started.elapsed() >= budget.time;
    while current.len() > 1 {
        let chunk = current.len().div_ceil(granularity.min(current.len()));
        let mut removed_any = false;
        let mut start = 0;
        // Complements of each chunk: the input without it.
        while start < current.len() {
            if spent(runs) {
                return Minimized {
                    data: current,
                    runs,
                    complete: false,
                };
            }
            let end = (start + chunk).min(current.len());
            let candidate: Vec<u8> = current[..start].iter().chain(&current[end..]).copied().collect();
            runs += 1;
            if reproduces(&candidate) {
                current = candidate;
                removed_any = true;
                // The same start now names the next chunk.
            } else {
                start = end;
            }
        }
        if removed_any {
            granularity = granularity.saturating_sub(1).max(2);
        } else if chunk == 1 {
            break;
        } else {
            granularity = granularity.saturating_mul(2);
        }
    }
    // An empty input may reproduce too.
    if current.len() == 1 && !spent(runs) {
        runs += 1;
        if reproduces(&[]) {
            current.clear();
        }
    }
    Minimized {
        data: current,
        runs,
        complete: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLENTY: MinimizeBudget = MinimizeBudget {
        runs: 100_000,
        time: Duration::from_secs(60),
    };

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn finds_the_pattern_inside_noise() {
        let mut data: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(7) | 0x80).collect();
        data.splice(120..120, *b"!P");
        let result = delta_debug(&data, PLENTY, |input| contains(input, b"!P"));
        assert_eq!(result.data, b"!P");
        assert!(result.complete);
        // ddmin on a two-byte cause: a few times log2(n) runs, not n^2.
        assert!(result.runs < 200, "{} runs", result.runs);
    }

    #[test]
    fn keeps_bytes_that_are_needed_apart() {
        let data = b"a....b....c".to_vec();
        let needed = |input: &[u8]| [b'a', b'b', b'c'].iter().all(|c| input.contains(c));
        let result = delta_debug(&data, PLENTY, needed);
        assert_eq!(result.data, b"abc");
    }

    #[test]
    fn empty_input_when_nothing_is_needed() {
        let result = delta_debug(b"xyz", PLENTY, |_| true);
        assert!(result.data.is_empty());
    }

    #[test]
    fn stops_at_the_budget_with_a_reproducing_input() {
        let data = vec![7u8; 1000];
        let budget = MinimizeBudget {
            runs: 5,
            time: Duration::from_secs(60),
        };
        let result = delta_debug(&data, budget, |input| input.len() >= 100);
        assert_eq!(result.runs, 5);
        assert!(!result.complete);
        assert!(result.data.len() >= 100);
    }
}

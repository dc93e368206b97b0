//! Structural mutations of session scripts, for the fuzz engine's custom
//! mutator hook: insert, delete, duplicate, swap or repeat a step, or
//! change one step's fields, and write the script back as the bytes the
//! target reads (`ArbitraryBytes`). Byte mutations alone rarely keep a
//! long script whole (one changed length byte shifts every step after
//! it); these grow long histories from short ones, step by step.

use arbitrary::{Arbitrary, Unstructured};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::script_bytes::ArbitraryBytes;
use super::seeded::seeded_bytes;
use super::session::{MAX_SESSION_STEPS, Operation, SessionScript, SessionStep};

/// The engine's own byte mutation: `(data, size, max_size) -> new size`,
/// as `libfuzzer_sys::fuzzer_mutate`.
pub type ByteMutation<'a> = &'a mut dyn FnMut(&mut [u8], usize, usize) -> usize;

/// Bytes one generated step reads at most (a malformed produce's).
const STEP_BYTES: usize = 96;

/// One structural edit of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Insert,
    Delete,
    Duplicate,
    Swap,
    Repeat,
    ChangeOneStep,
}

const EDITS: [Edit; 6] = [
    Edit::Insert,
    Edit::Delete,
    Edit::Duplicate,
    Edit::Swap,
    Edit::Repeat,
    Edit::ChangeOneStep,
];

/// Mutates the script in `data[..size]` in place, returning its new size
/// (at most `max_size`, and `data.len()`): a structural edit two times in
/// three, else (or when the edit cannot apply) `bytes`, the engine's own.
/// The same `seed` gives the same mutation.
pub fn mutate_session_script(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    bytes: ByteMutation<'_>,
) -> usize {
    let max_size = max_size.min(data.len());
    let size = size.min(max_size);
    let mut rng = ChaCha8Rng::seed_from_u64(u64::from(seed));
    if rng.gen_ratio(1, 3) {
        return bytes(data, size, max_size);
    }
    let Ok(mut script) = Unstructured::new(&data[..size]).arbitrary::<SessionScript>() else {
        return bytes(data, size, max_size);
    };
    let edit = EDITS[rng.gen_range(0..EDITS.len())];
    if !edit_script(&mut script.steps, edit, &mut rng, bytes) {
        return bytes(data, size, max_size);
    }
    let mut written = Vec::with_capacity(size + STEP_BYTES);
    script.write_bytes(&mut written);
    if written.len() > max_size {
        return bytes(data, size, max_size);
    }
    data[..written.len()].copy_from_slice(&written);
    written.len()
}

/// Applies `edit`; false when it cannot (too few or too many steps).
fn edit_script(steps: &mut Vec<SessionStep>, edit: Edit, rng: &mut ChaCha8Rng, bytes: ByteMutation<'_>) -> bool {
    let len = steps.len();
    let room = len < MAX_SESSION_STEPS;
    match edit {
        Edit::Insert if room => {
            let step = generated_step(rng);
            steps.insert(rng.gen_range(0..=len), step);
        }
        Edit::Delete if len > 1 => {
            steps.remove(rng.gen_range(0..len));
        }
        Edit::Duplicate if room && len > 0 => {
            let step = steps[rng.gen_range(0..len)].clone();
            steps.insert(rng.gen_range(0..=len), step);
        }
        Edit::Swap if len > 1 => {
            let (a, b) = (rng.gen_range(0..len), rng.gen_range(0..len));
            steps.swap(a, b);
        }
        Edit::Repeat if room && len > 0 => {
            let after = rng.gen_range(0..len);
            let repeat = SessionStep::new(steps[after].client(), Operation::Repeat { times: rng.r#gen() });
            steps.insert(after + 1, repeat);
        }
        Edit::ChangeOneStep if len > 0 => {
            let at = rng.gen_range(0..len);
            let Some(changed) = changed_step(&steps[at], bytes) else {
                return false;
            };
            steps[at] = changed;
        }
        _ => return false,
    }
    true
}

/// A step from seeded bytes: any client, any operation.
fn generated_step(rng: &mut ChaCha8Rng) -> SessionStep {
    let data = seeded_bytes(rng.r#gen(), STEP_BYTES);
    // Integers past the end read as zeros: a step always comes out.
    SessionStep::arbitrary(&mut Unstructured::new(&data)).unwrap_or_else(|_| SessionStep::new(0, Operation::Disconnect))
}

/// `step` with its bytes mutated by the engine and read back: one step's
/// fields change, the others stay. A few tries, since a changed byte may
/// leave the step as it was (the high bytes of a variant's tag, a value
/// wrapped into its range).
fn changed_step(step: &SessionStep, bytes: ByteMutation<'_>) -> Option<SessionStep> {
    let mut written = Vec::with_capacity(STEP_BYTES);
    step.write_bytes(&mut written);
    (0..4).find_map(|_| {
        let mut data = written.clone();
        data.resize(written.len().max(STEP_BYTES), 0);
        let max_size = data.len();
        let size = bytes(&mut data, written.len(), max_size).min(max_size);
        let changed = SessionStep::arbitrary(&mut Unstructured::new(&data[..size])).ok()?;
        (changed != *step).then_some(changed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the engine's byte mutation: flips one byte, chosen
    /// by a counter, so tests are deterministic without libFuzzer.
    fn flip_a_byte() -> impl FnMut(&mut [u8], usize, usize) -> usize {
        let mut calls = 0usize;
        move |data, size, _| {
            calls += 1;
            if size > 0 {
                data[calls * 7 % size] ^= 0x5a;
            }
            size
        }
    }

    fn script_of(data: &[u8]) -> SessionScript {
        Unstructured::new(data).arbitrary().unwrap()
    }

    fn bytes_of(script: &SessionScript) -> Vec<u8> {
        let mut out = Vec::new();
        script.write_bytes(&mut out);
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_mutation() {
        let start = bytes_of(&script_of(&seeded_bytes(7, 120)));
        let run = |seed| {
            let mut data = start.clone();
            data.resize(4096, 0);
            let size = mutate_session_script(&mut data, start.len(), 4096, seed, &mut flip_a_byte());
            data.truncate(size);
            data
        };
        for seed in 0..50 {
            assert_eq!(run(seed), run(seed), "seed {seed}");
        }
    }

    #[test]
    fn each_edit_does_what_it_says() {
        let script = script_of(&seeded_bytes(11, 200));
        let len = script.steps.len();
        assert!(len >= 3, "{len} steps");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for edit in EDITS {
            let mut steps = script.steps.clone();
            assert!(edit_script(&mut steps, edit, &mut rng, &mut flip_a_byte()), "{edit:?}");
            let changed = steps.iter().zip(&script.steps).filter(|(a, b)| a != b).count();
            match edit {
                Edit::Insert | Edit::Duplicate => assert_eq!(steps.len(), len + 1),
                Edit::Delete => assert_eq!(steps.len(), len - 1),
                Edit::Repeat => {
                    assert_eq!(steps.len(), len + 1);
                    assert!(
                        steps
                            .iter()
                            .any(|step| matches!(step.operation, Operation::Repeat { .. }))
                    );
                }
                Edit::Swap => {
                    assert_eq!(steps.len(), len);
                    let sorted = |s: &[SessionStep]| {
                        let mut v: Vec<_> = s.iter().map(|step| format!("{step:?}")).collect();
                        v.sort();
                        v
                    };
                    assert_eq!(sorted(&steps), sorted(&script.steps));
                }
                Edit::ChangeOneStep => {
                    assert_eq!(steps.len(), len);
                    assert_eq!(changed, 1, "{steps:?}");
                }
            }
        }
    }

    #[test]
    fn mutations_grow_long_scripts_from_short_ones_and_stay_readable() {
        let mut data = bytes_of(&script_of(&seeded_bytes(5, 40)));
        let mut size = data.len();
        data.resize(1 << 16, 0);
        let mut longest = 0;
        let mut engine = flip_a_byte();
        for seed in 0..3000 {
            size = mutate_session_script(&mut data, size, 1 << 16, seed, &mut engine);
            let script = script_of(&data[..size]);
            assert!(script.steps.len() <= MAX_SESSION_STEPS);
            longest = longest.max(script.steps.len());
        }
        assert_eq!(longest, MAX_SESSION_STEPS, "mutations should reach the longest scripts");
    }

    #[test]
    fn a_mutation_never_writes_past_max_size() {
        let start = bytes_of(&script_of(&seeded_bytes(9, 400)));
        for seed in 0..200 {
            let mut data = start.clone();
            let max_size = start.len();
            let size = mutate_session_script(&mut data, start.len(), max_size, seed, &mut flip_a_byte());
            assert!(size <= max_size, "seed {seed}: {size} > {max_size}");
        }
    }
}

//! Corpora: the seeds each fuzz target starts from (generated, or from real
//! traffic recorded or captured), what a corpus holds, and reading inputs.

pub mod cluster_seeds;
mod dictionary;
mod seeds;
mod session_seeds;
mod stats;
mod traffic;

use std::path::PathBuf;

pub use dictionary::dictionary;
pub use seeds::{Seed, generated_seeds, write_seeds};
pub use stats::{ContentCount, CorpusReadError, CorpusStats, SeedContent, TargetStats, client_stream, stream_targets};
pub use traffic::{ConnectionStream, RESPONSES_DIR, SeedStore, TrafficRecorder, request_seeds};

/// The files named, and the files in the directories named (each
/// directory's in name order): what replaying "these inputs" means.
pub fn input_files(inputs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut entries = std::fs::read_dir(input)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<std::io::Result<Vec<_>>>()?;
            entries.retain(|path| path.is_file());
            entries.sort();
            files.extend(entries);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_directories_in_name_order_then_named_files() {
        let dir = std::env::temp_dir().join(format!("kafka-fuzz-inputs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nested")).unwrap();
        for name in ["b", "a", "nested/c"] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        let single = dir.join("nested/c");
        let files = input_files(&[dir.clone(), single.clone()]).unwrap();
        assert_eq!(files, [dir.join("a"), dir.join("b"), single]);
        assert!(input_files(&[dir.join("missing")]).unwrap() == [dir.join("missing")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

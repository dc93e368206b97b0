//! `KnownIssues`: upstream bugs triage labels as known rather than new, from
//! TOML files (`[[issue]]` tables; the built-in list is
//! `src/triage/known-issues.toml`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TriageError;
use super::classify::{CrashKind, Frame};
use super::signature::{CrashSignature, SIGNATURE_FRAMES, own_frames};

/// One known bug and the signatures it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownIssue {
    pub id: String,
    /// Any of these kinds; empty for any kind.
    #[serde(default)]
    pub kinds: Vec<CrashKind>,
    /// A substring of the normalized message.
    #[serde(default)]
    pub message: Option<String>,
    /// Any of these substrings, in the function or the file of one of the
    /// innermost frames in code under test (a function inlined under line
    /// tables only has a bare name; its file still says whose it is).
    #[serde(default)]
    pub frames: Vec<String>,
    pub upstream: String,
    #[serde(default)]
    pub note: String,
}

impl KnownIssue {
    /// Whether a crash with `signature` and stack `frames` is this issue.
    pub fn matches(&self, signature: &CrashSignature, frames: &[Frame]) -> bool {
        let in_frames = |pattern: &String| {
            own_frames(frames).take(SIGNATURE_FRAMES).any(|frame| {
                frame.function.contains(pattern.as_str())
                    || frame.location.as_ref().is_some_and(|l| l.contains(pattern.as_str()))
            })
        };
        (self.kinds.is_empty() || self.kinds.contains(&signature.kind))
            && self
                .message
                .as_ref()
                .is_none_or(|m| signature.message.contains(m.as_str()))
            && (self.frames.is_empty() || self.frames.iter().any(in_frames))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownIssuesFile {
    #[serde(default)]
    issue: Vec<KnownIssue>,
}

#[derive(Debug, Clone, Default)]
pub struct KnownIssues(Vec<KnownIssue>);

impl KnownIssues {
    /// The list kafka-fuzz ships.
    pub fn builtin() -> Self {
        Self::parse(
            include_str!("known-issues.toml"),
            Path::new("src/triage/known-issues.toml"),
        )
        .expect("the built-in known-issues list parses (checked by a test)")
    }

    /// Adds the issues of the TOML file at `path`.
    pub fn load(&mut self, path: &Path) -> Result<(), TriageError> {
        let text = std::fs::read_to_string(path).map_err(|source| TriageError::Io {
            what: format!("cannot read the known-issues file {}", path.display()),
            source,
        })?;
        self.0.extend(Self::parse(&text, path)?.0);
        Ok(())
    }

    fn parse(text: &str, path: &Path) -> Result<Self, TriageError> {
        let file: KnownIssuesFile = toml::from_str(text).map_err(|error| TriageError::KnownIssues {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        for issue in &file.issue {
            // An issue with no condition would swallow every crash.
            if issue.kinds.is_empty() && issue.message.is_none() && issue.frames.is_empty() {
                return Err(TriageError::KnownIssues {
                    path: path.to_owned(),
                    reason: format!("issue {:?} has no condition: give kinds, message or frames", issue.id),
                });
            }
        }
        Ok(Self(file.issue))
    }

    /// The first issue a crash with `signature` and `frames` matches.
    pub fn find(&self, signature: &CrashSignature, frames: &[Frame]) -> Option<&KnownIssue> {
        self.0.iter().find(|issue| issue.matches(signature, frames))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(kind: CrashKind) -> CrashSignature {
        CrashSignature {
            kind,
            message: "an allocation of N bytes would hold N bytes live".into(),
            frames: Vec::new(),
        }
    }

    fn frame(function: &str, location: &str) -> Frame {
        Frame {
            function: function.into(),
            location: Some(location.into()),
        }
    }

    const DECODE: &str =
        "<kafka_protocol::messages::produce_request::ProduceRequest as kafka_protocol::protocol::Decodable>::decode";
    const REGISTRY: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/kafka-protocol-0.18.0";

    #[test]
    fn builtin_list_labels_the_kafka_protocol_preallocation_bug() {
        let known = KnownIssues::builtin();
        let stack = [
            frame(
                "alloc::raw_vec::RawVec<T>::with_capacity",
                "/rustc/x/library/alloc/src/raw_vec/mod.rs:1:1",
            ),
            frame(DECODE, &format!("{REGISTRY}/src/messages/produce_request.rs:10:5")),
        ];
        let hit = known.find(&signature(CrashKind::OverAllocation), &stack).unwrap();
        assert_eq!(hit.id, "kafka-protocol-array-preallocation");
        assert!(known.find(&signature(CrashKind::OutOfMemory), &stack).is_some());
        // Inlined under line tables only: a bare name, the file says whose.
        let inlined = [frame(
            "decode",
            &format!("{REGISTRY}/src/messages/produce_request.rs:10:5"),
        )];
        assert!(known.find(&signature(CrashKind::OverAllocation), &inlined).is_some());
        // Our own decoder over-allocating is a new bug, and so is a panic
        // in kafka-protocol.
        let ours = [frame(
            "kafka_fuzz::server::wire::decode",
            "src/server/wire/request.rs:1:1",
        )];
        assert!(known.find(&signature(CrashKind::OverAllocation), &ours).is_none());
        // Nor is its record batch decoder's.
        let records = [frame(
            "kafka_protocol::records::RecordBatchDecoder::decode",
            &format!("{REGISTRY}/src/records.rs:1:1"),
        )];
        assert!(known.find(&signature(CrashKind::OverAllocation), &records).is_none());
        assert!(known.find(&signature(CrashKind::Panic), &stack).is_none());
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let path = Path::new("k.toml");
        let error = KnownIssues::parse("[[issue]]\nid = \"x\"\nupstream = \"u\"\n", path).unwrap_err();
        assert!(error.to_string().contains("has no condition"), "{error}");
        let error =
            KnownIssues::parse("[[issue]]\nid = \"x\"\nkinds = [\"bogus\"]\nupstream = \"u\"\n", path).unwrap_err();
        assert!(error.to_string().contains("k.toml"), "{error}");
        assert!(error.to_string().contains("bogus"), "{error}");
        let error = KnownIssues::parse("[[issue]]\nid = \"x\"\nframe = \"y\"\nupstream = \"u\"\n", path).unwrap_err();
        assert!(error.to_string().contains("frame"), "{error}");
    }

    #[test]
    fn message_and_frame_conditions_must_all_hold() {
        let issue = KnownIssue {
            id: "x".into(),
            kinds: vec![],
            message: Some("would hold".into()),
            frames: vec!["decode".into()],
            upstream: "u".into(),
            note: String::new(),
        };
        let signature = signature(CrashKind::Panic);
        assert!(issue.matches(&signature, &[frame("a::decode", "a.rs:1:1")]));
        assert!(!issue.matches(&signature, &[frame("a::encode", "a.rs:1:1")]));
    }
}

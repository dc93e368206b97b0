//! `KnownIssues`: upstream bugs triage labels as known rather than new, from
//! TOML files (`[[issue]]` tables; the built-in list is
//! `src/triage/known-issues.toml`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TriageError;
use super::classify::CrashKind;
use super::signature::CrashSignature;

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
    /// A substring of one of the signature's frames.
    #[serde(default)]
    pub frame: Option<String>,
    pub upstream: String,
    #[serde(default)]
    pub note: String,
}

impl KnownIssue {
    pub fn matches(&self, signature: &CrashSignature) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&signature.kind))
            && self
                .message
                .as_ref()
                .is_none_or(|m| signature.message.contains(m.as_str()))
            && self
                .frame
                .as_ref()
                .is_none_or(|f| signature.frames.iter().any(|frame| frame.contains(f.as_str())))
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
            if issue.kinds.is_empty() && issue.message.is_none() && issue.frame.is_none() {
                return Err(TriageError::KnownIssues {
                    path: path.to_owned(),
                    reason: format!("issue {:?} has no condition: give kinds, message or frame", issue.id),
                });
            }
        }
        Ok(Self(file.issue))
    }

    /// The first issue `signature` matches.
    pub fn find(&self, signature: &CrashSignature) -> Option<&KnownIssue> {
        self.0.iter().find(|issue| issue.matches(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(kind: CrashKind, frames: &[&str]) -> CrashSignature {
        CrashSignature {
            kind,
            message: "an allocation of N bytes would hold N bytes live".into(),
            frames: frames.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn builtin_list_labels_the_kafka_protocol_preallocation_bug() {
        let known = KnownIssues::builtin();
        let decode = "<kafka_protocol::messages::produce_request::ProduceRequest as kafka_protocol::protocol::Decodable>::decode";
        let hit = known.find(&signature(CrashKind::OverAllocation, &[decode])).unwrap();
        assert_eq!(hit.id, "kafka-protocol-array-preallocation");
        assert!(known.find(&signature(CrashKind::OutOfMemory, &[decode])).is_some());
        // Our own decoder over-allocating is a new bug, and so is a panic
        // in kafka-protocol.
        assert!(
            known
                .find(&signature(
                    CrashKind::OverAllocation,
                    &["kafka_fuzz::server::wire::decode"]
                ))
                .is_none()
        );
        assert!(known.find(&signature(CrashKind::Panic, &[decode])).is_none());
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
        let error = KnownIssues::parse("[[issue]]\nid = \"x\"\nfram = \"y\"\nupstream = \"u\"\n", path).unwrap_err();
        assert!(error.to_string().contains("fram"), "{error}");
    }

    #[test]
    fn message_and_frame_conditions_must_all_hold() {
        let issue = KnownIssue {
            id: "x".into(),
            kinds: vec![],
            message: Some("would hold".into()),
            frame: Some("decode".into()),
            upstream: "u".into(),
            note: String::new(),
        };
        assert!(issue.matches(&signature(CrashKind::Panic, &["a::decode"])));
        assert!(!issue.matches(&signature(CrashKind::Panic, &["a::encode"])));
    }
}

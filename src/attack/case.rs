//! Attack cases: what one connection sends, and where it came from. A case
//! is stored as a client stream (size-prefixed request frames, then any
//! bytes after a size prefix a server must refuse), the format of the
//! `dispatch` target's seeds: a case that breaks a server over TCP is also
//! an input for an in-process adapter of it (which sees a tail whose prefix
//! claims more than follows as a frame cut short, since a fuzz target
//! cannot half-close a connection).

use std::path::{Path, PathBuf};

use arbitrary::Unstructured;
use bytes::Bytes;

use crate::corpus::{client_stream, input_files, stream_targets};
use crate::harness::input::{Malformation, generated_stream, join_frames, seeded_bytes, split_stream};
use crate::server::wire::{DEFAULT_MAX_FRAME_SIZE, SUPPORTED_APIS, SupportedApi};

/// Most APIs one generated case mixes.
const MAX_GENERATED_APIS: usize = 4;

/// Generator bytes per case: far more than a case reads.
const CASE_ENTROPY: usize = 4096;

/// What one connection sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackCase {
    /// Request frames, without size prefixes, each sent behind its true one.
    pub frames: Vec<Bytes>,
    /// Sent raw after the frames, then the connection half-closed: a size
    /// prefix the server must refuse (negative, or larger than any request)
    /// or one that claims more bytes than follow, and what follows it.
    pub tail: Bytes,
    /// Where the case came from, for the report.
    pub origin: String,
}

impl AttackCase {
    /// The case a client stream holds: its whole frames as a server's
    /// framing splits them, and from the first size prefix that is refused
    /// or claims more bytes than follow, the rest as tail, sent as it is.
    pub fn from_stream(stream: &[u8], origin: impl Into<String>) -> Self {
        let mut frames = split_stream(stream, DEFAULT_MAX_FRAME_SIZE).frames;
        let mut whole = 0;
        let mut complete = 0;
        // Only a frame behind a prefix that tells its true size is whole.
        for frame in &frames {
            let prefix = stream.get(whole..whole + 4).and_then(|p| <[u8; 4]>::try_from(p).ok());
            if prefix.map(u32::from_be_bytes) != u32::try_from(frame.len()).ok() {
                break;
            }
            whole += 4 + frame.len();
            complete += 1;
        }
        frames.truncate(complete);
        Self {
            frames,
            tail: Bytes::copy_from_slice(&stream[whole..]),
            origin: origin.into(),
        }
    }

    /// The bytes the case sends, as one client stream: a session file.
    pub fn to_stream(&self) -> Vec<u8> {
        let mut stream = join_frames(self.frames.iter().map(|frame| &frame[..]));
        stream.extend_from_slice(&self.tail);
        stream
    }

    /// Reads a session file.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self::from_stream(&std::fs::read(path)?, path.display().to_string()))
    }
}

/// Cases from a seed: generated requests of any API and version (each
/// maybe malformed), and corpus streams (recorded or captured client
/// sessions, generated seeds) with one frame damaged. Case `n` of a seed is
/// always the same case.
#[derive(Debug, Clone)]
pub struct CaseGenerator {
    seed: u64,
    corpus: Vec<(PathBuf, Vec<u8>)>,
    /// Where the corpus came from, for the command that plays it again.
    corpus_root: Option<PathBuf>,
    /// The APIs the server advertises (empty: not known), and the corpus
    /// streams that open with one of them: seven cases in eight go there,
    /// where a server does more than close the connection.
    advertised: Vec<SupportedApi>,
    advertised_streams: Vec<usize>,
}

impl CaseGenerator {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            corpus: Vec::new(),
            corpus_root: None,
            advertised: Vec::new(),
            advertised_streams: Vec::new(),
        }
    }

    /// Aims most cases at the APIs whose keys the server's ApiVersions
    /// lists; call after `load_corpus`.
    pub fn focus_on(&mut self, api_keys: &[i16]) {
        self.advertised = SUPPORTED_APIS
            .iter()
            .filter(|api| api_keys.contains(&(api.key as i16)))
            .copied()
            .collect();
        self.advertised_streams = (0..self.corpus.len())
            .filter(|&index| {
                let stream = &self.corpus[index].1;
                stream
                    .get(4..6)
                    .is_some_and(|key| api_keys.contains(&i16::from_be_bytes([key[0], key[1]])))
            })
            .collect();
    }

    /// Adds the client streams of the seeds under `root/<target>/` for
    /// every target whose seeds hold one; returns how many.
    pub fn load_corpus(&mut self, root: &Path) -> std::io::Result<usize> {
        let before = self.corpus.len();
        self.corpus_root = Some(root.to_owned());
        for target in stream_targets() {
            let dir = root.join(target);
            if !dir.is_dir() {
                continue;
            }
            for file in input_files(&[dir])? {
                let data = std::fs::read(&file)?;
                if let Some(stream) = client_stream(target, &data).filter(|stream| !stream.is_empty()) {
                    self.corpus.push((file, stream.to_vec()));
                }
            }
        }
        Ok(self.corpus.len() - before)
    }

    pub fn corpus_len(&self) -> usize {
        self.corpus.len()
    }

    /// The corpus root the streams were read from, if any were.
    pub fn corpus_root(&self) -> Option<&Path> {
        self.corpus_root.as_deref().filter(|_| !self.corpus.is_empty())
    }

    /// Case number `index`: even ones generated, odd ones from the corpus
    /// (generated too when there is none).
    pub fn case(&self, index: u64) -> AttackCase {
        let entropy = seeded_bytes(self.seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15), CASE_ENTROPY);
        let mut u = Unstructured::new(&entropy);
        if index % 2 == 1 && !self.corpus.is_empty() {
            self.mutated(&mut u)
        } else {
            let advertised = if self.focus(&mut u) { &self.advertised[..] } else { &[] };
            generated(&mut u, advertised)
        }
    }

    /// Whether this case goes to the advertised APIs.
    fn focus(&self, u: &mut Unstructured) -> bool {
        !self.advertised.is_empty() && u.ratio(7, 8).unwrap_or(true)
    }

    /// A corpus stream with one frame malformed.
    fn mutated(&self, u: &mut Unstructured) -> AttackCase {
        let pick = if self.focus(u) && !self.advertised_streams.is_empty() {
            let at = u.choose_index(self.advertised_streams.len()).unwrap_or(0);
            self.advertised_streams[at]
        } else {
            u.choose_index(self.corpus.len()).unwrap_or(0)
        };
        let (path, stream) = &self.corpus[pick];
        let mut case = AttackCase::from_stream(stream, "");
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let corpus = path
            .parent()
            .and_then(Path::file_name)
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        case.origin = format!("corpus {corpus}/{name}");
        if case.frames.is_empty() {
            return case;
        }
        let at = u.choose_index(case.frames.len()).unwrap_or(0);
        match u.arbitrary::<Malformation>() {
            Ok(malformation) => {
                let (frame, size_prefix) = malformation.apply(&case.frames[at]);
                case.origin += &format!(", frame {at}: {malformation:?}");
                // A lying prefix ends the stream there, as it would on a
                // real connection: the frame after it is what it claims.
                let mut stream = join_frames(case.frames[..at].iter().map(|f| &f[..]));
                let size = size_prefix.unwrap_or(i32::try_from(frame.len()).unwrap_or(i32::MAX));
                stream.extend_from_slice(&size.to_be_bytes());
                stream.extend_from_slice(&frame);
                stream.extend_from_slice(&join_frames(case.frames[at + 1..].iter().map(|f| &f[..])));
                AttackCase::from_stream(&stream, case.origin)
            }
            Err(_) => case,
        }
    }
}

/// Generated requests of one to four APIs in a row, each maybe malformed:
/// of the advertised APIs (where `advertised` is not empty) or of any.
fn generated(u: &mut Unstructured, advertised: &[SupportedApi]) -> AttackCase {
    let apis_to_choose = if advertised.is_empty() {
        SUPPORTED_APIS
    } else {
        advertised
    };
    let mut stream = Vec::new();
    let mut apis = Vec::new();
    for index in 0..MAX_GENERATED_APIS {
        if index > 0 && !u.arbitrary().unwrap_or(false) {
            break;
        }
        let Ok(api) = u.choose(apis_to_choose) else {
            break;
        };
        apis.push(api.name);
        stream.extend_from_slice(&generated_stream(u, *api));
    }
    AttackCase::from_stream(&stream, format!("generated {}", apis.join(", ")))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ApiKey;

    use super::*;

    #[test]
    fn a_case_survives_its_session_file() {
        let generator = CaseGenerator::new(7);
        for index in 0..200 {
            let case = generator.case(index);
            let read = AttackCase::from_stream(&case.to_stream(), case.origin.clone());
            assert_eq!(read, case, "case {index}");
        }
    }

    #[test]
    fn most_generated_cases_go_to_the_advertised_apis() {
        let mut generator = CaseGenerator::new(9);
        let generated_first = |generator: &CaseGenerator| {
            (0..400)
                .map(|index| generator.case(index))
                .filter(|case| case.origin.starts_with("generated ApiVersions"))
                .count()
        };
        let before = generated_first(&generator);
        generator.focus_on(&[ApiKey::ApiVersions as i16]);
        let after = generated_first(&generator);
        assert!(before < 20, "{before} of 400 open with ApiVersions before");
        assert!(after > 250, "{after} of 400 open with ApiVersions after");
    }

    #[test]
    fn a_refused_size_prefix_and_what_follows_are_the_tail() {
        let mut stream = join_frames([&b"abcdefgh"[..]]);
        stream.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        let case = AttackCase::from_stream(&stream, "test");
        assert_eq!(case.frames, [Bytes::from_static(b"abcdefgh")]);
        assert_eq!(&case.tail[..], &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert_eq!(case.to_stream(), stream);
    }

    #[test]
    fn a_size_prefix_claiming_more_than_follows_is_sent_as_it_is() {
        let mut stream = join_frames([&b"abcdefgh"[..]]);
        stream.extend_from_slice(&[0, 0, 0, 200, 1, 2, 3]);
        let case = AttackCase::from_stream(&stream, "test");
        assert_eq!(case.frames, [Bytes::from_static(b"abcdefgh")]);
        assert_eq!(&case.tail[..], &[0, 0, 0, 200, 1, 2, 3]);
        assert_eq!(case.to_stream(), stream);
        let short = AttackCase::from_stream(&[0, 0], "test");
        assert!(short.frames.is_empty());
        assert_eq!(&short.tail[..], &[0, 0]);
    }

    #[test]
    fn cases_are_reproducible_and_mix_generated_and_corpus() {
        let root = std::env::temp_dir().join(format!("kafka-fuzz-attack-case-{}", std::process::id()));
        let dispatch = root.join("dispatch");
        std::fs::create_dir_all(&dispatch).unwrap();
        let frame = b"\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff";
        std::fs::write(dispatch.join("seed"), join_frames([&frame[..]])).unwrap();
        let mut generator = CaseGenerator::new(42);
        assert_eq!(generator.load_corpus(&root).unwrap(), 1);
        std::fs::remove_dir_all(&root).unwrap();
        let cases: Vec<_> = (0..40).map(|i| generator.case(i)).collect();
        assert_eq!(cases, (0..40).map(|i| generator.case(i)).collect::<Vec<_>>());
        assert!(cases.iter().any(|c| c.origin.starts_with("corpus dispatch/seed")));
        assert!(cases.iter().any(|c| c.origin.starts_with("generated")));
    }
}

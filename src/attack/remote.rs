//! A server over TCP, seen as a client sees it: a case played on one real
//! connection, every answer checked by the response oracles, and a probe
//! that asks a fresh connection for ApiVersions to learn whether the server
//! survived.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestKind};
use serde::Serialize;

use super::case::AttackCase;
use crate::harness::client::Client;
use crate::harness::oracle::{Oracle, Violation, check_exchange, request_label};
use crate::harness::target::Exchange;
use crate::server::wire::{DEFAULT_MAX_FRAME_SIZE, decode_request_ignoring_trailing_bytes};

/// How a case broke the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// After the case, a fresh connection is refused: the process is gone.
    Died,
    /// After the case, a fresh connection gets no ApiVersions answer.
    Unresponsive,
    /// A request (a case's, or the probe's once) was neither answered nor
    /// its connection closed in time.
    Hung,
    /// An answer broke a response oracle (frame, correlation id, decoding
    /// at the request's version, error codes), or the probe's connection
    /// closed unanswered once.
    Confused,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Died => "died",
            FaultKind::Unresponsive => "unresponsive",
            FaultKind::Hung => "hung",
            FaultKind::Confused => "confused",
        }
    }

    /// Whether the server can take more cases after this fault.
    pub fn server_usable(self) -> bool {
        matches!(self, FaultKind::Hung | FaultKind::Confused)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub detail: String,
}

impl Fault {
    fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// What one case did on its connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseOutcome {
    /// Frames written (the tail not counted).
    pub sent: usize,
    pub answered: usize,
    /// The server closed the connection before the case ended (as Kafka
    /// does on a request it cannot read).
    pub closed_by_server: bool,
    /// A request Kafka may park (a fetch waiting for records, a join or a
    /// sync waiting for the group) got no answer in time: the case stopped
    /// there, which is no fault.
    pub abandoned_wait: bool,
    pub fault: Option<Fault>,
}

/// What a read for an answer found.
enum Answer {
    Frame(Bytes),
    Closed,
    TimedOut,
}

/// The server at `addr`, each answer awaited at most `timeout`.
#[derive(Debug, Clone)]
pub struct RemoteServer {
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl RemoteServer {
    /// Plays `case` on a new connection, then probes the server, writing
    /// each request and answer to `transcript` if given. A server the probe
    /// finds dead or unresponsive is the fault, whatever the case's
    /// connection saw before: that is what its user needs to know first.
    pub fn play(&self, case: &AttackCase, mut transcript: Option<&mut dyn Write>) -> CaseOutcome {
        let mut note = |line: String| {
            if let Some(out) = transcript.as_mut() {
                let _ = writeln!(out, "{line}");
            }
        };
        let mut outcome = self.converse(case, &mut note);
        let probe = self.probe();
        note(match &probe {
            Ok(()) => "probe: a fresh connection gets ApiVersions".into(),
            Err(fault) => format!("probe: {} ({})", fault.kind.name(), fault.detail),
        });
        outcome.fault = match (outcome.fault, probe.err()) {
            (_, Some(down)) if !down.kind.server_usable() => Some(down),
            (Some(fault), _) => Some(fault),
            (None, probe) => probe,
        };
        outcome
    }

    /// The case's own connection: every frame sent, every answer checked.
    fn converse(&self, case: &AttackCase, note: &mut impl FnMut(String)) -> CaseOutcome {
        let mut outcome = CaseOutcome::default();
        let mut stream = match self.connect() {
            Ok(stream) => stream,
            Err(fault) => {
                outcome.fault = Some(fault);
                return outcome;
            }
        };
        for frame in &case.frames {
            let label = request_label(frame);
            note(format!("-> {label}, {} bytes", frame.len()));
            let size = u32::try_from(frame.len()).unwrap_or(u32::MAX).to_be_bytes();
            if stream.write_all(&[&size[..], frame].concat()).is_err() {
                note("<- connection closed by the server".into());
                outcome.closed_by_server = true;
                return outcome;
            }
            outcome.sent += 1;
            if !answer_expected(frame) {
                note("   (acks=0: no answer expected)".into());
                continue;
            }
            let exchange = match read_answer(&mut stream, self.timeout) {
                Ok(Answer::Frame(response)) => {
                    outcome.answered += 1;
                    note(format!("<- response, {} bytes", response.len()));
                    Exchange::Response(response)
                }
                Ok(Answer::Closed) => {
                    note("<- connection closed by the server".into());
                    outcome.closed_by_server = true;
                    return outcome;
                }
                Ok(Answer::TimedOut) if may_wait(frame) => {
                    note(format!(
                        "<- no answer in {:?}: Kafka may park this request",
                        self.timeout
                    ));
                    outcome.abandoned_wait = true;
                    return outcome;
                }
                Ok(Answer::TimedOut) => {
                    note(format!("<- no answer in {:?}", self.timeout));
                    Exchange::NoResponse
                }
                Err(violation) => {
                    note(format!("<- {violation}"));
                    outcome.fault = Some(Fault::new(FaultKind::Confused, violation.to_string()));
                    return outcome;
                }
            };
            if let Err(violation) = check_exchange(frame, &exchange) {
                let kind = match exchange {
                    Exchange::NoResponse => FaultKind::Hung,
                    _ => FaultKind::Confused,
                };
                note(format!("   {} violation: {violation}", kind.name()));
                outcome.fault = Some(Fault::new(kind, format!("{violation} within {:?}", self.timeout)));
                return outcome;
            }
            if matches!(exchange, Exchange::NoResponse) {
                // An answer may still come, and would be read as the next
                // request's: the rest of the case cannot be judged.
                note("   silence accepted: the case stops here".into());
                return outcome;
            }
        }
        if !case.tail.is_empty() {
            note(format!(
                "-> {} bytes from a size prefix that is refused or claims more than follows",
                case.tail.len()
            ));
            // Whether the server closes or waits, it must survive: the probe
            // after the case says.
            let _ = stream.write_all(&case.tail);
            let _ = stream.shutdown(Shutdown::Write);
        }
        outcome
    }

    /// A fresh connection's ApiVersions v0: the server is up and answers.
    /// A server going down may still take a connection it never serves: a
    /// second look tells an unresponsive server from a dead one, and from
    /// one that failed the first look only (it goes on taking cases).
    pub fn probe(&self) -> Result<(), Fault> {
        let first = match self.probe_once() {
            Err(fault) if matches!(fault.kind, FaultKind::Hung | FaultKind::Unresponsive) => fault,
            result => return result,
        };
        std::thread::sleep(Duration::from_millis(100));
        match self.probe_once() {
            Err(again) if again.kind == FaultKind::Died => Err(again),
            // Slow to answer once is a hang; closing a valid request's
            // connection once is a wrong answer.
            Ok(()) => Err(Fault::new(
                match first.kind {
                    FaultKind::Hung => FaultKind::Hung,
                    _ => FaultKind::Confused,
                },
                format!("{}; a second connection was answered", first.detail),
            )),
            Err(_) => Err(Fault::new(FaultKind::Unresponsive, first.detail)),
        }
    }

    /// The api keys a fresh connection's ApiVersions v0 lists.
    pub fn advertised_apis(&self) -> Result<Vec<i16>, Fault> {
        let answer = self.api_versions()?;
        Ok(answer.api_keys.iter().map(|api| api.api_key).collect())
    }

    fn probe_once(&self) -> Result<(), Fault> {
        self.api_versions().map(drop)
    }

    fn api_versions(&self) -> Result<ApiVersionsResponse, Fault> {
        let mut stream = self.connect()?;
        let (correlation_id, request) = Client::new("kafka-fuzz-probe")
            .request(0, ApiVersionsRequest::default())
            .expect("an empty ApiVersions v0 request encodes");
        let unresponsive = |what: String| Fault::new(FaultKind::Unresponsive, format!("probe: {what}"));
        stream
            .write_all(&request)
            .map_err(|error| unresponsive(format!("cannot send ApiVersions: {error}")))?;
        match read_answer(&mut stream, self.timeout) {
            Ok(Answer::Frame(response)) => {
                let answer = Client::response::<ApiVersionsRequest>(0, correlation_id, &response)
                    .map_err(|error| Fault::new(FaultKind::Confused, format!("probe: ApiVersions v0: {error}")))?;
                match answer.error_code {
                    0 => Ok(answer),
                    code => Err(Fault::new(
                        FaultKind::Confused,
                        format!("probe: ApiVersions v0 answered error code {code}"),
                    )),
                }
            }
            Ok(Answer::Closed) => Err(unresponsive(
                "a fresh connection closed without answering ApiVersions".into(),
            )),
            // Told apart from a refusal only by the second look: see probe.
            Ok(Answer::TimedOut) => Err(Fault::new(
                FaultKind::Hung,
                format!(
                    "probe: no ApiVersions answer on a fresh connection in {:?}",
                    self.timeout
                ),
            )),
            Err(violation) => Err(Fault::new(FaultKind::Confused, format!("probe: {violation}"))),
        }
    }

    fn connect(&self) -> Result<TcpStream, Fault> {
        let stream = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(|error| {
            // Only a refusal says nobody listens any more; a timeout or a
            // reset is a server too busy or too broken to take the call.
            let kind = match error.kind() {
                ErrorKind::ConnectionRefused => FaultKind::Died,
                _ => FaultKind::Unresponsive,
            };
            Fault::new(kind, format!("cannot connect to {}: {error}", self.addr))
        })?;
        // Requests go out whole and at once, as a client's do.
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(self.timeout));
        Ok(stream)
    }
}

/// Every request is answered but a Produce with acks=0 (read with our
/// bounded decoder: the frame is hostile). An unreadable Produce is read for
/// an answer, and `check_exchange` gives it the benefit of the doubt.
fn answer_expected(frame: &Bytes) -> bool {
    !matches!(
        decode_request_ignoring_trailing_bytes(frame.clone()).map(|request| request.body),
        Ok(RequestKind::Produce(produce)) if produce.acks == 0
    )
}

/// Requests Apache Kafka answers only when something happens or a wait
/// the request names runs out.
fn may_wait(frame: &[u8]) -> bool {
    let Some(key) = frame.get(..2) else {
        return false;
    };
    let key = i16::from_be_bytes([key[0], key[1]]);
    [ApiKey::Fetch, ApiKey::JoinGroup, ApiKey::SyncGroup]
        .iter()
        .any(|api| *api as i16 == key)
}

/// One response frame (size prefix included) within `timeout`.
fn read_answer(stream: &mut TcpStream, timeout: Duration) -> Result<Answer, Violation> {
    // A timeout too long to add is as good as none.
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(u32::MAX.into()));
    let mut prefix = [0u8; 4];
    match read_until(stream, &mut prefix, deadline) {
        Filled::All => {}
        Filled::None(closed) => return Ok(if closed { Answer::Closed } else { Answer::TimedOut }),
        Filled::Part(read, closed) => {
            return Err(torn(read, 4, closed));
        }
    }
    let size = i32::from_be_bytes(prefix);
    let size = usize::try_from(size)
        .ok()
        .filter(|size| *size <= DEFAULT_MAX_FRAME_SIZE)
        .ok_or_else(|| {
            Violation::new(
                Oracle::ResponseFrame,
                format!("a response's size prefix is {size} (largest accepted {DEFAULT_MAX_FRAME_SIZE})"),
            )
        })?;
    let mut frame = vec![0u8; 4 + size];
    frame[..4].copy_from_slice(&prefix);
    match read_until(stream, &mut frame[4..], deadline) {
        Filled::All => Ok(Answer::Frame(frame.into())),
        Filled::None(closed) => Err(torn(4, 4 + size, closed)),
        Filled::Part(read, closed) => Err(torn(4 + read, 4 + size, closed)),
    }
}

fn torn(read: usize, expected: usize, closed: bool) -> Violation {
    let how = if closed {
        "the connection closed"
    } else {
        "nothing more came"
    };
    Violation::new(
        Oracle::ResponseFrame,
        format!("{how} {read} bytes into a {expected}-byte response"),
    )
}

/// How much of a buffer a read filled, and whether the peer closed.
enum Filled {
    All,
    None(bool),
    Part(usize, bool),
}

fn read_until(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Filled {
    let mut read = 0;
    let stop = |read: usize, closed: bool| {
        if read == 0 {
            Filled::None(closed)
        } else {
            Filled::Part(read, closed)
        }
    };
    while read < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return stop(read, false);
        }
        match stream.read(&mut buf[read..]) {
            Ok(0) => return stop(read, true),
            Ok(n) => read += n,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return stop(read, false);
            }
            Err(_) => return stop(read, true),
        }
    }
    Filled::All
}

//! Protocol-state coverage: the distinct (api, version, error code) tuples
//! the responses of a run carried. Edge coverage says which code ran; this
//! says which answers a server gave, so the error paths no input reached
//! (a Produce never refused with DUPLICATE_SEQUENCE_NUMBER, a commit never
//! fenced) stand out.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::{ApiKey, ResponseKind};

use super::oracle::{kafka_error_name, legal_error_codes, response_error_codes};

/// The tuples one run reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolStates {
    tuples: BTreeSet<(i16, i16, i16)>,
}

thread_local! {
    // Set only while `recording` runs: targets pay one check per response.
    static RECORDING: RefCell<Option<ProtocolStates>> = const { RefCell::new(None) };
}

/// Runs `f`, returning what it returns and the tuples of every response
/// the response oracle read meanwhile on this thread.
pub fn recording<T>(f: impl FnOnce() -> T) -> (T, ProtocolStates) {
    RECORDING.with(|recording| *recording.borrow_mut() = Some(ProtocolStates::default()));
    let result = f();
    let states = RECORDING
        .with(|recording| recording.borrow_mut().take())
        .unwrap_or_default();
    (result, states)
}

/// A decoded response to `api` at `version`: its tuples are recorded if a
/// recording runs.
pub fn observe(api: ApiKey, version: i16, response: &ResponseKind) {
    RECORDING.with(|recording| {
        if let Some(states) = recording.borrow_mut().as_mut() {
            states.add(api, version, response);
        }
    });
}

impl ProtocolStates {
    /// Every error code field of `response`, each a tuple.
    pub fn add(&mut self, api: ApiKey, version: i16, response: &ResponseKind) {
        for at in response_error_codes(response) {
            self.tuples.insert((api as i16, version, at.code));
        }
    }

    pub fn merge(&mut self, other: ProtocolStates) {
        self.tuples.extend(other.tuples);
    }

    pub fn len(&self) -> usize {
        self.tuples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tuples.is_empty()
    }

    /// A markdown table, one row per API: the versions answered, the error
    /// codes answered, and the codes Kafka returns for the API that no
    /// response carried.
    pub fn table(&self) -> String {
        let mut by_api: BTreeMap<i16, (BTreeSet<i16>, BTreeSet<i16>)> = BTreeMap::new();
        for &(api, version, code) in &self.tuples {
            let (versions, codes) = by_api.entry(api).or_default();
            versions.insert(version);
            codes.insert(code);
        }
        let name = |code: i16| kafka_error_name(code).unwrap_or_else(|| code.to_string());
        let mut table = String::from(
            "| API | versions answered | tuples | error codes answered | Kafka's codes for the API never answered |\n|---|---|---:|---|---|\n",
        );
        for (api_key, (versions, codes)) in by_api {
            let api = ApiKey::try_from(api_key).ok();
            let tuples = self.tuples.iter().filter(|(a, ..)| *a == api_key).count();
            let missing: Vec<String> = api
                .and_then(legal_error_codes)
                .into_iter()
                .flatten()
                .filter(|code| !codes.contains(code))
                .map(|&code| name(code))
                .collect();
            let versions: Vec<String> = versions.iter().map(|v| v.to_string()).collect();
            let codes: Vec<String> = codes.iter().map(|&code| name(code)).collect();
            table.push_str(&format!(
                "| {} | {} | {tuples} | {} | {} |\n",
                api.map_or_else(|| format!("api key {api_key}"), |api| format!("{api:?}")),
                versions.join(", "),
                codes.join(", "),
                if missing.is_empty() {
                    "-".to_owned()
                } else {
                    missing.join(", ")
                },
            ));
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::ResponseError;
    use kafka_protocol::messages::{HeartbeatResponse, MetadataResponse};

    use super::*;

    #[test]
    fn tuples_are_recorded_only_while_recording_and_tabled_per_api() {
        let fenced = HeartbeatResponse::default().with_error_code(ResponseError::IllegalGeneration.code());
        observe(ApiKey::Heartbeat, 4, &fenced.clone().into());
        let ((), states) = recording(|| {
            observe(ApiKey::Heartbeat, 4, &fenced.clone().into());
            observe(ApiKey::Heartbeat, 4, &fenced.into());
            observe(ApiKey::Heartbeat, 0, &HeartbeatResponse::default().into());
            observe(ApiKey::Metadata, 12, &MetadataResponse::default().into());
        });
        assert_eq!(states.len(), 3);
        let table = states.table();
        assert!(table.contains("| Metadata | 12 | 1 | NONE |"), "{table}");
        let heartbeat = table.lines().find(|line| line.starts_with("| Heartbeat")).unwrap();
        assert!(
            heartbeat.starts_with("| Heartbeat | 0, 4 | 2 | NONE, ILLEGAL_GENERATION | "),
            "{heartbeat}"
        );
        assert!(
            heartbeat.contains("UNKNOWN_MEMBER_ID") && heartbeat.contains("REBALANCE_IN_PROGRESS"),
            "{heartbeat}"
        );
        // Outside a recording nothing is kept.
        let ((), empty) = recording(|| ());
        assert!(empty.is_empty());
    }
}

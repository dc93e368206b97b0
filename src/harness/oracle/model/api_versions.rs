//! What ApiVersions lists is what the server answers: a request of a
//! listed API at a listed version is answered, one outside the list is
//! refused (Kafka closes the connection).

use std::collections::HashMap;

use kafka_protocol::messages::ApiKey;

use super::{At, Invariant, violation};
use crate::harness::oracle::Violation;

#[derive(Debug, Clone, Default)]
pub struct VersionsModel {
    /// The newest ApiVersions answer: versions by api key; `None` before one.
    listed: Option<HashMap<i16, (i16, i16)>>,
}

impl VersionsModel {
    /// An ApiVersions answer listed `versions` (api key, min, max).
    pub fn listed(&mut self, versions: impl IntoIterator<Item = (i16, i16, i16)>) {
        self.listed = Some(versions.into_iter().map(|(key, min, max)| (key, (min, max))).collect());
    }

    /// An undamaged request of `api` at `version` was answered, or
    /// `refused` (its connection closed).
    pub fn answered(&self, at: At, api: ApiKey, version: i16, refused: bool) -> Result<(), Violation> {
        let Some(listed) = &self.listed else {
            return Ok(());
        };
        let is_listed = listed
            .get(&(api as i16))
            .is_some_and(|&(min, max)| (min..=max).contains(&version));
        let range = listed
            .get(&(api as i16))
            .map_or_else(|| "not listed".to_owned(), |(min, max)| format!("listed v{min}-v{max}"));
        match (is_listed, refused) {
            (true, true) => Err(violation(
                Invariant::VersionsListed,
                at,
                &format!("{api:?} v{version}, {range} by ApiVersions"),
                "an answer",
                "the connection closed",
            )),
            (false, false) => Err(violation(
                Invariant::VersionsListed,
                at,
                &format!("{api:?} v{version}, {range} by ApiVersions"),
                "a refusal",
                "an answer",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At(0);

    #[test]
    fn listed_versions_are_answered_and_others_refused() {
        let mut model = VersionsModel::default();
        // Nothing listed yet: nothing to hold the server to.
        model.answered(AT, ApiKey::Fetch, 99, false).unwrap();
        model.listed([(ApiKey::Fetch as i16, 4, 12)]);
        model.answered(AT, ApiKey::Fetch, 12, false).unwrap();
        model.answered(AT, ApiKey::Fetch, 13, true).unwrap();
        let error = model.answered(AT, ApiKey::Fetch, 13, false).unwrap_err();
        assert!(
            error.detail.starts_with(
                "versions-listed at operation #0: Fetch v13, listed v4-v12 by ApiVersions: expected a refusal"
            ),
            "{error}"
        );
        let error = model.answered(AT, ApiKey::Fetch, 4, true).unwrap_err();
        assert!(
            error.detail.contains("expected an answer, got the connection closed"),
            "{error}"
        );
        let error = model.answered(AT, ApiKey::Produce, 9, false).unwrap_err();
        assert!(error.detail.contains("Produce v9, not listed"), "{error}");
    }
}

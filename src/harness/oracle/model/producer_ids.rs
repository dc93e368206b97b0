//! What InitProducerId hands out: a producer id is never given twice,
//! except to the same transactional id, whose epoch then moves forward (so
//! that the producer it replaces is fenced).

use std::collections::HashMap;

use kafka_protocol::protocol::StrBytes;

use super::{At, Invariant, violation};
use crate::harness::oracle::Violation;

/// Kafka gives a transactional id a new producer id only once its epoch
/// would pass this (KIP-360).
const LAST_EPOCH: i16 = i16::MAX - 1;

#[derive(Debug, Clone, Default)]
pub struct ProducerIdModel {
    /// Each id seen handed out, and to which transactional id (`None`: a
    /// producer without one).
    owners: HashMap<i64, Option<StrBytes>>,
    /// A transactional id's newest id and epoch.
    transactional: HashMap<StrBytes, (i64, i16)>,
}

impl ProducerIdModel {
    /// InitProducerId succeeded for `transactional_id` (or none) with
    /// `producer_id` at `epoch`.
    pub fn handed_out(
        &mut self,
        at: At,
        transactional_id: Option<&StrBytes>,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), Violation> {
        let who = transactional_id.map_or_else(
            || "a producer without a transactional id".to_owned(),
            |id| format!("transactional id {}", id.as_str()),
        );
        if producer_id < 0 || epoch < 0 {
            return Err(violation(
                Invariant::ProducerIds,
                at,
                &format!("InitProducerId for {who} succeeded"),
                "a producer id and epoch >= 0",
                format!("producer {producer_id} epoch {epoch}"),
            ));
        }
        if let Some(owner) = self.owners.get(&producer_id)
            && (owner.is_none() || owner.as_ref() != transactional_id)
        {
            let owner = owner.as_ref().map_or_else(
                || "a producer without a transactional id".to_owned(),
                |id| id.to_string(),
            );
            return Err(violation(
                Invariant::ProducerIds,
                at,
                &format!("InitProducerId for {who}"),
                "a producer id never handed out before",
                format!("producer {producer_id}, already given to {owner}"),
            ));
        }
        if let Some(id) = transactional_id {
            if let Some(&(previous_id, previous_epoch)) = self.transactional.get(id) {
                let bumped = producer_id == previous_id && epoch > previous_epoch;
                let renewed = producer_id != previous_id && previous_epoch >= LAST_EPOCH;
                if !(bumped || renewed) {
                    return Err(violation(
                        Invariant::ProducerIds,
                        at,
                        &format!("InitProducerId for {who} again"),
                        format!("producer {previous_id} at an epoch past {previous_epoch}"),
                        format!("producer {producer_id} epoch {epoch}"),
                    ));
                }
            }
            self.transactional.insert(id.clone(), (producer_id, epoch));
        }
        self.owners.insert(producer_id, transactional_id.cloned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: At = At(0);

    fn id(name: &'static str) -> StrBytes {
        StrBytes::from_static_str(name)
    }

    #[test]
    fn fresh_ids_and_bumped_epochs_pass() {
        let mut model = ProducerIdModel::default();
        model.handed_out(AT, None, 0, 0).unwrap();
        model.handed_out(AT, None, 1, 0).unwrap();
        model.handed_out(AT, Some(&id("t")), 2, 0).unwrap();
        model.handed_out(AT, Some(&id("t")), 2, 1).unwrap();
        model.handed_out(AT, Some(&id("t")), 2, 5).unwrap();
    }

    #[test]
    fn an_id_handed_out_twice_is_caught() {
        let mut model = ProducerIdModel::default();
        model.handed_out(AT, None, 4, 0).unwrap();
        let error = model.handed_out(AT, None, 4, 0).unwrap_err();
        assert!(error.detail.starts_with("producer-ids at operation #0"), "{error}");
        assert!(error.detail.contains("already given to a producer without"), "{error}");
        let error = model.handed_out(AT, Some(&id("t")), 4, 0).unwrap_err();
        assert!(
            error.detail.contains("a producer id never handed out before"),
            "{error}"
        );
    }

    #[test]
    fn a_transactional_epoch_that_does_not_move_forward_is_caught() {
        let mut model = ProducerIdModel::default();
        model.handed_out(AT, Some(&id("t")), 3, 2).unwrap();
        let error = model.handed_out(AT, Some(&id("t")), 3, 2).unwrap_err();
        assert!(
            error.detail.contains("expected producer 3 at an epoch past 2"),
            "{error}"
        );
        // A new id only once the epoch is spent.
        assert!(model.handed_out(AT, Some(&id("t")), 9, 0).is_err());
        let mut spent = ProducerIdModel::default();
        spent.handed_out(AT, Some(&id("t")), 3, LAST_EPOCH).unwrap();
        spent.handed_out(AT, Some(&id("t")), 9, 0).unwrap();
    }
}

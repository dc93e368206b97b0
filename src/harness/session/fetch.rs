//! Fetches of one partition or of several partitions of several topics:
//! planned from what the client knows, and read back with each partition
//! checked against the model and the whole answer against its byte limits
//! (KIP-74).

use super::*;

/// A partition budget past any batch a session writes (at most eight small
/// records): a partition with records at its offset and this much room
/// must answer some.
const ROOMY_BUDGET: i64 = 64 * 1024;

/// A Fetch as sent: each partition from its offset, under its limits.
#[derive(Debug)]
pub(super) struct FetchPurpose {
    pub(super) partitions: Vec<(TopicPartition, i64)>,
    pub(super) max_bytes: i32,
    pub(super) partition_max_bytes: i32,
    /// A long poll's: records past the last stable offset are not given.
    pub(super) read_committed: bool,
}

/// What one partition of an answer held, for the limits check.
struct AnsweredPartition {
    tp: TopicPartition,
    fetch_offset: i64,
    /// Bytes of the records field, a partial last batch included.
    bytes: i64,
    /// Bytes of its first batch, whole or not.
    first_batch: i64,
    /// Its offset is below the high watermark (the last stable offset, read
    /// committed) and not below the log start: it has records to give.
    has_records: bool,
}

impl<S: ServerUnderTest + ?Sized> Session<'_, S> {
    /// A Fetch of `partitions`, each from its offset, that answers at once.
    pub(super) fn plan_fetch(
        &self,
        partitions: &[(TopicPartition, i64)],
        max_bytes: i32,
        partition_max_bytes: i32,
        version: VersionChoice,
    ) -> Planned {
        let version = version_of::<FetchRequest>(version);
        let mut topics: Vec<FetchTopic> = Vec::new();
        for (tp, offset) in partitions {
            let partition = FetchPartition::default()
                .with_partition(tp.partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(partition_max_bytes);
            match topics.last_mut() {
                Some(topic) if topic.topic.0 == tp.topic || self.topic_ids.get(&tp.topic) == Some(&topic.topic_id) => {
                    topic.partitions.push(partition);
                }
                _ => {
                    let mut topic = FetchTopic::default().with_partitions(vec![partition]);
                    if version >= 13 {
                        topic.topic_id = self.topic_ids.get(&tp.topic).copied().unwrap_or_default();
                    } else {
                        topic.topic = tp.topic.clone().into();
                    }
                    topics.push(topic);
                }
            }
        }
        let body = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(max_bytes)
            .with_topics(topics);
        Planned {
            api: ApiKey::Fetch,
            version,
            body: body.into(),
            purpose: Purpose::Fetch(FetchPurpose {
                partitions: partitions.to_vec(),
                max_bytes,
                partition_max_bytes,
                read_committed: false,
            }),
        }
    }

    /// Reads a Fetch answer: every partition asked for, then the limits.
    /// The outcome is the first partition's, for the pager.
    pub(super) fn read_fetch(
        &mut self,
        client: usize,
        version: i16,
        fetch: FetchPurpose,
        response: FetchResponse,
    ) -> Result<Option<FetchOutcome>, Violation> {
        if response.error_code != 0 {
            self.note(|| format!("   -> {}", error_name(response.error_code)));
            return Ok(None);
        }
        let mut first = None;
        let mut answered: Vec<AnsweredPartition> = Vec::new();
        // No partition before this one gave records: KIP-74 owes it a batch.
        let mut owed_a_batch = true;
        for topic in &response.responses {
            let topic_name = if version >= 13 {
                self.topic_ids
                    .iter()
                    .find(|(_, id)| **id == topic.topic_id)
                    .map(|(name, _)| name.clone())
            } else {
                Some(topic.topic.0.clone())
            };
            for partition in &topic.partitions {
                let asked = fetch.partitions.iter().find(|(tp, _)| {
                    Some(&tp.topic) == topic_name.as_ref() && tp.partition == partition.partition_index
                });
                let Some((tp, offset)) = asked.cloned() else {
                    self.note(|| format!("   -> partition {} that was not asked for", partition.partition_index));
                    continue;
                };
                let outcome = self.read_fetched_partition(client, version, (&tp, offset), partition, owed_a_batch)?;
                if outcome.is_some() {
                    let read = AnsweredPartition::of(tp.clone(), offset, partition, fetch.read_committed);
                    owed_a_batch &= read.bytes == 0;
                    answered.push(read);
                }
                if tp == fetch.partitions[0].0 {
                    first = outcome;
                }
            }
        }
        if version >= 3 {
            self.check_fetch_limits(&fetch, &answered)?;
        }
        Ok(first)
    }

    /// One partition of a Fetch answer, read as a single-partition fetch
    /// (`owed_a_batch` when none before it gave records): `None` where it
    /// answered an error.
    fn read_fetched_partition(
        &mut self,
        client: usize,
        version: i16,
        (tp, offset): (&TopicPartition, i64),
        partition: &PartitionData,
        owed_a_batch: bool,
    ) -> Result<Option<FetchOutcome>, Violation> {
        let at = self.at();
        if partition.error_code == ResponseError::OffsetOutOfRange.code() {
            self.note(|| format!("   -> {tp} at {offset}: OffsetOutOfRange"));
            self.model.log.out_of_range(at, tp, offset)?;
            return Ok(None);
        }
        if partition.error_code != 0 {
            self.note(|| format!("   -> {tp}: {}", error_name(partition.error_code)));
            return Ok(None);
        }
        if version >= 13 {
            self.check_topic_id(&format!("a Fetch of {tp} by its id"), &tp.topic)?;
        }
        let records = whole_batches(partition.records.clone().unwrap_or_default());
        let batches = decode_record_batches(records, FUZZING_BATCH_LIMITS).map_err(|error| {
            violation(
                Invariant::AcknowledgedFetchable,
                at,
                &format!("records fetched from {tp} at offset {offset}"),
                "record batches that decode",
                error,
            )
        })?;
        let fetched = FetchedPartition {
            fetch_offset: offset,
            high_watermark: partition.high_watermark,
            last_stable_offset: partition.last_stable_offset,
            log_start_offset: (version >= 5).then_some(partition.log_start_offset),
            batches: &batches,
            owed_a_batch,
        };
        let offsets: Vec<i64> = batches
            .iter()
            .flat_map(|b| b.records.iter().map(move |r| b.base_offset + i64::from(r.offset_delta)))
            .collect();
        self.note(|| {
            let described: Vec<String> = batches.iter().map(describe_batch).collect();
            format!(
                "   -> {tp} at {offset}: high watermark {}, {} records{}{}",
                partition.high_watermark,
                offsets.len(),
                if described.is_empty() { "" } else { ": " },
                described.join(", ")
            )
        });
        self.model.log.fetched(at, tp, &fetched)?;
        let state = &mut self.clients[client];
        if let Some(last) = offsets.last() {
            state.positions.insert(tp.clone(), last + 1);
        }
        state.high_watermarks.insert(tp.clone(), partition.high_watermark);
        Ok(Some(FetchOutcome {
            high_watermark: partition.high_watermark,
            offsets,
        }))
    }

    /// KIP-74, as Kafka reads a fetch: partitions in order, each within
    /// the partition limit and what the response limit has left, except
    /// that the first partition with records may pass both by its first
    /// batch, so a consumer always progresses. A later partition with
    /// records left empty must be one the limits explain: not one with room
    /// for any batch. (The first is the model's: `owed_a_batch`.)
    fn check_fetch_limits(&self, fetch: &FetchPurpose, answered: &[AnsweredPartition]) -> Result<(), Violation> {
        if fetch.max_bytes < 0 || fetch.partition_max_bytes < 0 {
            return Ok(());
        }
        let mut left = i64::from(fetch.max_bytes);
        let mut progressed = false;
        for partition in answered {
            let limit = i64::from(fetch.partition_max_bytes).min(left);
            let allowed = if progressed {
                limit
            } else {
                limit.max(partition.first_batch)
            };
            let tp = &partition.tp;
            let offset = partition.fetch_offset;
            if partition.bytes > allowed {
                return Err(violation(
                    Invariant::FetchLimits,
                    self.at(),
                    &format!(
                        "the records of {tp} at {offset} (max_bytes {}, partition_max_bytes {})",
                        fetch.max_bytes, fetch.partition_max_bytes
                    ),
                    format!("at most {allowed} bytes"),
                    partition.bytes,
                ));
            }
            if partition.bytes == 0 && partition.has_records && progressed && limit >= ROOMY_BUDGET {
                return Err(violation(
                    Invariant::FetchLimits,
                    self.at(),
                    &format!("{tp} at {offset}, below its high watermark, with {limit} bytes of room"),
                    "records",
                    "none",
                ));
            }
            progressed |= partition.bytes > 0;
            left = (left - partition.bytes).max(0);
        }
        Ok(())
    }
}

impl AnsweredPartition {
    fn of(tp: TopicPartition, fetch_offset: i64, partition: &PartitionData, read_committed: bool) -> Self {
        let records = partition.records.as_ref();
        let bytes = records.map_or(0, |records| records.len() as i64);
        // Base offset (8 bytes), then the length of what follows it.
        let first_batch = records.and_then(|records| records.get(8..12)).map_or(bytes, |length| {
            12 + i64::from(i32::from_be_bytes([length[0], length[1], length[2], length[3]]))
        });
        let log_start = partition.log_start_offset.max(0);
        let end = if read_committed {
            partition.last_stable_offset
        } else {
            partition.high_watermark
        };
        Self {
            tp,
            fetch_offset,
            bytes,
            first_batch,
            has_records: fetch_offset < end && fetch_offset >= log_start,
        }
    }
}

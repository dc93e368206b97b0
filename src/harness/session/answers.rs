//! Reading a session's answers: what each client learns from them, and
//! what the model checks.

use super::*;

impl<S: ServerUnderTest + ?Sized> Session<'_, S> {
    /// Reads an answer: what the client learns, what the model checks.
    pub(super) fn read(
        &mut self,
        client: usize,
        planned: Planned,
        response: ResponseKind,
    ) -> Result<Option<FetchOutcome>, Violation> {
        let at = self.at();
        let version = planned.version;
        match (planned.purpose, response) {
            (
                Purpose::Produce {
                    tp,
                    batch,
                    acks_all,
                    next_sequence,
                    floor,
                },
                ResponseKind::Produce(response),
            ) => {
                let Some(partition) = response.responses.iter().flat_map(|t| &t.partition_responses).next() else {
                    self.note(|| "   -> no partition answered".to_owned());
                    return Ok(None);
                };
                self.note(|| {
                    format!(
                        "   -> {tp}: {} base offset {}",
                        error_name(partition.error_code),
                        partition.base_offset
                    )
                });
                let written = partition.error_code == 0;
                if written && version >= 13 {
                    self.check_topic_id(&format!("a Produce to {tp} by its id"), &tp.topic)?;
                }
                if written {
                    self.model
                        .log
                        .acknowledged(at, &tp, &batch, (partition.base_offset, floor), acks_all)?;
                }
                self.clients[client].produced(&tp, next_sequence, written);
                Ok(None)
            }
            (Purpose::Fetch(fetch), ResponseKind::Fetch(response)) => self.read_fetch(client, version, fetch, response),
            (Purpose::ListOffsets { tp, timestamp }, ResponseKind::ListOffsets(response)) => {
                for partition in response.topics.iter().flat_map(|t| &t.partitions) {
                    self.note(|| {
                        format!(
                            "   -> {tp} timestamp {timestamp}: {} offset {} (timestamp {})",
                            error_name(partition.error_code),
                            partition.offset,
                            partition.timestamp
                        )
                    });
                    if partition.error_code == 0 {
                        self.model
                            .log
                            .listed(at, &tp, timestamp, partition.offset, partition.timestamp)?;
                        if timestamp == -1 {
                            self.clients[client]
                                .high_watermarks
                                .insert(tp.clone(), partition.offset);
                        }
                    }
                }
                Ok(None)
            }
            (Purpose::Metadata, ResponseKind::Metadata(response)) => {
                self.note(|| {
                    let topics: Vec<String> = response
                        .topics
                        .iter()
                        .map(|t| {
                            let name = t.name.as_ref().map_or("(no name)", |name| name.0.as_str());
                            let error = error_name(t.error_code);
                            format!("{name} {error} {} partitions", t.partitions.len())
                        })
                        .collect();
                    format!("   -> {} topics: {}", topics.len(), topics.join(", "))
                });
                let brokers: Vec<i32> = response.brokers.iter().map(|broker| broker.node_id.0).collect();
                let shown = response.topics.iter().filter(|t| t.error_code == 0);
                for topic in shown {
                    let Some(name) = &topic.name else {
                        continue;
                    };
                    // Topic ids are answered from v10; before, the field is nil.
                    if !topic.topic_id.is_nil() {
                        self.topic_ids.insert(name.0.clone(), topic.topic_id);
                    }
                    let shown = ShownTopic {
                        name: &name.0,
                        id: topic.topic_id,
                        partitions: topic
                            .partitions
                            .iter()
                            .map(|p| (p.partition_index, p.leader_id.0))
                            .collect(),
                    };
                    self.model.topics.metadata(at, &brokers, &shown)?;
                }
                Ok(None)
            }
            (Purpose::CreateTopic { partitions }, ResponseKind::CreateTopics(response)) => {
                for topic in &response.topics {
                    self.note(|| format!("   -> {}: {}", topic.name.as_str(), error_name(topic.error_code)));
                    if topic.error_code == 0 {
                        if !topic.topic_id.is_nil() {
                            self.topic_ids.insert(topic.name.0.clone(), topic.topic_id);
                        }
                        // The partitions created are answered from v5.
                        let answered = (version >= 5).then_some(topic.num_partitions);
                        let (name, id) = (&topic.name.0, topic.topic_id);
                        self.model.topics.created(at, name, id, (partitions, answered))?;
                    }
                }
                Ok(None)
            }
            (Purpose::ApiVersions, ResponseKind::ApiVersions(response)) => {
                self.note(|| {
                    format!(
                        "   -> {} {} APIs listed",
                        error_name(response.error_code),
                        response.api_keys.len()
                    )
                });
                if response.error_code == 0 {
                    let listed = response.api_keys.iter();
                    self.model
                        .versions
                        .listed(listed.map(|api| (api.api_key, api.min_version, api.max_version)));
                }
                Ok(None)
            }
            (Purpose::InitProducerId { transactional }, ResponseKind::InitProducerId(response)) => {
                self.note(|| {
                    format!(
                        "   -> {} producer {} epoch {}",
                        error_name(response.error_code),
                        response.producer_id.0,
                        response.producer_epoch
                    )
                });
                if response.error_code == 0 {
                    let transactional_id = transactional.then(|| self.clients[client].transactional_id.clone());
                    self.model.producer_ids.handed_out(
                        at,
                        transactional_id.as_ref(),
                        response.producer_id.0,
                        response.producer_epoch,
                    )?;
                    let state = &mut self.clients[client];
                    state.producer = Some((response.producer_id.0, response.producer_epoch));
                    state.transactional = transactional;
                    state.next_sequence.clear();
                }
                Ok(None)
            }
            (Purpose::Join { group }, ResponseKind::JoinGroup(response)) => {
                self.note(|| {
                    format!(
                        "   -> {} member {} generation {} leader {} ({} members listed)",
                        error_name(response.error_code),
                        response.member_id.as_str(),
                        response.generation_id,
                        response.leader.as_str(),
                        response.members.len()
                    )
                });
                let state = &mut self.clients[client];
                let membership = state.memberships.entry(group.clone()).or_default();
                membership.rejoin = response.error_code == ResponseError::MemberIdRequired.code();
                if membership.rejoin {
                    membership.member_id = response.member_id;
                    membership.forgotten = false;
                } else if response.error_code == 0 {
                    *membership = Membership {
                        member_id: response.member_id.clone(),
                        generation: response.generation_id,
                        leader: response.leader == response.member_id,
                        members: response.members.iter().map(|m| m.member_id.clone()).collect(),
                        rejoin: false,
                        forgotten: false,
                    };
                    self.model
                        .groups
                        .joined(at, &group, &response.member_id, response.generation_id)?;
                }
                self.clients[client].forgotten(&group, response.error_code);
                Ok(None)
            }
            (
                Purpose::Sync {
                    group,
                    member,
                    generation,
                    assignments,
                },
                ResponseKind::SyncGroup(response),
            ) => {
                self.note(|| {
                    format!(
                        "   -> {} assignment {:?}",
                        error_name(response.error_code),
                        String::from_utf8_lossy(&response.assignment)
                    )
                });
                self.clients[client].forgotten(&group, response.error_code);
                if response.error_code == 0 {
                    self.model
                        .groups
                        .synced(at, &group, &member, generation, &response.assignment)?;
                    if let Some(assignments) = assignments {
                        self.model.groups.assigned(&group, generation, assignments);
                    }
                }
                Ok(None)
            }
            (
                Purpose::Heartbeat {
                    group,
                    member,
                    generation,
                },
                ResponseKind::Heartbeat(response),
            ) => {
                self.note(|| format!("   -> {}", error_name(response.error_code)));
                self.clients[client].forgotten(&group, response.error_code);
                if response.error_code == 0 {
                    self.model.groups.heartbeat(at, &group, &member, generation)?;
                }
                Ok(None)
            }
            (Purpose::Leave { group, member }, ResponseKind::LeaveGroup(response)) => {
                let member_error = response.members.first().map_or(0, |m| m.error_code);
                self.note(|| {
                    format!(
                        "   -> {} / {}",
                        error_name(response.error_code),
                        error_name(member_error)
                    )
                });
                if response.error_code == 0 && member_error == 0 {
                    self.model.groups.left(&group, &member);
                    self.clients[client].forgotten(&group, ResponseError::UnknownMemberId.code());
                }
                Ok(None)
            }
            (
                Purpose::Commit {
                    group,
                    member,
                    generation,
                    tp,
                    offset,
                },
                ResponseKind::OffsetCommit(response),
            ) => {
                for partition in response.topics.iter().flat_map(|t| &t.partitions) {
                    self.note(|| format!("   -> {tp} offset {offset}: {}", error_name(partition.error_code)));
                    if partition.error_code == 0 {
                        self.model
                            .groups
                            .committed(at, &group, (&member, generation), &tp, offset)?;
                    }
                }
                Ok(None)
            }
            (Purpose::OffsetFetch { group, tp }, ResponseKind::OffsetFetch(response)) => {
                let partitions: Vec<(i64, i16)> = if version >= 8 {
                    let groups = response.groups.iter().filter(|g| g.error_code == 0);
                    groups
                        .flat_map(|g| &g.topics)
                        .flat_map(|t| &t.partitions)
                        .map(|p| (p.committed_offset, p.error_code))
                        .collect()
                } else if response.error_code == 0 {
                    let topics = response.topics.iter();
                    topics
                        .flat_map(|t| &t.partitions)
                        .map(|p| (p.committed_offset, p.error_code))
                        .collect()
                } else {
                    Vec::new()
                };
                for (offset, error_code) in partitions {
                    self.note(|| format!("   -> {tp}: {} committed offset {offset}", error_name(error_code)));
                    if error_code == 0 {
                        self.model.groups.offset_read(at, &group, &tp, offset)?;
                    }
                }
                Ok(None)
            }
            (Purpose::Admin(purpose), response) => self.read_admin(purpose, response).map(|()| None),
            (purpose, response) => Err(answered_otherwise(&purpose, &response)),
        }
    }

    /// A request that named `topic` by the id this session knows for it
    /// succeeded: an id the server has shown deleted is never served.
    pub(super) fn check_topic_id(&self, what: &str, topic: &StrBytes) -> Result<(), Violation> {
        match self.topic_ids.get(topic) {
            Some(&id) => self.model.topics.check_not_superseded(self.at(), what, id),
            None => Ok(()),
        }
    }
}
/// The whole batches of a fetched records field: Kafka cuts the field at
/// its byte limit, so the last batch may be partial, and clients drop it.
/// Anything else (a length that cannot be, a batch that does not decode) is
/// left for the decoder to report.
pub(crate) fn whole_batches(records: Bytes) -> Bytes {
    /// Base offset and batch length: the length counts what follows them.
    const LENGTH_END: usize = 12;
    let mut end = 0;
    while let Some(header) = records.get(end..end + LENGTH_END) {
        let length = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let Ok(length) = usize::try_from(length) else {
            return records;
        };
        let next = end + LENGTH_END + length;
        if next > records.len() {
            break;
        }
        end = next;
    }
    records.slice(..end)
}

/// A fetched batch as the transcript shows it: its offsets, its first
/// record's key, and its producer.
pub(super) fn describe_batch(batch: &RecordBatch) -> String {
    let last = batch.base_offset + i64::from(batch.last_offset_delta);
    let key = batch.records.first().and_then(|record| record.key.as_ref());
    let mut described = format!("[{}..={last}", batch.base_offset);
    if let Some(key) = key {
        described.push_str(&format!(" {}", String::from_utf8_lossy(key)));
    }
    if batch.producer_id >= 0 {
        described.push_str(&format!(
            " producer {} epoch {} sequence {}",
            batch.producer_id, batch.producer_epoch, batch.base_sequence
        ));
    }
    described.push(']');
    described
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::input::encode_entries;

    fn batch(records: usize) -> Bytes {
        let entries = vec![(None, Some(Bytes::from_static(b"value"))); records];
        encode_entries(&entries, None, 0, Codec::None).unwrap()
    }

    #[test]
    fn a_partial_last_batch_is_dropped_and_nothing_else() {
        let two = [batch(1), batch(2)].concat();
        let first = batch(1).len();
        for cut in [0, 5, 12, first, first + 11, first + 12, two.len() - 1] {
            let records = Bytes::copy_from_slice(&two[..cut]);
            let kept = if cut >= first { first } else { 0 };
            assert_eq!(whole_batches(records).len(), kept, "cut at {cut}");
        }
        assert_eq!(whole_batches(Bytes::from(two.clone())).len(), two.len());
        // A length that cannot be is the decoder's to report.
        let mut bad = two.clone();
        bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(whole_batches(Bytes::from(bad)).len(), two.len());
    }
}

//! The requests a session's operations send: each planned as a Kafka
//! client would build it from what the client knows.

use super::*;

impl<S: ServerUnderTest + ?Sized> Session<'_, S> {
    /// The request `operation` sends, if it sends one.
    pub(super) fn plan(&mut self, client: usize, operation: &Operation) -> Option<Planned> {
        if let Operation::JoinGroup { group, .. }
        | Operation::SyncGroup { group, .. }
        | Operation::Heartbeat { group, .. }
        | Operation::LeaveGroup { group, .. }
        | Operation::OffsetCommit { group, .. } = operation
        {
            // The server may create the group for it, whatever it answers.
            self.model.groups.named(&name(group.name()));
        }
        let planned = match *operation {
            Operation::Produce(production) => self.plan_produce(client, production),
            Operation::Fetch {
                from,
                offset,
                max_bytes,
                partition_max_bytes,
                wait,
                version,
            } => {
                let tp = TopicPartition::new(&name(from.topic()), from.partition());
                let offset = self.clients[client].offset(&tp, offset);
                let mut planned =
                    self.plan_fetch(&[(tp, offset)], max_bytes.value(), partition_max_bytes.value(), version);
                if let (true, RequestKind::Fetch(fetch), Purpose::Fetch(purpose)) =
                    (wait, &mut planned.body, &mut planned.purpose)
                {
                    // A long poll: answered when records arrive or at the
                    // deadline, read committed as a transactional consumer.
                    fetch.max_wait_ms = 500;
                    fetch.isolation_level = 1;
                    purpose.read_committed = true;
                }
                planned
            }
            Operation::ApiVersions { version } => {
                let version = version_of::<ApiVersionsRequest>(version);
                let body = ApiVersionsRequest::default()
                    .with_client_software_name(name("kafka-fuzz"))
                    .with_client_software_version(name(env!("CARGO_PKG_VERSION")));
                Planned {
                    api: ApiKey::ApiVersions,
                    version,
                    body: body.into(),
                    purpose: Purpose::ApiVersions,
                }
            }
            Operation::FetchMany {
                partitions,
                offset,
                max_bytes,
                partition_max_bytes,
                version,
            } => {
                let partitions: Vec<(TopicPartition, i64)> = partitions
                    .partitions()
                    .into_iter()
                    .map(|choice| {
                        let tp = TopicPartition::new(&name(choice.topic()), choice.partition());
                        let offset = self.clients[client].offset(&tp, offset);
                        (tp, offset)
                    })
                    .collect();
                self.plan_fetch(&partitions, max_bytes.value(), partition_max_bytes.value(), version)
            }
            Operation::ListOffsets { of, timestamp, version } => {
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let timestamp = match timestamp {
                    TimestampChoice::Latest => -1,
                    TimestampChoice::Earliest => -2,
                    TimestampChoice::MaxTimestamp => -3,
                    TimestampChoice::AfterStart(seconds) => REFERENCE_START_MS + 1000 * i64::from(seconds),
                    TimestampChoice::Exactly(timestamp) => timestamp,
                };
                let version = version_of::<ListOffsetsRequest>(version);
                let partition = ListOffsetsPartition::default()
                    .with_partition_index(tp.partition)
                    .with_timestamp(timestamp);
                let body = ListOffsetsRequest::default()
                    .with_replica_id((-1).into())
                    .with_topics(vec![
                        ListOffsetsTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partitions(vec![partition]),
                    ]);
                Planned {
                    api: ApiKey::ListOffsets,
                    version,
                    body: body.into(),
                    purpose: Purpose::ListOffsets { tp, timestamp },
                }
            }
            Operation::Metadata {
                topic,
                allow_auto_create,
                version,
            } => {
                let version = version_of::<MetadataRequest>(version);
                let topics = match topic {
                    Some(topic) => Some(vec![
                        MetadataRequestTopic::default().with_name(Some(name(topic.topic()).into())),
                    ]),
                    // v0 asks for every topic with an empty list, later
                    // versions with null.
                    None if version == 0 => Some(Vec::new()),
                    None => None,
                };
                let body = MetadataRequest::default()
                    .with_topics(topics)
                    .with_allow_auto_topic_creation(allow_auto_create || version < 4);
                Planned {
                    api: ApiKey::Metadata,
                    version,
                    body: body.into(),
                    purpose: Purpose::Metadata,
                }
            }
            Operation::CreateTopic {
                topic,
                partitions,
                version,
            } => {
                let partitions = 1 + i32::from(partitions % 4);
                let created = CreatableTopic::default()
                    .with_name(name(topic.topic()).into())
                    .with_num_partitions(partitions)
                    .with_replication_factor(1);
                Planned {
                    api: ApiKey::CreateTopics,
                    version: version_of::<CreateTopicsRequest>(version),
                    body: CreateTopicsRequest::default()
                        .with_topics(vec![created])
                        .with_timeout_ms(1000)
                        .into(),
                    purpose: Purpose::CreateTopic { partitions },
                }
            }
            Operation::InitProducerId { transactional, version } => {
                let version = version_of::<InitProducerIdRequest>(version);
                let mut body = InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000);
                if transactional {
                    body.transactional_id = Some(self.clients[client].transactional_id.clone().into());
                    let state = &self.clients[client];
                    if version >= 3 && state.transactional {
                        // Names the id and epoch it had, so a re-init bumps
                        // the epoch rather than being fenced.
                        if let Some((id, epoch)) = state.producer {
                            body.producer_id = id.into();
                            body.producer_epoch = epoch;
                        }
                    }
                }
                Planned {
                    api: ApiKey::InitProducerId,
                    version,
                    body: body.into(),
                    purpose: Purpose::InitProducerId { transactional },
                }
            }
            Operation::JoinGroup {
                group,
                session_timeout,
                version,
            } => self.plan_join(client, &name(group.name()), session_timeout, version),
            Operation::SyncGroup {
                group,
                generation,
                version,
            } => {
                let group = name(group.name());
                let membership = self.clients[client].membership(&group);
                let generation = self.clients[client].generation(&group, generation);
                let version = version_of::<SyncGroupRequest>(version);
                // A leader assigns for the generation it leads, not another.
                let leads = membership.leader && membership.generation == generation;
                let assignments: Option<HashMap<StrBytes, Bytes>> = leads.then(|| {
                    let members = membership.members.iter();
                    members
                        .map(|member| {
                            let assignment = format!("{}@{generation}", member.as_str());
                            (member.clone(), Bytes::from(assignment))
                        })
                        .collect()
                });
                let mut body = SyncGroupRequest::default()
                    .with_group_id(group.clone().into())
                    .with_generation_id(generation)
                    .with_member_id(membership.member_id.clone());
                if let Some(assignments) = &assignments {
                    let mut sorted: Vec<_> = assignments.iter().collect();
                    sorted.sort();
                    body.assignments = sorted
                        .into_iter()
                        .map(|(member, assignment)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(member.clone())
                                .with_assignment(assignment.clone())
                        })
                        .collect();
                }
                if version >= 5 {
                    body.protocol_type = Some(name(PROTOCOL_TYPE));
                    body.protocol_name = Some(name(PROTOCOL_NAME));
                }
                Planned {
                    api: ApiKey::SyncGroup,
                    version,
                    body: body.into(),
                    purpose: Purpose::Sync {
                        group,
                        member: membership.member_id,
                        generation,
                        assignments,
                    },
                }
            }
            Operation::Heartbeat {
                group,
                generation,
                version,
            } => {
                let group = name(group.name());
                let member = self.clients[client].membership(&group).member_id;
                let generation = self.clients[client].generation(&group, generation);
                Planned {
                    api: ApiKey::Heartbeat,
                    version: version_of::<HeartbeatRequest>(version),
                    body: HeartbeatRequest::default()
                        .with_group_id(group.clone().into())
                        .with_generation_id(generation)
                        .with_member_id(member.clone())
                        .into(),
                    purpose: Purpose::Heartbeat {
                        group,
                        member,
                        generation,
                    },
                }
            }
            Operation::LeaveGroup { group, version } => {
                let group = name(group.name());
                let member = self.clients[client].membership(&group).member_id;
                let version = version_of::<LeaveGroupRequest>(version);
                let mut body = LeaveGroupRequest::default().with_group_id(group.clone().into());
                if version >= 3 {
                    body.members = vec![MemberIdentity::default().with_member_id(member.clone())];
                } else {
                    body.member_id = member.clone();
                }
                Planned {
                    api: ApiKey::LeaveGroup,
                    version,
                    body: body.into(),
                    purpose: Purpose::Leave { group, member },
                }
            }
            Operation::OffsetCommit {
                group,
                of,
                offset,
                generation,
                version,
            } => {
                let group = name(group.name());
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let offset = self.clients[client].offset(&tp, offset);
                let generation = self.clients[client].generation(&group, generation);
                let member = if generation < 0 {
                    StrBytes::default()
                } else {
                    self.clients[client].membership(&group).member_id
                };
                let partition = OffsetCommitRequestPartition::default()
                    .with_partition_index(tp.partition)
                    .with_committed_offset(offset)
                    .with_committed_metadata(Some(StrBytes::default()));
                let body = OffsetCommitRequest::default()
                    .with_group_id(group.clone().into())
                    .with_generation_id_or_member_epoch(generation)
                    .with_member_id(member.clone())
                    .with_topics(vec![
                        OffsetCommitRequestTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partitions(vec![partition]),
                    ]);
                Planned {
                    api: ApiKey::OffsetCommit,
                    version: version_of::<OffsetCommitRequest>(version),
                    body: body.into(),
                    purpose: Purpose::Commit {
                        group,
                        member,
                        generation,
                        tp,
                        offset,
                    },
                }
            }
            Operation::OffsetFetch { group, of, version } => {
                let group = name(group.name());
                let tp = TopicPartition::new(&name(of.topic()), of.partition());
                let version = version_of::<OffsetFetchRequest>(version);
                let mut body = OffsetFetchRequest::default();
                if version >= 8 {
                    let topics = OffsetFetchRequestTopics::default()
                        .with_name(tp.topic.clone().into())
                        .with_partition_indexes(vec![tp.partition]);
                    body.groups = vec![
                        OffsetFetchRequestGroup::default()
                            .with_group_id(group.clone().into())
                            .with_topics(Some(vec![topics])),
                    ];
                } else {
                    body.group_id = group.clone().into();
                    body.topics = Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(tp.topic.clone().into())
                            .with_partition_indexes(vec![tp.partition]),
                    ]);
                }
                Planned {
                    api: ApiKey::OffsetFetch,
                    version,
                    body: body.into(),
                    purpose: Purpose::OffsetFetch { group, tp },
                }
            }
            Operation::DeleteTopic { topic, by_id, version } => self.plan_delete_topic(topic, by_id, version),
            Operation::CreatePartitions { topic, count, version } => {
                Self::plan_create_partitions(topic, count, version)
            }
            Operation::DeleteRecords { of, before, version } => self.plan_delete_records(client, of, before, version),
            Operation::AlterConfig {
                topic,
                change,
                incremental,
                version,
            } => self.plan_alter_config(topic, change, incremental, version),
            Operation::DescribeGroup { group, version } => Self::plan_describe_group(group, version),
            Operation::ListGroups { version } => Self::plan_list_groups(version),
            Operation::DeleteGroup { group, version } => Self::plan_delete_group(group, version),
            Operation::OffsetDelete { group, of, version } => Self::plan_offset_delete(group, of, version),
            Operation::Consume { .. }
            | Operation::Malformed { .. }
            | Operation::Disconnect
            | Operation::AdvanceClock { .. }
            | Operation::Repeat { .. } => {
                return None;
            }
        };
        Some(planned)
    }

    fn plan_produce(&mut self, client: usize, production: Production) -> Planned {
        let Production {
            to,
            acks,
            records,
            codec,
            mode,
            version,
        } = production;
        let version = version_of::<ProduceRequest>(version);
        let state = &mut self.clients[client];
        let retried = match mode {
            ProduceMode::Retry(back) if !state.sent.is_empty() => {
                let back = usize::from(back) % state.sent.len();
                state.sent.iter().rev().nth(back).cloned()
            }
            _ => None,
        };
        let (sent, next_sequence) = match retried {
            Some(sent) => (sent, None),
            None => {
                let tp = TopicPartition::new(&name(to.topic()), to.partition());
                let count = 1 + usize::from(records % 8);
                let next = state.next_sequence.get(&tp).copied().unwrap_or(0);
                let first_sequence = match mode {
                    ProduceMode::GappedSequence(gap) => next.wrapping_add(1 + i32::from(gap % 4)),
                    _ => next,
                };
                let producer = match (mode, state.producer) {
                    (ProduceMode::Plain, _) | (_, None) => None,
                    (_, Some((id, epoch))) => Some((id, epoch, first_sequence)),
                };
                let advance = producer.map(|_| first_sequence.wrapping_add(count as i32));
                let first = state.records_produced;
                state.records_produced += count;
                let entries: Vec<_> = (first..first + count)
                    .map(|i| {
                        let key = Bytes::from(format!("c{client}-{i}"));
                        let value = Bytes::from(format!("value-{i}-{}", "x".repeat(i % 16)));
                        (Some(key), Some(value))
                    })
                    .collect();
                let first_timestamp = REFERENCE_START_MS + 1000 * self.step as i64;
                let codec = Codec::ALL[usize::from(codec) % Codec::ALL.len()];
                let bytes = encode_entries(&entries, producer, first_timestamp, codec)
                    .expect("a session's batches are small and well-formed");
                let batch = ProducedBatch {
                    producer: producer.map(|(producer_id, epoch, first_sequence)| ProducerSequence {
                        producer_id,
                        epoch,
                        first_sequence,
                    }),
                    records: (0..)
                        .zip(entries)
                        .map(|(i, (key, value))| ProducedRecord {
                            key,
                            value,
                            timestamp: first_timestamp + 1000 * i,
                        })
                        .collect(),
                };
                let sent = SentBatch {
                    tp,
                    records: bytes,
                    batch,
                };
                if state.sent.len() == REMEMBERED_BATCHES {
                    state.sent.pop_front();
                }
                state.sent.push_back(sent.clone());
                (sent, advance)
            }
        };
        let mut topic = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(sent.tp.partition)
                .with_records(Some(sent.records.clone())),
        ]);
        if version >= 13 {
            topic.topic_id = self.topic_ids.get(&sent.tp.topic).copied().unwrap_or_default();
        } else {
            topic.name = sent.tp.topic.clone().into();
        }
        self.model.log.attempted(&sent.tp, &sent.batch);
        Planned {
            api: ApiKey::Produce,
            version,
            body: ProduceRequest::default()
                .with_acks(acks.value())
                .with_timeout_ms(1000)
                .with_topic_data(vec![topic])
                .into(),
            purpose: Purpose::Produce {
                floor: self.model.log.acknowledged_end(&sent.tp),
                tp: sent.tp,
                batch: sent.batch,
                acks_all: acks == Acks::All,
                next_sequence,
            },
        }
    }

    fn plan_join(&self, client: usize, group: &StrBytes, timeout: SessionTimeout, version: VersionChoice) -> Planned {
        let version = version_of::<JoinGroupRequest>(version);
        let membership = self.clients[client].membership(group);
        let member = if membership.forgotten {
            StrBytes::default()
        } else {
            membership.member_id
        };
        let protocol = JoinGroupRequestProtocol::default()
            .with_name(name(PROTOCOL_NAME))
            .with_metadata(Bytes::from_static(b"topic-a,topic-b"));
        let mut body = JoinGroupRequest::default()
            .with_group_id(group.clone().into())
            .with_session_timeout_ms(timeout.ms())
            .with_member_id(member)
            .with_protocol_type(name(PROTOCOL_TYPE))
            .with_protocols(vec![protocol]);
        if version >= 1 {
            body.rebalance_timeout_ms = timeout.ms();
        }
        Planned {
            api: ApiKey::JoinGroup,
            version,
            body: body.into(),
            purpose: Purpose::Join { group: group.clone() },
        }
    }
}

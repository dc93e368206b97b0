//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs of topics
//! (`topic_config`), and DescribeConfigs of this broker, as Kafka answers
//! them. A topic's new overrides go through the metadata log, as Kafka's
//! ConfigRecords do.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};
use kafka_protocol::protocol::StrBytes;

use super::dispatcher::Broker;
use super::metadata::MetadataRecord;
use super::topic_config::{self, ConfigRefusal, ConfigType, DescribedConfig, TopicConfig};

/// Kafka's `ConfigResource.Type`.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Kafka's `ConfigSource`.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// IncrementalAlterConfigs operations.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn string(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// A resource's error code and message, as both alter responses carry them.
fn error_fields(outcome: Result<(), ConfigRefusal>) -> (i16, Option<StrBytes>) {
    outcome.err().map_or((0, None), |(error, message)| {
        (error.code(), Some(StrBytes::from_string(message)))
    })
}

fn invalid_request(message: &str) -> ConfigRefusal {
    (ResponseError::InvalidRequest, message.to_owned())
}

/// One config entry of a DescribeConfigs answer.
fn described(config: DescribedConfig, source: i8, synonyms: bool, version: i16) -> DescribeConfigsResourceResult {
    let value = Some(string(&config.value));
    let entry = DescribeConfigsResourceResult::default()
        .with_name(string(config.name))
        .with_value(value.clone())
        .with_config_source(source)
        .with_config_type(if version >= 3 { config.kind as i8 } else { 0 });
    if synonyms {
        entry.with_synonyms(vec![
            DescribeConfigsSynonym::default()
                .with_name(string(config.name))
                .with_value(value)
                .with_source(source),
        ])
    } else {
        entry
    }
}

impl Broker {
    pub(super) fn describe_configs(&self, request: DescribeConfigsRequest, version: i16) -> DescribeConfigsResponse {
        let synonyms = version >= 1 && request.include_synonyms;
        let results = request
            .resources
            .into_iter()
            .map(|resource| {
                let result = DescribeConfigsResult::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name.clone());
                let keys: Option<Vec<String>> = resource
                    .configuration_keys
                    .map(|keys| keys.iter().map(|key| key.to_string()).collect());
                match self.configs_of(resource.resource_type, &resource.resource_name, keys.as_deref()) {
                    Ok(configs) => result.with_configs(
                        configs
                            .into_iter()
                            .map(|(config, source)| described(config, source, synonyms, version))
                            .collect(),
                    ),
                    Err((error, message)) => result
                        .with_error_code(error.code())
                        .with_error_message(Some(StrBytes::from_string(message))),
                }
            })
            .collect();
        DescribeConfigsResponse::default().with_results(results)
    }

    /// The configs of one resource, each with its source.
    fn configs_of(
        &self,
        resource_type: i8,
        name: &StrBytes,
        keys: Option<&[String]>,
    ) -> Result<Vec<(DescribedConfig, i8)>, ConfigRefusal> {
        let (config, overridden_source, default_source) = match resource_type {
            TOPIC => {
                let topic = self.topics.get(name).ok_or_else(|| {
                    (
                        ResponseError::UnknownTopicOrPartition,
                        format!("Topic {} does not exist.", name.as_str()),
                    )
                })?;
                (topic.config.clone(), DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG)
            }
            // The broker's own settings: the defaults its topics inherit.
            BROKER if name.is_empty() || name.as_str() == self.config.node_id.to_string() => {
                (TopicConfig::default(), STATIC_BROKER_CONFIG, STATIC_BROKER_CONFIG)
            }
            BROKER => return Err(invalid_request(&format!("Unexpected broker id {}", name.as_str()))),
            other => return Err(invalid_request(&format!("Unsupported resource type {other}"))),
        };
        Ok(config
            .describe(&self.config, keys)
            .into_iter()
            .map(|entry| {
                let source = if entry.overridden {
                    overridden_source
                } else {
                    default_source
                };
                (entry, source)
            })
            .collect())
    }

    pub(super) fn alter_configs(&mut self, request: AlterConfigsRequest) -> AlterConfigsResponse {
        let responses = request
            .resources
            .into_iter()
            .map(|resource| {
                // AlterConfigs replaces every override with those given.
                let outcome = resource
                    .configs
                    .iter()
                    .map(|config| match &config.value {
                        Some(value) => Ok((config.name.to_string(), value.to_string())),
                        None => Err((
                            ResponseError::InvalidConfig,
                            format!("Null value not supported for topic configs: {}", config.name.as_str()),
                        )),
                    })
                    .collect::<Result<BTreeMap<_, _>, _>>()
                    .and_then(|overrides| {
                        self.set_overrides(
                            resource.resource_type,
                            &resource.resource_name,
                            overrides,
                            request.validate_only,
                        )
                    });
                let (code, message) = error_fields(outcome);
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect();
        AlterConfigsResponse::default().with_responses(responses)
    }

    pub(super) fn incremental_alter_configs(
        &mut self,
        request: IncrementalAlterConfigsRequest,
    ) -> IncrementalAlterConfigsResponse {
        let responses = request
            .resources
            .into_iter()
            .map(|resource| {
                let outcome = self
                    .altered_overrides(resource.resource_type, &resource.resource_name, &resource.configs)
                    .and_then(|overrides| {
                        self.set_overrides(
                            resource.resource_type,
                            &resource.resource_name,
                            overrides,
                            request.validate_only,
                        )
                    });
                let (code, message) = error_fields(outcome);
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name)
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect();
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    }

    /// A topic's overrides after IncrementalAlterConfigs' operations.
    fn altered_overrides(
        &self,
        resource_type: i8,
        name: &StrBytes,
        configs: &[kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig],
    ) -> Result<BTreeMap<String, String>, ConfigRefusal> {
        let topic = self.topic_resource(resource_type, name)?;
        let mut overrides = topic.config.overrides().clone();
        for (index, config) in configs.iter().enumerate() {
            let key = config.name.to_string();
            if configs[..index].iter().any(|earlier| earlier.name == config.name) {
                return Err(invalid_request(&format!("Duplicate config key {key}")));
            }
            let value = config.value.as_ref().map(|value| value.to_string());
            let list = || -> Result<Vec<String>, ConfigRefusal> {
                if topic_config::kind(&key)? != ConfigType::List {
                    return Err((
                        ResponseError::InvalidConfig,
                        format!("Config {key} is not a list: it cannot be appended to or subtracted from"),
                    ));
                }
                let current = overrides.get(&key).cloned().unwrap_or_default();
                Ok(current
                    .split(',')
                    .filter(|item| !item.is_empty())
                    .map(str::to_owned)
                    .collect())
            };
            match (config.config_operation, value) {
                (SET, Some(value)) => {
                    overrides.insert(key, value);
                }
                (DELETE, _) => {
                    topic_config::kind(&key)?;
                    overrides.remove(&key);
                }
                (APPEND, Some(value)) => {
                    let mut items = list()?;
                    for item in value.split(',') {
                        if !items.iter().any(|have| have == item) {
                            items.push(item.to_owned());
                        }
                    }
                    overrides.insert(key, items.join(","));
                }
                (SUBTRACT, Some(value)) => {
                    let removed: Vec<&str> = value.split(',').collect();
                    let items: Vec<String> = list()?
                        .into_iter()
                        .filter(|item| !removed.contains(&item.as_str()))
                        .collect();
                    overrides.insert(key, items.join(","));
                }
                (SET | APPEND | SUBTRACT, None) => {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Null value not supported for {key}"),
                    ));
                }
                (operation, _) => return Err(invalid_request(&format!("Unknown operation {operation}"))),
            }
        }
        Ok(overrides)
    }

    /// The topic a config change names; the broker's own configs are static.
    fn topic_resource(&self, resource_type: i8, name: &StrBytes) -> Result<&super::topics::Topic, ConfigRefusal> {
        match resource_type {
            TOPIC => self.topics.get(name).ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("Topic {} does not exist.", name.as_str()),
                )
            }),
            BROKER => Err((
                ResponseError::InvalidRequest,
                "This broker's configs are static: none can be altered.".to_owned(),
            )),
            other => Err(invalid_request(&format!("Unsupported resource type {other}"))),
        }
    }

    /// Checks every override and, unless only validating, proposes them as
    /// the topic's whole override set.
    fn set_overrides(
        &mut self,
        resource_type: i8,
        name: &StrBytes,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ConfigRefusal> {
        let id = self.topic_resource(resource_type, name)?.id;
        for (key, value) in &overrides {
            topic_config::check(key, value)?;
        }
        if !validate_only {
            self.propose(MetadataRecord::AlterTopicConfig {
                id: id.as_u128(),
                overrides,
            });
        }
        Ok(())
    }
}

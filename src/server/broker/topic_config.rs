//! Topic configs: the overrides a topic was created or altered with, the
//! values in force, and Kafka's checks of names and values (`LogConfig`).
//! The broker honours `retention.ms`, `max.message.bytes` and
//! `cleanup.policy`; the other names Kafka knows are kept and described.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;

use super::config::BrokerConfig;

pub const RETENTION_MS: &str = "retention.ms";
pub const MAX_MESSAGE_BYTES: &str = "max.message.bytes";
pub const CLEANUP_POLICY: &str = "cleanup.policy";

/// Kafka's `ConfigType`, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    List = 7,
}

/// A topic config Kafka knows: its type, the least value it takes (for
/// numbers), the values it takes (for strings and lists), and its default
/// on this broker.
struct Known {
    name: &'static str,
    kind: ConfigType,
    at_least: i64,
    one_of: &'static [&'static str],
    default: fn(&BrokerConfig) -> String,
}

const ANY: &[&str] = &[];

/// Every topic config accepted, by name.
const KNOWN: &[Known] = &[
    Known {
        name: CLEANUP_POLICY,
        kind: ConfigType::List,
        at_least: 0,
        one_of: &["delete", "compact"],
        default: |_| "delete".to_owned(),
    },
    Known {
        name: "compression.type",
        kind: ConfigType::String,
        at_least: 0,
        one_of: &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
        default: |_| "producer".to_owned(),
    },
    Known {
        name: "delete.retention.ms",
        kind: ConfigType::Long,
        at_least: 0,
        one_of: ANY,
        default: |_| "86400000".to_owned(),
    },
    Known {
        name: MAX_MESSAGE_BYTES,
        kind: ConfigType::Int,
        at_least: 0,
        one_of: ANY,
        default: |broker| broker.max_message_bytes.unwrap_or(i32::MAX as usize).to_string(),
    },
    Known {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        at_least: 0,
        one_of: &["CreateTime", "LogAppendTime"],
        default: |_| "CreateTime".to_owned(),
    },
    Known {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        at_least: 1,
        one_of: ANY,
        default: |broker| broker.min_insync_replicas.to_string(),
    },
    Known {
        name: "retention.bytes",
        kind: ConfigType::Long,
        at_least: -1,
        one_of: ANY,
        default: |_| "-1".to_owned(),
    },
    // Infinite by default here (Kafka's is 7 days): clients write any
    // timestamp, and records vanishing by age are a topic's choice.
    Known {
        name: RETENTION_MS,
        kind: ConfigType::Long,
        at_least: -1,
        one_of: ANY,
        default: |_| "-1".to_owned(),
    },
    Known {
        name: "segment.bytes",
        kind: ConfigType::Int,
        at_least: 14,
        one_of: ANY,
        default: |_| "1073741824".to_owned(),
    },
    Known {
        name: "segment.ms",
        kind: ConfigType::Long,
        at_least: 1,
        one_of: ANY,
        default: |_| "604800000".to_owned(),
    },
    Known {
        name: "unclean.leader.election.enable",
        kind: ConfigType::Boolean,
        at_least: 0,
        one_of: ANY,
        default: |_| "false".to_owned(),
    },
];

/// A refused config: Kafka's error and message.
pub type ConfigRefusal = (ResponseError, String);

fn known(name: &str) -> Result<&'static Known, ConfigRefusal> {
    KNOWN.iter().find(|known| known.name == name).ok_or_else(|| {
        (
            ResponseError::InvalidConfig,
            format!("Unknown topic config name: {name}"),
        )
    })
}

/// Kafka's check of one value for `name`.
pub fn check(name: &str, value: &str) -> Result<(), ConfigRefusal> {
    let known = known(name)?;
    let invalid = |reason: &str| {
        Err((
            ResponseError::InvalidConfig,
            format!("Invalid value {value} for configuration {name}: {reason}"),
        ))
    };
    match known.kind {
        ConfigType::Boolean if !["true", "false"].contains(&value.to_ascii_lowercase().as_str()) => {
            invalid("Expected value to be either true or false")
        }
        ConfigType::Int | ConfigType::Long => {
            let parsed = if known.kind == ConfigType::Int {
                value.trim().parse::<i32>().map(i64::from).ok()
            } else {
                value.trim().parse::<i64>().ok()
            };
            match parsed {
                None => invalid("Not a number of the right size"),
                Some(number) if number < known.at_least => {
                    invalid(&format!("Value must be at least {}", known.at_least))
                }
                Some(_) => Ok(()),
            }
        }
        ConfigType::String if !known.one_of.contains(&value) => {
            invalid(&format!("String must be one of: {}", known.one_of.join(", ")))
        }
        ConfigType::List => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.iter().any(|item| !known.one_of.contains(item)) {
                invalid(&format!("List items must be among: {}", known.one_of.join(", ")))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The type of a known config.
pub fn kind(name: &str) -> Result<ConfigType, ConfigRefusal> {
    known(name).map(|known| known.kind)
}

/// A topic's overrides, checked, and the three values the broker honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    retention_ms: Option<i64>,
    max_message_bytes: Option<usize>,
    compacted: bool,
}

/// One config as DescribeConfigs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConfig {
    pub name: &'static str,
    pub value: String,
    /// Set on the topic rather than the broker's default.
    pub overridden: bool,
    pub kind: ConfigType,
}

impl TopicConfig {
    /// Overrides that each passed `check`.
    pub fn new(overrides: BTreeMap<String, String>) -> Self {
        let number = |name: &str| overrides.get(name).and_then(|value| value.trim().parse::<i64>().ok());
        Self {
            retention_ms: number(RETENTION_MS).filter(|&ms| ms >= 0),
            max_message_bytes: number(MAX_MESSAGE_BYTES).and_then(|bytes| usize::try_from(bytes).ok()),
            compacted: overrides
                .get(CLEANUP_POLICY)
                .is_some_and(|policy| policy.split(',').any(|item| item.trim() == "compact")),
            overrides,
        }
    }

    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// How long records are kept (`retention.ms`); `None`: for ever.
    pub fn retention_ms(&self) -> Option<i64> {
        self.retention_ms
    }

    /// The largest batch a Produce may write here.
    pub fn max_message_bytes(&self, broker: &BrokerConfig) -> Option<usize> {
        self.max_message_bytes.or(broker.max_message_bytes)
    }

    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub fn compacted(&self) -> bool {
        self.compacted
    }

    /// Whether records may be deleted below an offset (a policy without
    /// `delete` refuses DeleteRecords).
    pub fn deletable(&self) -> bool {
        self.overrides
            .get(CLEANUP_POLICY)
            .is_none_or(|policy| policy.split(',').any(|item| item.trim() == "delete"))
    }

    /// Every known config, or those named in `keys`, by name.
    pub fn describe(&self, broker: &BrokerConfig, keys: Option<&[String]>) -> Vec<DescribedConfig> {
        KNOWN
            .iter()
            .filter(|known| keys.is_none_or(|keys| keys.iter().any(|key| key == known.name)))
            .map(|known| {
                let set = self.overrides.get(known.name);
                DescribedConfig {
                    name: known.name,
                    value: set.cloned().unwrap_or_else(|| (known.default)(broker)),
                    overridden: set.is_some(),
                    kind: known.kind,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        for (name, value) in [
            (RETENTION_MS, "-1"),
            (RETENTION_MS, "60000"),
            (MAX_MESSAGE_BYTES, "1024"),
            (CLEANUP_POLICY, "compact,delete"),
            ("unclean.leader.election.enable", "TRUE"),
            ("compression.type", "zstd"),
        ] {
            assert_eq!(check(name, value), Ok(()), "{name}={value}");
        }
        for (name, value) in [
            (RETENTION_MS, "-2"),
            (RETENTION_MS, "soon"),
            (MAX_MESSAGE_BYTES, "99999999999"),
            (CLEANUP_POLICY, "compact,shred"),
            ("unclean.leader.election.enable", "yes"),
            ("compression.type", "brotli"),
            ("no.such.config", "1"),
        ] {
            let (error, message) = check(name, value).unwrap_err();
            assert_eq!(error, ResponseError::InvalidConfig, "{name}={value}");
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn the_honoured_values_follow_the_overrides() {
        let config = TopicConfig::new(BTreeMap::from([
            (RETENTION_MS.to_owned(), "1000".to_owned()),
            (MAX_MESSAGE_BYTES.to_owned(), "100".to_owned()),
            (CLEANUP_POLICY.to_owned(), "compact".to_owned()),
        ]));
        let broker = BrokerConfig::default();
        assert_eq!(config.retention_ms(), Some(1000));
        assert_eq!(config.max_message_bytes(&broker), Some(100));
        assert!(config.compacted() && !config.deletable());
        let plain = TopicConfig::default();
        assert_eq!(
            (plain.retention_ms(), plain.compacted(), plain.deletable()),
            (None, false, true)
        );
        let described = config.describe(&broker, Some(&[RETENTION_MS.to_owned(), "segment.ms".to_owned()]));
        assert_eq!(described.len(), 2);
        assert!(described[0].overridden && !described[1].overridden);
    }
}

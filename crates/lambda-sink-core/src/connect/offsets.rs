//! A sink connector's offsets as Kafka Connect's offsets API (KIP-875)
//! shows and takes them: `{"partition": {"kafka_topic", "kafka_partition"},
//! "offset": {"kafka_offset"}}`.

use crate::{Invalid, invalid};
use serde_json::{Value, json};

/// One partition's committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The next offset the group will read.
    pub offset: i64,
}

impl PartitionOffset {
    /// Parses one item of an alter request (`PATCH .../offsets`); numbers
    /// may be given as strings.
    ///
    /// # Errors
    /// What is missing or wrong, with the shape expected.
    pub fn parse(item: &Value) -> Result<Self, Invalid> {
        let number = |v: &Value| -> Option<i64> {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        let p = &item["partition"];
        let topic = p["kafka_topic"].as_str().ok_or_else(|| {
            invalid!(
                "partition {p} has no kafka_topic string; a sink's partition is {{\"kafka_topic\": \"t\", \"kafka_partition\": 0}}"
            )
        })?;
        let partition = number(&p["kafka_partition"])
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0)
            .ok_or_else(|| invalid!("partition {p} has no valid kafka_partition"))?;
        if item["offset"].is_null() {
            return Err(invalid!(
                "offset null (resetting one partition) is not supported; give {{\"kafka_offset\": N}} for {topic}-{partition}, or DELETE /connectors/{{name}}/offsets to reset every partition"
            ));
        }
        let offset = number(&item["offset"]["kafka_offset"])
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                invalid!(
                    "offset {} of {topic}-{partition} has no valid kafka_offset (a whole number, 0 or more)",
                    item["offset"]
                )
            })?;
        Ok(Self {
            topic: topic.to_string(),
            partition,
            offset,
        })
    }

    /// Its item in a `GET .../offsets` answer.
    pub fn to_json(&self) -> Value {
        json!({
            "partition": { "kafka_topic": self.topic, "kafka_partition": self.partition },
            "offset": { "kafka_offset": self.offset },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_of_an_alter_request() {
        let ok = PartitionOffset::parse(&json!({
            "partition": {"kafka_topic": "t", "kafka_partition": "3"},
            "offset": {"kafka_offset": "1000"}
        }))
        .expect("strings are accepted for numbers");
        assert_eq!((ok.partition, ok.offset), (3, 1000));
        assert_eq!(PartitionOffset::parse(&ok.to_json()), Ok(ok));
        // (item, the error's start)
        let bad = [
            (
                json!({"partition": {"kafka_partition": 0}, "offset": {"kafka_offset": 1}}),
                "partition {\"kafka_partition\":0} has no kafka_topic string",
            ),
            (
                json!({"partition": {"kafka_topic": "t", "kafka_partition": -1}, "offset": {"kafka_offset": 1}}),
                "partition {\"kafka_topic\":\"t\",\"kafka_partition\":-1} has no valid kafka_partition",
            ),
            (
                json!({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": null}),
                "offset null (resetting one partition) is not supported",
            ),
            (
                json!({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": "x"}}),
                "offset {\"kafka_offset\":\"x\"} of t-0 has no valid kafka_offset",
            ),
        ];
        for (item, expected) in bad {
            let e = PartitionOffset::parse(&item).expect_err("invalid");
            assert!(e.reason().starts_with(expected), "{item}: {e}");
        }
    }
}

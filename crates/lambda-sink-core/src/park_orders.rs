//! An operator's orders for parked keys (`aws.lambda.on.key.failure=park`):
//! retry a key now, or skip it (its parked records resolved as failed —
//! to the DLQ or as `behavior.on.error` says — without an invocation).
//! What a request names ([`KeyRequest`]), where that key is parked
//! ([`KeyRequest::places`], from the parked topic's listing), and the order
//! as `serve` hands it to every worker through the config topic
//! ([`KeyOrder`], `park-order-<name>`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::connect::body;
use crate::invalid;
use crate::invalid::Invalid;
use crate::park::ParkedKeyInfo;

/// A request about a parked key: `{"key": "text"}` or `{"key_base64":
/// "..."}`, optionally only where `topic` / `partition` say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequest {
    /// The key's bytes.
    pub key: Vec<u8>,
    /// Only in this topic.
    pub topic: Option<String>,
    /// Only in this partition.
    pub partition: Option<i32>,
}

impl KeyRequest {
    /// Parses a request body.
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        let map = body::object(
            body,
            "the request must be a JSON object naming the key",
            &["key", "key_base64", "topic", "partition"],
            "give key (text) or key_base64, and optionally topic and partition",
        )?;
        let key = match (map.get("key"), map.get("key_base64")) {
            (Some(Value::String(k)), None) => k.as_bytes().to_vec(),
            (None, Some(Value::String(k))) => B64
                .decode(k)
                .map_err(|e| invalid!("key_base64 is not base64: {e}"))?,
            (Some(_), Some(_)) => return Err(invalid!("give key or key_base64, not both")),
            (None, None) => {
                return Err(invalid!(
                    "name the parked key: key (text) or key_base64 (as GET .../parked lists them)"
                ));
            }
            _ => return Err(invalid!("key and key_base64 must be text")),
        };
        let topic = match map.get("topic") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(other) => return Err(invalid!("topic must be text, not {other}")),
        };
        let partition = match map.get("partition") {
            None | Some(Value::Null) => None,
            Some(p) => Some(body::partition(p)?),
        };
        Ok(Self {
            key,
            topic,
            partition,
        })
    }

    /// Where the key is parked among `parked` (topic, partition), within
    /// the request's topic and partition.
    pub fn places(&self, parked: &[ParkedKeyInfo]) -> Vec<(String, i32)> {
        let wanted = B64.encode(&self.key);
        parked
            .iter()
            .filter(|k| k.key_base64 == wanted)
            .filter(|k| self.topic.as_ref().is_none_or(|t| *t == k.topic))
            .filter(|k| self.partition.is_none_or(|p| p == k.partition))
            .map(|k| (k.topic.clone(), k.partition))
            .collect()
    }

    /// The key as an operator reads it.
    pub fn shown(&self) -> String {
        String::from_utf8(self.key.clone()).unwrap_or_else(|_| B64.encode(&self.key))
    }
}

/// An order for a parked key, as `serve` writes it for every worker: the
/// worker holding a place carries it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOrder {
    /// Its id (unique per connector; a new order is a new id).
    pub id: String,
    /// The key.
    pub key: Vec<u8>,
    /// Where it is parked.
    pub places: Vec<(String, i32)>,
    /// Skip rather than retry.
    pub skip: bool,
}

impl KeyOrder {
    /// Its JSON, as stored.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "key_base64": B64.encode(&self.key),
            "places": self.places.iter().map(|(t, p)| json!({ "topic": t, "partition": p })).collect::<Vec<_>>(),
            "skip": self.skip,
        })
    }

    /// Reads a stored order.
    ///
    /// # Errors
    /// What is missing or wrong.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let id = v["id"]
            .as_str()
            .ok_or_else(|| invalid!("a key order has no id"))?;
        let key = v["key_base64"]
            .as_str()
            .and_then(|k| B64.decode(k).ok())
            .ok_or_else(|| invalid!("a key order has no key_base64"))?;
        let places = v["places"]
            .as_array()
            .ok_or_else(|| invalid!("a key order has no places"))?
            .iter()
            .map(|p| {
                let topic = p["topic"].as_str().map(String::from);
                let partition = p["partition"].as_i64().and_then(|n| i32::try_from(n).ok());
                topic
                    .zip(partition)
                    .ok_or_else(|| invalid!("a key order's place is not {{topic, partition}}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: id.to_string(),
            key,
            places,
            skip: v["skip"].as_bool().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(topic: &str, partition: i32, key: &[u8]) -> ParkedKeyInfo {
        ParkedKeyInfo {
            topic: topic.into(),
            partition,
            key: String::from_utf8(key.to_vec()).ok(),
            key_base64: B64.encode(key),
            first_offset: 0,
            last_offset: 0,
            records: 1,
            parked_at: 0,
            reason: String::new(),
            attempts: 0,
        }
    }

    #[test]
    fn a_request_names_a_key_and_finds_where_it_is_parked() {
        let parked = [
            info("a", 0, b"k1"),
            info("a", 1, b"k1"),
            info("b", 0, b"k1"),
            info("a", 0, &[0xff]),
        ];
        let places = |body: Value| KeyRequest::parse(&body).expect("valid").places(&parked);
        let at = |t: &str, p: i32| (t.to_string(), p);
        assert_eq!(
            places(json!({"key": "k1"})),
            vec![at("a", 0), at("a", 1), at("b", 0)]
        );
        assert_eq!(
            places(json!({"key": "k1", "topic": "a"})),
            vec![at("a", 0), at("a", 1)]
        );
        assert_eq!(
            places(json!({"key": "k1", "topic": "a", "partition": 1})),
            vec![at("a", 1)]
        );
        assert_eq!(places(json!({"key_base64": "/w=="})), vec![at("a", 0)]);
        assert_eq!(places(json!({"key": "k9"})), Vec::<(String, i32)>::new());
        let rows: [(Value, &str); 6] = [
            (json!([]), "JSON object"),
            (json!({}), "name the parked key"),
            (json!({"key": "a", "key_base64": "YQ=="}), "not both"),
            (json!({"key_base64": "%%"}), "not base64"),
            (
                json!({"key": "a", "partition": -2}),
                "not a partition number",
            ),
            (json!({"key": "a", "offset": 3}), "unknown field \"offset\""),
        ];
        for (body, wanted) in rows {
            let e = KeyRequest::parse(&body).expect_err("invalid").to_string();
            assert!(e.contains(wanted), "{body}: {e}");
        }
        assert_eq!(
            KeyRequest::parse(&json!({"key_base64": "/w=="})).map(|r| r.shown()),
            Ok("/w==".into())
        );
    }

    #[test]
    fn an_order_round_trips() {
        let order = KeyOrder {
            id: "5-w".into(),
            key: vec![0, 1, 2],
            places: vec![("a".into(), 3)],
            skip: true,
        };
        assert_eq!(KeyOrder::from_json(&order.to_json()), Ok(order));
        assert!(KeyOrder::from_json(&json!({"id": "x"})).is_err());
    }
}

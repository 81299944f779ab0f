//! Where a connector's tasks run in a cluster of workers, as pure rules:
//! each connector's slot topic (one partition per task), the tasks a
//! worker owns given the slot partitions Kafka's group assigned it, and a
//! worker's share of the connector's function concurrency.
//!
//! The I/O (the workers' consumer group over the slot topics) lives in
//! the `serve` crate's placement module; everything it decides is here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The slot topic of connector `id` in the worker cluster `group`: one
/// partition per task, never written to. The workers' group
/// ([`placement_group`]) assigns its partitions, and so the tasks.
#[must_use]
pub fn slot_topic(group: &str, id: &str) -> String {
    format!("{group}-tasks-{id}")
}

/// The consumer group the workers of cluster `group` join to place tasks.
#[must_use]
pub fn placement_group(group: &str) -> String {
    format!("{group}-tasks")
}

/// A connector's `tasks.max` as submitted, or 1 when it is missing or not
/// a positive whole number (validation reports that; a task still runs to
/// say so).
#[must_use]
pub fn tasks_max(config: &Map<String, Value>) -> usize {
    config
        .get("tasks.max")
        .and_then(|v| match v {
            Value::String(s) => s.trim().parse().ok(),
            Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            _ => None,
        })
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// What a slot topic stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slots {
    /// The connector's name.
    pub connector: String,
    /// Its `tasks.max`: partitions at or beyond it run nothing (a topic's
    /// partitions cannot shrink when `tasks.max` does).
    pub tasks: usize,
}

/// Every slot topic the cluster state asks for, by topic name.
pub type SlotTopics = BTreeMap<String, Slots>;

/// Task ids by connector name.
pub type Owned = BTreeMap<String, BTreeSet<usize>>;

/// The tasks that the slot partitions `assigned` (topic, partition) stand
/// for; partitions of unknown topics and beyond `tasks.max` stand for none.
pub fn owned_tasks<'a>(
    topics: &SlotTopics,
    assigned: impl IntoIterator<Item = (&'a str, i32)>,
) -> Owned {
    let mut owned = Owned::new();
    for (topic, partition) in assigned {
        let (Some(slots), Ok(task)) = (topics.get(topic), usize::try_from(partition)) else {
            continue;
        };
        if task < slots.tasks {
            owned
                .entry(slots.connector.clone())
                .or_default()
                .insert(task);
        }
    }
    owned
}

/// Whether any task in `a` is also in `b`.
#[must_use]
pub fn overlaps(a: &Owned, b: &Owned) -> bool {
    a.iter()
        .any(|(c, tasks)| b.get(c).is_some_and(|other| !tasks.is_disjoint(other)))
}

/// The function concurrency a worker running `tasks` of a connector's
/// `tasks_max` may use: each task's share of `aws.lambda.max.in.flight`
/// (rounded down, so the shares of all workers never add up to more), and
/// at least one.
#[must_use]
pub fn in_flight_share(max_in_flight: usize, tasks_max: usize, tasks: usize) -> usize {
    (max_in_flight * tasks / tasks_max.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn topics() -> SlotTopics {
        [("w-tasks-a", "a", 3), ("w-tasks-b", "b", 1)]
            .into_iter()
            .map(|(t, c, n)| {
                (
                    t.to_string(),
                    Slots {
                        connector: c.into(),
                        tasks: n,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn names() {
        assert_eq!(
            slot_topic("lambda-sink", "orders"),
            "lambda-sink-tasks-orders"
        );
        assert_eq!(placement_group("lambda-sink"), "lambda-sink-tasks");
    }

    #[test]
    fn tasks_max_as_submitted() {
        let cases = [
            (json!({"tasks.max": "3"}), 3),
            (json!({"tasks.max": " 2 "}), 2),
            (json!({"tasks.max": 4}), 4),
            (json!({}), 1),
            (json!({"tasks.max": "0"}), 1),
            (json!({"tasks.max": "-2"}), 1),
            (json!({"tasks.max": "many"}), 1),
        ];
        for (config, want) in cases {
            let Value::Object(map) = config else {
                unreachable!()
            };
            assert_eq!(tasks_max(&map), want, "{map:?}");
        }
    }

    #[test]
    fn assigned_partitions_are_tasks() {
        type Case<'a> = (&'a [(&'a str, i32)], &'a [(&'a str, &'a [usize])]);
        let cases: [Case<'_>; 5] = [
            (&[], &[]),
            (&[("w-tasks-a", 0), ("w-tasks-a", 2)], &[("a", &[0, 2])]),
            (
                &[("w-tasks-a", 1), ("w-tasks-b", 0)],
                &[("a", &[1]), ("b", &[0])],
            ),
            // Beyond tasks.max (it was lowered): no task.
            (&[("w-tasks-b", 1), ("w-tasks-a", 3)], &[]),
            // A topic the state no longer has (deleted connector).
            (&[("w-tasks-gone", 0)], &[]),
        ];
        for (assigned, want) in cases {
            let want: Owned = want
                .iter()
                .map(|(c, t)| ((*c).to_string(), t.iter().copied().collect()))
                .collect();
            assert_eq!(
                owned_tasks(&topics(), assigned.iter().copied()),
                want,
                "{assigned:?}"
            );
        }
    }

    #[test]
    fn overlap_is_per_connector() {
        let of = |c: &str, t: &[usize]| -> Owned {
            [(c.to_string(), t.iter().copied().collect())].into()
        };
        assert!(overlaps(&of("a", &[1, 2]), &of("a", &[2])));
        assert!(!overlaps(&of("a", &[1]), &of("a", &[2])));
        assert!(!overlaps(&of("a", &[1]), &of("b", &[1])));
        assert!(!overlaps(&Owned::new(), &of("b", &[1])));
    }

    #[test]
    fn shares_never_add_up_to_more_than_the_connector_has() {
        let cases = [
            // (max.in.flight, tasks.max, tasks here, share)
            (32, 1, 1, 32),
            (32, 3, 1, 10),
            (32, 3, 2, 21),
            (32, 3, 3, 32),
            (32, 4, 1, 8),
            (2, 4, 1, 1),
            (1, 3, 2, 1),
        ];
        for (max, tasks_max, tasks, want) in cases {
            assert_eq!(
                in_flight_share(max, tasks_max, tasks),
                want,
                "{max} {tasks_max} {tasks}"
            );
        }
        // Split 1 + 2 of 3: 10 + 21 ≤ 32.
        assert!(in_flight_share(32, 3, 1) + in_flight_share(32, 3, 2) <= 32);
    }
}

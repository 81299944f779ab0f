//! Completing the connectors' moves in time on this worker: a loop that
//! follows the cluster state and, for every pending move this worker is
//! to complete ([`lambda_sink_core::connect::moves::coordinator`]),
//! commits its positions once the connector's tasks left its group
//! ([`super::admin::Admin::complete_move`]), trying again every half
//! second while tasks drain or Kafka is away; the connector's event log
//! says how it ended (`moved`, `move_failed`), once, from this worker, and
//! why a move still waits after 15 s (`move_waiting`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::connect::moves::{self, Move, State};
use lambda_sink_core::journal::{Event, Level};
use tracing::warn;

use super::admin::MoveProgress;
use super::node::Node;
use crate::clock::epoch_ms;

/// How soon a pending move is tried again.
const AGAIN: Duration = Duration::from_millis(500);

/// Completes pending moves until shutdown.
pub(super) async fn complete(worker: Arc<Node>) {
    let mut cluster = worker.configs.watch();
    let mut warned = false;
    // The moves whose long wait was told of.
    let mut told: HashSet<String> = HashSet::new();
    loop {
        let pending: Vec<String> = cluster
            .borrow_and_update()
            .connectors()
            .iter()
            .filter(|(_, e)| e.moving())
            .map(|(name, _)| name.clone())
            .collect();
        let mut again = false;
        for name in &pending {
            match worker
                .admin
                .complete_move(name, &worker.worker_id, epoch_ms())
                .await
            {
                Ok(MoveProgress::Waiting) => again = true,
                Ok(MoveProgress::Busy(m)) => {
                    again = true;
                    let now = epoch_ms();
                    if moves::waited_long(m.requested_at, now)
                        && told.insert(m.id.clone())
                        && let Some(events) = worker.host.events(name)
                    {
                        events.record(waiting(&m, now));
                    }
                }
                Ok(MoveProgress::Nothing) => {}
                Ok(MoveProgress::Ended(m)) => {
                    if let Some(events) = worker.host.events(name) {
                        events.record(ended(&m));
                    }
                }
                Err(e) => {
                    again = true;
                    if !warned {
                        warn!(connector = %name, error = %e, "cannot complete the connector's move yet; retrying every {AGAIN:?}");
                        warned = true;
                    }
                }
            }
        }
        if !again {
            warned = false;
        }
        let retry = async {
            if !again {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(AGAIN).await;
        };
        tokio::select! {
            () = worker.shutdown.cancelled() => break,
            changed = cluster.changed() => if changed.is_err() { break },
            () = retry => {}
        }
    }
}

/// The event of a move that has waited long for its group to empty.
fn waiting(m: &Move, now: i64) -> Event {
    Event::new(
        Level::Info,
        "move_waiting",
        format!(
            "move {} has waited {} s for the connector's consumer group to empty: a member is still in it — a task still draining, or a consumer that was joining when its task stopped, which Kafka drops after its session.timeout.ms (45 s by default); the move completes by itself then",
            m.id,
            now.saturating_sub(m.requested_at) / 1000
        ),
    )
}

/// The event of a move this worker ended.
fn ended(m: &Move) -> Event {
    if m.state == State::Failed {
        return Event::new(
            Level::Warn,
            "move_failed",
            format!(
                "move {} failed ({}); the tasks continue from where they stopped",
                m.id,
                m.error.as_deref().unwrap_or("no reason given")
            ),
        );
    }
    let to: Vec<String> = m
        .offsets
        .iter()
        .map(|o| format!("{}-{}@{}", o.topic, o.partition, o.offset))
        .collect();
    Event::new(
        Level::Info,
        "moved",
        format!(
            "moved (move {}): the tasks continue from {}",
            m.id,
            to.join(", ")
        ),
    )
}

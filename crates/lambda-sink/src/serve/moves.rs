//! Completing the connectors' moves in time on this worker: a loop that
//! follows the cluster state and, for every pending move this worker is
//! to complete ([`lambda_sink_core::connect::moves::coordinator`]),
//! commits its positions once the connector's tasks left its group
//! ([`super::admin::Admin::complete_move`]), trying again every half
//! second while tasks drain or Kafka is away.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use super::node::Node;
use crate::clock::epoch_ms;

/// How soon a pending move is tried again.
const AGAIN: Duration = Duration::from_millis(500);

/// Completes pending moves until shutdown.
pub(super) async fn complete(worker: Arc<Node>) {
    let mut cluster = worker.configs.watch();
    let mut warned = false;
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
                Ok(still) => again |= still,
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

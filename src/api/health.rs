//! Operations endpoints: liveness, readiness (store, signing key, registries) and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::api::OpsState;

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// How far back a registry's last call counts for readiness.
const RECENT_CALLS: Duration = Duration::from_secs(60);

/// Ready when the store answers, the queue answers a round trip, and every registry accepts a
/// connection and did not time out or fail to answer on its last call of the past minute.
pub async fn ready(state: web::Data<OpsState>) -> HttpResponse {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    let store_ok = tokio::time::timeout(Duration::from_secs(2), state.store.ping())
        .await
        .is_ok_and(|result| result.is_ok());
    ready &= store_ok;
    checks.insert("store".into(), json!(if store_ok { "up" } else { "down" }));
    checks.insert("signingKey".into(), json!("loaded"));
    let queue = state.queue.queue();
    let queue_ok = match queue {
        crate::queue::QueueBackend::Embedded => store_ok,
        crate::queue::QueueBackend::Rabbit(rabbit) => rabbit.answers().await,
    };
    ready &= queue_ok;
    checks.insert(
        format!("queue.{}", queue.name()),
        json!(if queue_ok { "up" } else { "down" }),
    );
    for registry in state.catalog.registries() {
        let reachable = registry_reachable(&registry.endpoint).await;
        let answered = state
            .queue
            .registry_answered_lately(&registry.name, RECENT_CALLS);
        let verdict = match (reachable, answered) {
            (false, _) => "down",
            (true, Some(false)) => "not_answering",
            (true, _) => "up",
        };
        ready &= verdict == "up";
        checks.insert(format!("registry.{}", registry.name), json!(verdict));
    }
    let body = json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks});
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn registry_reachable(endpoint: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .is_ok_and(|connection| connection.is_ok())
}

/// Refreshes the queue and audit gauges from the store (and the broker), then renders every
/// metric.
pub async fn metrics(state: web::Data<OpsState>) -> HttpResponse {
    let metrics = &state.metrics;
    if let Ok(depths) = state.store.queue_depths().await {
        metrics.queue_depth.reset();
        for (registry, queue_state, count) in depths {
            metrics
                .queue_depth
                .with_label_values(&[registry.as_str(), queue_state.as_str()])
                .set(count);
        }
    }
    if let (Ok(unplaced), Ok(head), Ok(delivered)) = (
        state.store.pending_audit_count().await,
        state.store.audit_head().await,
        state.store.mlog_delivered().await,
    ) {
        metrics
            .audit_backlog
            .with_label_values(&["unplaced"])
            .set(unplaced);
        metrics
            .audit_backlog
            .with_label_values(&["mlog"])
            .set(unplaced + head.size - delivered);
    }
    let queue = state.queue.queue();
    metrics.queue_connected.set(i64::from(queue.is_connected()));
    if let crate::queue::QueueBackend::Rabbit(rabbit) = queue {
        for (name, count) in rabbit.depths().await {
            metrics
                .queue_depth
                .with_label_values(&[name.as_str(), "broker"])
                .set(i64::from(count));
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

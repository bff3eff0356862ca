//! Prometheus metrics of the hub, exposed at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct HubMetrics {
    registry: Registry,
    /// Exchanges that ended, by service and outcome code (`ok` or an error code).
    pub exchanges: IntCounterVec,
    /// Wall time from acceptance to answer, by service.
    pub exchange_seconds: HistogramVec,
    /// Time spent waiting for registries, by registry and outcome (`ok` or an error code).
    pub registry_call_seconds: HistogramVec,
    /// Retries of async exchanges scheduled, by registry and error code.
    pub retries: IntCounterVec,
    /// Async exchanges dead-lettered after their last attempt, by registry.
    pub dead_letters: IntCounterVec,
    /// Async exchanges in progress, by registry and queue state (refreshed on scrape).
    pub queue_depth: IntGaugeVec,
    /// Whether the queue backend is connected (1) or not (0).
    pub queue_connected: IntGauge,
    /// Audit entries not yet placed in the log, and not yet delivered to MLog (refreshed on
    /// scrape).
    pub audit_backlog: IntGaugeVec,
    /// Views of each benefit's info sheet on the public pages (no personal data).
    pub benefit_views: IntCounterVec,
    /// Estimates made, by where they were asked (`pages` or `api`; no personal data).
    pub benefit_estimates: IntCounterVec,
    /// Events offered to the hub, by type and outcome (`taken`, `seen` again).
    pub events: IntCounterVec,
    /// Events handled, by outcome (`handled`, `later`, `review`, `dead`).
    pub events_handled: IntCounterVec,
    /// Alert deliveries attempted, by channel (`mnotify`, `webhook`) and outcome (`sent`,
    /// `later`, `dead`).
    pub deliveries: IntCounterVec,
    /// Statuses MNotify gave for the hub's notifications, as they were learnt.
    pub notification_statuses: IntCounterVec,
}

impl HubMetrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("esocial_hub".into()), None)
            .expect("a static prefix is valid");
        let exchanges = IntCounterVec::new(
            Opts::new(
                "exchanges_total",
                "Exchanges that ended, by service and outcome",
            ),
            &["service", "outcome"],
        )
        .expect("valid metric definition");
        let exchange_seconds = HistogramVec::new(
            HistogramOpts::new(
                "exchange_duration_seconds",
                "Time from acceptance to answer",
            ),
            &["service"],
        )
        .expect("valid metric definition");
        let registry_call_seconds = HistogramVec::new(
            HistogramOpts::new(
                "registry_call_duration_seconds",
                "Time spent on registry calls",
            ),
            &["registry", "outcome"],
        )
        .expect("valid metric definition");
        let retries = IntCounterVec::new(
            Opts::new("retries_total", "Retries of async exchanges scheduled"),
            &["registry", "code"],
        )
        .expect("valid metric definition");
        let dead_letters = IntCounterVec::new(
            Opts::new("dead_letters_total", "Async exchanges dead-lettered"),
            &["registry"],
        )
        .expect("valid metric definition");
        let queue_depth = IntGaugeVec::new(
            Opts::new("queue_depth", "Async exchanges in progress by queue state"),
            &["registry", "state"],
        )
        .expect("valid metric definition");
        let queue_connected = IntGauge::new("queue_connected", "Queue backend connected")
            .expect("valid metric definition");
        let audit_backlog = IntGaugeVec::new(
            Opts::new(
                "audit_backlog",
                "Audit entries waiting: `unplaced` for their place in the log, `mlog` for MLog",
            ),
            &["stage"],
        )
        .expect("valid metric definition");
        let benefit_views = IntCounterVec::new(
            Opts::new(
                "benefit_views_total",
                "Views of a benefit's info sheet, by benefit",
            ),
            &["benefit"],
        )
        .expect("valid metric definition");
        let benefit_estimates = IntCounterVec::new(
            Opts::new(
                "benefit_estimates_total",
                "Benefit estimates made, by channel (pages, api)",
            ),
            &["channel"],
        )
        .expect("valid metric definition");
        let events = IntCounterVec::new(
            Opts::new(
                "events_total",
                "Events offered to the hub, by type and outcome",
            ),
            &["type", "outcome"],
        )
        .expect("valid metric definition");
        let events_handled = IntCounterVec::new(
            Opts::new("events_handled_total", "Events handled, by outcome"),
            &["outcome"],
        )
        .expect("valid metric definition");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "event_deliveries_total",
                "Alert deliveries attempted, by channel and outcome",
            ),
            &["channel", "outcome"],
        )
        .expect("valid metric definition");
        let notification_statuses = IntCounterVec::new(
            Opts::new(
                "notification_statuses_total",
                "Statuses MNotify gave for the hub's notifications, as they were learnt",
            ),
            &["status"],
        )
        .expect("valid metric definition");
        for collector in [
            Box::new(exchanges.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(benefit_views.clone()),
            Box::new(benefit_estimates.clone()),
            Box::new(exchange_seconds.clone()),
            Box::new(registry_call_seconds.clone()),
            Box::new(retries.clone()),
            Box::new(dead_letters.clone()),
            Box::new(queue_depth.clone()),
            Box::new(queue_connected.clone()),
            Box::new(audit_backlog.clone()),
            Box::new(events.clone()),
            Box::new(events_handled.clone()),
            Box::new(deliveries.clone()),
            Box::new(notification_statuses.clone()),
        ] {
            registry
                .register(collector)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            exchanges,
            exchange_seconds,
            registry_call_seconds,
            retries,
            dead_letters,
            queue_depth,
            queue_connected,
            audit_backlog,
            benefit_views,
            benefit_estimates,
            events,
            events_handled,
            deliveries,
            notification_statuses,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding into memory does not fail");
        String::from_utf8(buffer).expect("the text encoder writes UTF-8")
    }
}

impl Default for HubMetrics {
    fn default() -> Self {
        Self::new()
    }
}

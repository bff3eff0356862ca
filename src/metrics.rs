//! Prometheus metrics of the hub, exposed at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
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
        for collector in [
            Box::new(exchanges.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(exchange_seconds.clone()),
            Box::new(registry_call_seconds.clone()),
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

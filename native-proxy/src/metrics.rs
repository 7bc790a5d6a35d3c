//! Every metric the proxy exports, as typed `prometheus-client` families in one registry.
//!
//! Labels are small closed sets (`&'static str` kinds from the codec and the core) plus the listener
//! name, so cardinality is bounded by configuration, never by traffic.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels naming only the listener.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// The listener's configured name.
    pub listener: Arc<str>,
}

/// Labels naming the listener and a stable, snake_case kind or outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The listener's configured name.
    pub listener: Arc<str>,
    /// A stable label from a closed set (an error kind, an outcome, a signal).
    pub kind: &'static str,
}

/// Labels for accepted PROXY headers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProxyHeaderLabels {
    /// The listener's configured name.
    pub listener: Arc<str>,
    /// `v1`, `v2` or `none` (an optional listener served a plain connection).
    pub version: &'static str,
    /// `proxy` or `local` (v2 LOCAL and v1 UNKNOWN are served as the real connection).
    pub command: &'static str,
}

/// Labels for HTTP responses.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The listener's configured name.
    pub listener: Arc<str>,
    /// The response status class: `2xx`, `4xx`, ...
    pub class: &'static str,
}

/// Labels for client-IP decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// The listener's configured name.
    pub listener: Arc<str>,
    /// `decided`, `fallback`, `rejected` or `denied`.
    pub outcome: &'static str,
    /// Where the client address came from (`peer`, `x-forwarded-for`, ...) or the rejection kind. Borrowed for
    /// the fixed labels so recording a decision does not allocate.
    pub source: Cow<'static, str>,
}

/// The proxy's metrics; cheap to clone (every family is reference counted).
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Connections accepted, by listener.
    pub connections: Family<ListenerLabels, Counter>,
    /// Connections currently open, by listener.
    pub connections_open: Family<ListenerLabels, Gauge>,
    /// Times a listener reached its connection limit and stopped accepting until a slot freed.
    pub connection_limit_reached: Family<ListenerLabels, Counter>,
    /// `accept()` failures (each followed by a backoff).
    pub accept_errors: Family<ListenerLabels, Counter>,
    /// Connection tasks (and h2 request tasks) that panicked; the process keeps serving.
    pub connection_panics: Family<ListenerLabels, Counter>,
    /// PROXY headers accepted, by version and command.
    pub proxy_headers: Family<ProxyHeaderLabels, Counter>,
    /// Connections closed because of their PROXY header, by error kind.
    pub proxy_errors: Family<KindLabels, Counter>,
    /// HTTP requests answered, by status class.
    pub requests: Family<RequestLabels, Counter>,
    /// Client-IP decisions by outcome and source.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Spoofing signals seen by the core (forwarding headers from untrusted peers, duplicates, ...).
    pub spoof_signals: Family<KindLabels, Counter>,
    /// Upstream failures by kind (`connect`, `timeout`, `protocol`, ...).
    pub upstream_errors: Family<KindLabels, Counter>,
    /// Connections closed for holding a slot without progress, by [`ClientTimeout`] kind.
    pub client_timeouts: Family<KindLabels, Counter>,
    /// Time from request head to response head, in seconds.
    pub request_duration: Family<ListenerLabels, Histogram>,
    /// Time to read and decide the PROXY header, in seconds.
    pub proxy_header_duration: Family<ListenerLabels, Histogram>,
    /// Configuration reloads by outcome (`applied`, `refused`).
    pub reloads: Family<KindLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~13 s: covers a loopback hop and a slow upstream alike.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// Creates the families and registers them under the `trueip` prefix.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            connections: Family::default(),
            connections_open: Family::default(),
            connection_limit_reached: Family::default(),
            accept_errors: Family::default(),
            connection_panics: Family::default(),
            proxy_headers: Family::default(),
            proxy_errors: Family::default(),
            requests: Family::default(),
            decisions: Family::default(),
            spoof_signals: Family::default(),
            upstream_errors: Family::default(),
            client_timeouts: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            proxy_header_duration: Family::new_with_constructor(latency_histogram),
            reloads: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("trueip");
        r.register("connections", "Connections accepted", m.connections.clone());
        r.register(
            "connections_open",
            "Connections currently open",
            m.connections_open.clone(),
        );
        r.register(
            "connection_limit_reached",
            "Times a listener hit its connection limit and paused accepting",
            m.connection_limit_reached.clone(),
        );
        r.register(
            "accept_errors",
            "accept() failures, each followed by a backoff",
            m.accept_errors.clone(),
        );
        r.register(
            "connection_panics",
            "Connection tasks, and h2 request tasks, that panicked",
            m.connection_panics.clone(),
        );
        r.register(
            "proxy_headers",
            "PROXY headers accepted",
            m.proxy_headers.clone(),
        );
        r.register(
            "proxy_errors",
            "Connections closed because of their PROXY header, by kind",
            m.proxy_errors.clone(),
        );
        r.register(
            "requests",
            "HTTP requests answered, by status class",
            m.requests.clone(),
        );
        r.register(
            "decisions",
            "Client-IP decisions by outcome and source",
            m.decisions.clone(),
        );
        r.register(
            "spoof_signals",
            "Spoofing signals reported by the client-IP core",
            m.spoof_signals.clone(),
        );
        r.register(
            "upstream_errors",
            "Upstream failures by kind",
            m.upstream_errors.clone(),
        );
        r.register(
            "client_timeouts",
            "Connections closed for holding a slot without progress, by kind",
            m.client_timeouts.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from request head to response head",
            m.request_duration.clone(),
        );
        r.register(
            "proxy_header_duration_seconds",
            "Time to read and check the PROXY header",
            m.proxy_header_duration.clone(),
        );
        r.register(
            "config_reloads",
            "Configuration reloads by outcome",
            m.reloads.clone(),
        );
        m
    }
}

/// The registry and its typed handles, shared by every listener and the admin endpoint.
#[derive(Debug)]
pub struct Telemetry {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Typed handles into `registry`.
    pub metrics: Metrics,
}

impl Telemetry {
    /// A fresh registry with every trueip family registered.
    pub fn new() -> Telemetry {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        Telemetry { registry, metrics }
    }

    /// The Prometheus text exposition of every family.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a metric type.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

/// The status class label for a response status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One listener's handles to the series touched on every connection and request, looked up in
/// their families once instead of hashing the labels each time. Each is fetched on first use, so
/// the exposition still lists only series that have happened.
#[derive(Debug)]
pub struct ListenerMetrics {
    label: Arc<str>,
    connections: OnceLock<Counter>,
    connections_open: OnceLock<Gauge>,
    proxy_header_duration: OnceLock<Histogram>,
    request_duration: OnceLock<Histogram>,
    connection_panics: OnceLock<Counter>,
    /// By status class: 1xx..5xx.
    requests: [OnceLock<Counter>; 5],
    /// `decided` then `fallback`, each by `peer`, `x-forwarded-for`, `forwarded`.
    decisions: [OnceLock<Counter>; 6],
    /// By [`ClientTimeout`], in its order.
    client_timeouts: ClientTimeoutCounters,
}

/// Why a connection was closed for holding its slot without progress
/// (`trueip_client_timeouts_total{kind}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientTimeout {
    /// Nothing arrived (after the PROXY header, if any) within the request-head bound.
    FirstByte,
    /// The opening bytes stayed a prefix of the h2 preface for the request-head bound.
    VersionDetection,
    /// An HTTP/1 request head was not complete within the request-head bound.
    RequestHead,
    /// An h2 connection had no open stream for the idle bound.
    H2Idle,
}

impl ClientTimeout {
    /// The `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            ClientTimeout::FirstByte => "first_byte",
            ClientTimeout::VersionDetection => "version_detection",
            ClientTimeout::RequestHead => "request_head",
            ClientTimeout::H2Idle => "h2_idle",
        }
    }
}

#[derive(Debug, Default)]
struct ClientTimeoutCounters {
    first_byte: OnceLock<Counter>,
    version_detection: OnceLock<Counter>,
    request_head: OnceLock<Counter>,
    h2_idle: OnceLock<Counter>,
}

/// Decision sources with a fixed label, in [`ListenerMetrics::decisions`] order.
const FIXED_SOURCES: [&str; 3] = ["peer", "x-forwarded-for", "forwarded"];

impl ListenerMetrics {
    /// Empty handles for the listener labelled `label`.
    pub fn new(label: Arc<str>) -> ListenerMetrics {
        ListenerMetrics {
            label,
            connections: OnceLock::new(),
            connections_open: OnceLock::new(),
            proxy_header_duration: OnceLock::new(),
            request_duration: OnceLock::new(),
            connection_panics: OnceLock::new(),
            requests: Default::default(),
            decisions: Default::default(),
            client_timeouts: Default::default(),
        }
    }

    fn labels(&self) -> ListenerLabels {
        ListenerLabels {
            listener: self.label.clone(),
        }
    }

    /// `trueip_connections_total` of this listener.
    pub fn connections(&self, m: &Metrics) -> &Counter {
        self.connections
            .get_or_init(|| m.connections.get_or_create(&self.labels()).clone())
    }

    /// `trueip_connections_open` of this listener.
    pub fn connections_open(&self, m: &Metrics) -> &Gauge {
        self.connections_open
            .get_or_init(|| m.connections_open.get_or_create(&self.labels()).clone())
    }

    /// `trueip_proxy_header_duration_seconds` of this listener.
    pub fn proxy_header_duration(&self, m: &Metrics) -> &Histogram {
        self.proxy_header_duration.get_or_init(|| {
            m.proxy_header_duration
                .get_or_create(&self.labels())
                .clone()
        })
    }

    /// `trueip_request_duration_seconds` of this listener.
    pub fn request_duration(&self, m: &Metrics) -> &Histogram {
        self.request_duration
            .get_or_init(|| m.request_duration.get_or_create(&self.labels()).clone())
    }

    /// `trueip_client_timeouts_total{kind}` of this listener.
    pub fn client_timeouts(&self, m: &Metrics, kind: ClientTimeout) -> &Counter {
        let labels = || KindLabels {
            listener: self.label.clone(),
            kind: kind.label(),
        };
        let c = &self.client_timeouts;
        let slot = match kind {
            ClientTimeout::FirstByte => &c.first_byte,
            ClientTimeout::VersionDetection => &c.version_detection,
            ClientTimeout::RequestHead => &c.request_head,
            ClientTimeout::H2Idle => &c.h2_idle,
        };
        slot.get_or_init(|| m.client_timeouts.get_or_create(&labels()).clone())
    }

    /// `trueip_connection_panics_total` of this listener.
    pub fn connection_panics(&self, m: &Metrics) -> &Counter {
        self.connection_panics
            .get_or_init(|| m.connection_panics.get_or_create(&self.labels()).clone())
    }

    /// Counts one response with `status` in `trueip_requests_total`.
    pub fn count_request(&self, m: &Metrics, status: u16) {
        let class = status_class(status);
        let index = match class {
            "1xx" => 0,
            "2xx" => 1,
            "3xx" => 2,
            "4xx" => 3,
            _ => 4,
        };
        let make = || {
            m.requests
                .get_or_create(&RequestLabels {
                    listener: self.label.clone(),
                    class,
                })
                .clone()
        };
        match self.requests.get(index) {
            Some(slot) => slot.get_or_init(make).inc(),
            None => make().inc(),
        };
    }

    /// Counts one decision in `trueip_decisions_total`.
    pub fn count_decision(&self, m: &Metrics, outcome: &'static str, source: Cow<'static, str>) {
        let outcome_index = match outcome {
            "decided" => Some(0),
            "fallback" => Some(1),
            _ => None,
        };
        let source_index = FIXED_SOURCES.iter().position(|s| *s == source);
        let slot = outcome_index
            .zip(source_index)
            .and_then(|(o, s)| self.decisions.get(o * FIXED_SOURCES.len() + s));
        let make = || {
            m.decisions
                .get_or_create(&DecisionLabels {
                    listener: self.label.clone(),
                    outcome,
                    source,
                })
                .clone()
        };
        match slot {
            Some(slot) => slot.get_or_init(make).inc(),
            None => make().inc(),
        };
    }
}

//! Prometheus metrics, exposed in the OpenMetrics text format.
//!
//! One [`Metrics`] per server, shared by reference (`Arc<Metrics>`): every metric is a
//! lock-free counter or histogram inside a label family, so recording needs only `&self`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// `content-type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Settlement item kinds, the `kind` label of `settlement_items_total`.
pub const KINDS: [&str; 7] = [
    "payment",
    "journal_entry",
    "envelope",
    "order",
    "deposit",
    "cash_in",
    "cash_out",
];

/// Settlement outcomes, the `outcome` label of `settlement_items_total`.
pub const OUTCOMES: [&str; 5] = ["settled", "duplicate", "pending", "rejected", "invalid"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ItemLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// 1 ms, 2 ms, 4 ms, … about 33 s.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    items: Family<ItemLabels, Counter>,
    batch_seconds: Histogram,
    fraud_cases: Counter,
}

impl Metrics {
    /// A registry with every metric registered; each settlement kind × outcome starts at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by matched route and response status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                seconds_histogram,
            );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request handling time by matched route",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let items = Family::<ItemLabels, Counter>::default();
        registry.register(
            "settlement_items",
            "Settlement items by kind and outcome",
            items.clone(),
        );
        for kind in KINDS {
            for outcome in OUTCOMES {
                // Creating the series is the point; the read guard is released at once.
                drop(items.get_or_create(&ItemLabels { kind, outcome }));
            }
        }
        let batch_seconds = seconds_histogram();
        registry.register_with_unit(
            "settlement_batch",
            "Time to settle one batch",
            Unit::Seconds,
            batch_seconds.clone(),
        );
        let fraud_cases = Counter::default();
        registry.register(
            "fraud_cases",
            "Fraud cases opened (journal forks proven)",
            fraud_cases.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            items,
            batch_seconds,
            fraud_cases,
        }
    }

    /// Counts one HTTP request and its duration. `route` is the matched route template (e.g.
    /// `/v1/accounts/{id}`), never the raw path, so the label set stays small.
    pub fn record_request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Counts one settlement item. `kind` is one of [`KINDS`], `outcome` one of [`OUTCOMES`].
    pub fn record_outcome(&self, kind: &'static str, outcome: &'static str) {
        self.items
            .get_or_create(&ItemLabels { kind, outcome })
            .inc();
    }

    /// Records how long one settlement batch took.
    pub fn record_batch(&self, seconds: f64) {
        self.batch_seconds.observe(seconds);
    }

    /// Counts one fraud case.
    pub fn record_fraud_case(&self) {
        self.fraud_cases.inc();
    }

    /// Every metric in the OpenMetrics text format, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and every label value here is encodable.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '))
            .and_then(|l| l[prefix.len()..].trim().parse().ok())
    }

    #[test]
    fn is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Metrics>();
    }

    #[test]
    fn encodes_recorded_counters() {
        let m = Metrics::new();
        m.record_request("/v1/settle", 200, 0.003);
        m.record_request("/v1/settle", 200, 0.5);
        m.record_request("/v1/settle", 401, 0.001);
        m.record_outcome("payment", "settled");
        m.record_outcome("payment", "settled");
        m.record_outcome("envelope", "duplicate");
        m.record_batch(0.25);
        m.record_fraud_case();
        let text = m.encode();

        assert_eq!(
            line_value(
                &text,
                r#"http_requests_total{route="/v1/settle",status="200"}"#
            ),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            line_value(
                &text,
                r#"http_requests_total{route="/v1/settle",status="401"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"http_request_duration_seconds_count{route="/v1/settle"}"#
            ),
            Some(3.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"http_request_duration_seconds_sum{route="/v1/settle"}"#
            ),
            Some(0.504)
        );
        assert_eq!(
            line_value(
                &text,
                r#"settlement_items_total{kind="payment",outcome="settled"}"#
            ),
            Some(2.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"settlement_items_total{kind="envelope",outcome="duplicate"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, "settlement_batch_seconds_count"),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, "settlement_batch_seconds_sum"),
            Some(0.25)
        );
        assert_eq!(line_value(&text, "fraud_cases_total"), Some(1.0));
        assert!(text.contains("# TYPE http_requests counter"));
        assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
        assert!(text.contains("# UNIT settlement_batch_seconds seconds"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn settlement_outcomes_start_at_zero() {
        let text = Metrics::new().encode();
        for kind in KINDS {
            for outcome in OUTCOMES {
                let series =
                    format!(r#"settlement_items_total{{kind="{kind}",outcome="{outcome}"}}"#);
                assert_eq!(line_value(&text, &series), Some(0.0), "{series}");
            }
        }
        assert_eq!(line_value(&text, "fraud_cases_total"), Some(0.0));
        // No request has been seen, so no request series exists yet.
        assert!(!text.contains("http_requests_total{"));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::new();
        m.record_batch(0.0015);
        m.record_batch(100.0);
        let text = m.encode();
        assert_eq!(
            line_value(&text, r#"settlement_batch_seconds_bucket{le="0.001"}"#),
            Some(0.0)
        );
        assert_eq!(
            line_value(&text, r#"settlement_batch_seconds_bucket{le="0.002"}"#),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, r#"settlement_batch_seconds_bucket{le="+Inf"}"#),
            Some(2.0)
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.record_request("/a\"b\nc", 404, 0.0);
        let text = m.encode();
        assert!(text.contains(r#"route="/a\"b\nc""#), "{text}");
    }

    #[test]
    fn concurrent_recording_is_counted_once_each() {
        let m = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.record_outcome("order", "pending");
                        m.record_request("/v1/orders", 202, 0.01);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.encode();
        assert_eq!(
            line_value(
                &text,
                r#"settlement_items_total{kind="order",outcome="pending"}"#
            ),
            Some(4000.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"http_requests_total{route="/v1/orders",status="202"}"#
            ),
            Some(4000.0)
        );
    }
}

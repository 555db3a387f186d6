//! What an instance counts of its own work, for Prometheus (`GET /metrics` on
//! `TOKENDESK_METRICS_BIND`): requests by route, method and status with their latency, key
//! checks by outcome, the key cache's hits and misses, the jobs' rounds. What is a level rather
//! than a count (the pool, the buffered use, the instances sharing rate limits) is read when
//! scraped. Every name starts with `tokendesk_`; each instance has a registry of its own.

use super::Live;
use crate::db::DbPool;
use chrono::NaiveDateTime;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

/// How a key check ended, as `tokendesk_key_checks_total{outcome}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    Ok,
    /// 401: no key, a bad one, a disabled or expired token.
    Unauthenticated,
    /// 403: the token does not reach the module (or the path has none).
    Forbidden,
    /// 429: over the key's rate limit.
    RateLimited,
    /// 403: from outside the token's allowed networks.
    NetworkRefused,
}

impl KeyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::NetworkRefused => "network_refused",
        }
    }
}

/// Where a key was checked: a request of the API, or a proxy asking `/auth/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Api,
    Verify,
}

impl KeySource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Verify => "verify",
        }
    }
}

/// Seconds: from a cache hit answered in microseconds to the database's patience.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    key_checks: IntCounterVec,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_entries: IntGauge,
    pool_in_use: IntGauge,
    pool_idle: IntGauge,
    pool_waiting: IntGauge,
    pool_max: IntGauge,
    usage_pending: IntGauge,
    rate_instances: IntGauge,
    worker_runs: IntCounterVec,
    worker_failures: IntCounterVec,
    worker_last_run: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers `metric` in `registry`; the names are this module's constants, so a failure is a
/// bug found by the first test.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: Result<M, prometheus::Error>,
) -> M {
    let metric = metric.expect("a valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("a metric registered once");
    metric
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(r, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let counter = |name: &str, help: &str| registered(r, IntCounter::new(name, help));
        let gauge = |name: &str, help: &str| registered(r, IntGauge::new(name, help));
        let version = registered(
            r,
            IntGaugeVec::new(
                Opts::new("tokendesk_build_info", "The version this instance runs."),
                &["version"],
            ),
        );
        version
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Self {
            requests: counter_vec(
                "tokendesk_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
                &["route", "method", "status"],
            ),
            latency: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "tokendesk_http_request_duration_seconds",
                        "Time from a request's arrival to its answer, by route pattern.",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                    &["route"],
                ),
            ),
            key_checks: counter_vec(
                "tokendesk_key_checks_total",
                "API keys checked, by where (api or verify) and outcome.",
                &["source", "outcome"],
            ),
            cache_hits: counter(
                "tokendesk_key_cache_hits_total",
                "Key checks answered from the key cache.",
            ),
            cache_misses: counter(
                "tokendesk_key_cache_misses_total",
                "Key checks that read the token from the database.",
            ),
            cache_entries: gauge("tokendesk_key_cache_entries", "Keys in the key cache."),
            pool_in_use: gauge(
                "tokendesk_db_pool_connections_in_use",
                "Pooled database connections checked out.",
            ),
            pool_idle: gauge(
                "tokendesk_db_pool_connections_idle",
                "Pooled database connections open and free.",
            ),
            pool_waiting: gauge(
                "tokendesk_db_pool_waiting",
                "Checkouts waiting for a pooled database connection.",
            ),
            pool_max: gauge(
                "tokendesk_db_pool_connections_max",
                "The most connections the pool opens.",
            ),
            usage_pending: gauge(
                "tokendesk_usage_pending_requests",
                "API requests counted in memory and not yet written to the database.",
            ),
            rate_instances: gauge(
                "tokendesk_rate_instances",
                "Instances sharing rate limits, as the last exchange found (this one included).",
            ),
            worker_runs: counter_vec(
                "tokendesk_worker_runs_total",
                "Rounds of each job beside the requests.",
                &["job"],
            ),
            worker_failures: counter_vec(
                "tokendesk_worker_failures_total",
                "Rounds of each job that failed or panicked.",
                &["job"],
            ),
            worker_last_run: registered(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "tokendesk_worker_last_run_timestamp_seconds",
                        "When each job last finished a round (Unix time).",
                    ),
                    &["job"],
                ),
            ),
            registry,
        }
    }

    /// One answered request: its route pattern (`None`: no route matched), method and status.
    pub fn request(&self, route: Option<&str>, method: &str, status: u16, took: Duration) {
        let route = route.unwrap_or("unmatched");
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(took.as_secs_f64());
    }

    pub fn key_check(&self, source: KeySource, outcome: KeyOutcome) {
        self.key_checks
            .with_label_values(&[source.as_str(), outcome.as_str()])
            .inc();
    }

    /// A key looked up in the cache: found (`hit`) or not.
    pub fn key_cache(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    /// A round of the job `name` ended `at`, well or not.
    pub fn worker_round(&self, name: &str, failed: bool, at: NaiveDateTime) {
        self.worker_runs.with_label_values(&[name]).inc();
        if failed {
            self.worker_failures.with_label_values(&[name]).inc();
        }
        self.worker_last_run
            .with_label_values(&[name])
            .set(at.and_utc().timestamp());
    }

    /// Everything, in Prometheus' text format, the levels read now from `live` and `pool`.
    pub fn render(&self, live: &Live, pool: &DbPool) -> String {
        let level = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let state = pool.state();
        let (open, idle) = (state.connections, state.idle_connections);
        self.pool_in_use.set(i64::from(open.saturating_sub(idle)));
        self.pool_idle.set(i64::from(idle));
        self.pool_waiting.set(level(pool.waiting()));
        self.pool_max.set(i64::from(pool.max_size()));
        self.cache_entries.set(level(live.keys.len()));
        self.usage_pending
            .set(i64::try_from(live.usage.pending()).unwrap_or(i64::MAX));
        self.rate_instances.set(i64::from(live.rates.instances()));
        let mut text = Vec::new();
        // Writing to memory cannot fail, and every metric here is well formed.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::error!(%error, "the metrics could not be written");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_and_routes_do_not_make_new_series() {
        let metrics = Metrics::new();
        metrics.request(None, "BREW", 404, Duration::from_millis(1));
        metrics.request(Some("/healthz"), "GET", 200, Duration::from_millis(1));
        let families = metrics.registry.gather();
        let requests = families
            .iter()
            .find(|f| f.name() == "tokendesk_http_requests_total")
            .unwrap();
        let labels: Vec<Vec<String>> = requests
            .get_metric()
            .iter()
            .map(|m| m.get_label().iter().map(|l| l.value().to_owned()).collect())
            .collect();
        assert!(labels.contains(&vec!["other".into(), "unmatched".into(), "404".into()]));
        assert!(labels.contains(&vec!["GET".into(), "/healthz".into(), "200".into()]));
    }
}

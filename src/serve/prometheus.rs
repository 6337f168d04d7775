//! `/metrics` in the Prometheus text format: sessions (active, totals, refusals), per-stage
//! latency histograms and budget violations across all sessions (finished and live), and the
//! media counters that say a session degraded (frames dropped late or at the sink).
//!
//! The stages keep HdrHistograms in microseconds; here they are read out as cumulative
//! Prometheus buckets in seconds. Writing the text by hand keeps a whole metrics library out of
//! the dependency tree for one small, fixed format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::sessions::Sessions;

/// Bucket upper bounds, in seconds: from a sub-millisecond hop to a slow model call.
const BUCKETS_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counters from the stages reported as their own metric families.
const MEDIA_COUNTERS: &[(&str, &str, &str)] = &[
    (
        "video_frames_dropped_late",
        "persona_video_frames_dropped_late_total",
        "Video frames the renderer skipped because they could only be drawn late.",
    ),
    (
        "sink_video_frames_dropped",
        "persona_video_frames_dropped_network_total",
        "Encoded video frames dropped because the network sender was behind.",
    ),
    (
        "playout_late_poses",
        "persona_playout_late_poses_total",
        "Frames shown with a held pose because motion was late.",
    ),
];

/// The whole `/metrics` page.
pub fn render(sessions: &Sessions) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let totals = sessions.totals();
    let live = sessions.live().len();
    gauge(
        &mut out,
        "persona_active_sessions",
        "Sessions holding a slot (created, starting or live).",
        sessions.active() as f64,
    );
    gauge(
        &mut out,
        "persona_live_sessions",
        "Sessions whose media is flowing.",
        live as f64,
    );
    gauge(
        &mut out,
        "persona_max_sessions",
        "The configured session limit.",
        sessions.limits().max_sessions as f64,
    );
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    labelled_counter(
        &mut out,
        ("persona_sessions_total", "event"),
        "Sessions by what happened to them.",
        &[
            ("created", load(&totals.created)),
            ("started", load(&totals.started)),
            ("ended", load(&totals.ended)),
            ("failed", load(&totals.failed)),
            ("panicked", load(&totals.panicked)),
        ],
    );
    labelled_counter(
        &mut out,
        ("persona_requests_rejected_total", "reason"),
        "Requests refused, by reason.",
        &[
            ("full", load(&totals.rejected_full)),
            ("token", load(&totals.rejected_auth)),
            ("origin", load(&totals.rejected_origin)),
            ("bad_offer", load(&totals.bad_offers)),
        ],
    );

    let snapshot = sessions.snapshot();
    let mut stages: Vec<_> = snapshot.stages.iter().collect();
    stages.sort_by_key(|(name, _)| **name);
    family(
        &mut out,
        "persona_stage_latency_seconds",
        "histogram",
        "Per-stage latency (input arrival to output), all sessions.",
    );
    for (stage, (histogram, _)) in &stages {
        for bound in BUCKETS_S {
            let bound_us = (bound * 1e6) as u64;
            let count = histogram.count_between(0, bound_us);
            let _ = writeln!(
                out,
                "persona_stage_latency_seconds_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {count}"
            );
        }
        let total = histogram.len();
        let sum_s = histogram.mean() * total as f64 / 1e6;
        let _ = writeln!(
            out,
            "persona_stage_latency_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "persona_stage_latency_seconds_sum{{stage=\"{stage}\"}} {sum_s}"
        );
        let _ = writeln!(
            out,
            "persona_stage_latency_seconds_count{{stage=\"{stage}\"}} {total}"
        );
    }
    let violations: Vec<(&str, u64)> = stages.iter().map(|(stage, (_, v))| (**stage, *v)).collect();
    labelled_counter(
        &mut out,
        ("persona_budget_violations_total", "stage"),
        "Stage outputs that took longer than the stage's budget.",
        &violations,
    );
    for (counter, metric, help) in MEDIA_COUNTERS {
        let value = snapshot.counters.get(counter).copied().unwrap_or(0);
        family(&mut out, metric, "counter", help);
        let _ = writeln!(out, "{metric} {value}");
    }
    out
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn labelled_counter(out: &mut String, (name, label): (&str, &str), help: &str, values: &[(&str, u64)]) {
    family(out, name, "counter", help);
    for (key, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
    }
}

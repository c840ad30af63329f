//! The report of a run: the table docs/reliability.md publishes.

use std::fmt::Write as _;

use crate::bounds::Bounds;
use crate::world::Inner;

/// Figures measured outside the shared state.
pub struct Extra {
    pub command: String,
    pub duration_secs: f64,
    pub accounts: usize,
    pub seed: u64,
    pub convergence_secs: Option<f64>,
    pub rest_writes: Option<u64>,
    pub rest_window_secs: f64,
    /// (process, first RSS KiB, last RSS KiB, slope KiB/min, judged)
    pub rss: Vec<(String, u64, u64, Option<f64>, String)>,
    pub quiesce_ops: u64,
}

/// The report of a run, in Markdown.
pub fn render(w: &Inner, bounds: &Bounds, extra: &Extra) -> String {
    let mut out = String::new();
    header(&mut out, extra);
    operations_table(&mut out, w, extra);
    faults_table(&mut out, w);
    figures_table(&mut out, w, extra);
    bounds_table(&mut out, bounds);
    violations_list(&mut out, w);
    out
}

/// The title (the command) and what was run.
fn header(out: &mut String, extra: &Extra) {
    let _ = writeln!(out, "## Soak: {}", extra.command);
    let _ = writeln!(
        out,
        "\n{} accounts, seed {}, {:.0} s of workload and faults.\n",
        extra.accounts, extra.seed, extra.duration_secs
    );
}

/// The operations by kind, then those that brought the workload to rest.
fn operations_table(out: &mut String, w: &Inner, extra: &Extra) {
    let _ = writeln!(out, "| operations by kind | count |\n|---|---|");
    for (k, n) in &w.ops {
        let _ = writeln!(out, "| {k} | {n} |");
    }
    let _ = writeln!(
        out,
        "| (quiescing: deletes and re-enables) | {} |",
        extra.quiesce_ops
    );
}

/// The faults by kind.
fn faults_table(out: &mut String, w: &Inner) {
    let _ = writeln!(out, "\n| faults by kind | count |\n|---|---|");
    for (k, n) in &w.faults {
        let _ = writeln!(out, "| {k} | {n} |");
    }
}

/// The figures measured: counts, lateness, convergence, writes at rest, memory, violations.
fn figures_table(out: &mut String, w: &Inner, extra: &Extra) {
    let _ = writeln!(out, "\n| figure | value |\n|---|---|");
    let _ = writeln!(out, "| leader changes | {} |", w.leader_changes);
    let _ = writeln!(out, "| token values seen | {} |", w.values.len());
    let _ = writeln!(
        out,
        "| exchanges accepted / refused / unanswered | {} / {} / {} |",
        w.exchanges_accepted, w.exchanges_refused, w.exchanges_failed
    );
    let _ = writeln!(out, "| JWTs verified with the JWKS | {} |", w.jwts_verified);
    let _ = writeln!(out, "| consistent snapshots checked | {} |", w.snapshots);
    let _ = writeln!(out, "| Events scanned as written | {} |", w.events_seen);
    let worst = w
        .lateness
        .iter()
        .map(|(k, v)| format!("{v:.2} s ({k})"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "| worst lateness of an accepted exchange, by end | {} |",
        if worst.is_empty() {
            "none accepted late".into()
        } else {
            worst
        }
    );
    let _ = writeln!(
        out,
        "| worst time an Active token's Secret disagreed | {:.1} s |",
        w.worst_settle
    );
    let _ = writeln!(
        out,
        "| convergence after the faults stopped | {} |",
        extra
            .convergence_secs
            .map_or("not reached".into(), |s| format!("{s:.1} s"))
    );
    let _ = writeln!(
        out,
        "| writes at rest over {:.0} s (Lease renewals aside) | {} |",
        extra.rest_window_secs,
        extra
            .rest_writes
            .map_or("not measured".into(), |n| n.to_string())
    );
    for (process, first, last, slope, judged) in &extra.rss {
        let _ = writeln!(
            out,
            "| RSS of {process}: start → end, slope | {:.1} MiB → {:.1} MiB, {} ({judged}) |",
            *first as f64 / 1024.0,
            *last as f64 / 1024.0,
            slope.map_or("n/a".into(), |s| format!("{s:+.0} KiB/min"))
        );
    }
    let _ = writeln!(out, "| invariant violations | {} |", w.violations.len());
}

/// The bounds, their formulas and values, and the parameters they are computed from.
fn bounds_table(out: &mut String, bounds: &Bounds) {
    let _ = writeln!(out, "\n| bound | formula | value |\n|---|---|---|");
    for (name, formula, value) in bounds.describe() {
        let _ = writeln!(out, "| {name} | {formula} | {:.1} s |", value.as_secs_f64());
    }
    let _ = writeln!(
        out,
        "\n(lease {:.0} s, retry {:.0} s, resync {:.0} s, latency up to {} ms, bursts up to {:.1} s, slack {:.0} s)",
        bounds.lease.as_secs_f64(),
        bounds.retry.as_secs_f64(),
        bounds.resync.as_secs_f64(),
        bounds.latency.as_millis(),
        bounds.burst.as_secs_f64(),
        bounds.slack.as_secs_f64()
    );
}

/// The violations, one per line, when there are any.
fn violations_list(out: &mut String, w: &Inner) {
    if !w.violations.is_empty() {
        let _ = writeln!(out, "\nViolations:");
        for v in &w.violations {
            let _ = writeln!(out, "- {v}");
        }
    }
}

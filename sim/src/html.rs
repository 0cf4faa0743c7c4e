//! Reports people look at: `report.html`, one page with a summary table and SVG plots drawn
//! by plotters (no script, no font files: the page opens from disk in any browser), beside the
//! JSON it was drawn from.
//!
//! A run's page: confirmation latency distribution, blocks per term, signer participation per
//! block (producer and stacker slots), rewards per producer, election rounds per term and the
//! fault timeline. A sweep's page: the same distributions over every seed, blocks per seed, and
//! the failing seeds with their reproduction commands.

use crate::report::Report;
use crate::sweep::SweepSummary;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("report directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
    #[error("plot {title:?}: {why}")]
    Plot { title: String, why: String },
    #[error("report JSON: {0}")]
    Json(#[from] serde_json::Error),
}

const W: u32 = 760;
const H: u32 = 320;
const BLUE_: RGBColor = RGBColor(52, 101, 164);
const ORANGE_: RGBColor = RGBColor(230, 126, 34);
const RED_: RGBColor = RGBColor(192, 57, 43);
const GREY_: RGBColor = RGBColor(120, 120, 120);

fn plot_err(title: &str) -> impl Fn(String) -> HtmlError + '_ {
    move |why| HtmlError::Plot {
        title: title.to_string(),
        why,
    }
}

/// A bar per labelled value.
fn bars(title: &str, x: &str, y: &str, data: &[(String, f64)]) -> Result<String, HtmlError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let e = plot_err(title);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        // A discrete range includes its end: n bars take 0..=n-1.
        let n = (data.len().max(1) - 1) as u32;
        let top = data.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1.0) * 1.1;
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => data
                .get(*i as usize)
                .map(|(l, _)| l.clone())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        // Long labels (fault kinds) read better beside horizontal bars.
        if data.iter().any(|(l, _)| l.len() > 9) {
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(170)
                .build_cartesian_2d(0f64..top, (0u32..n).into_segmented())
                .map_err(|x| e(x.to_string()))?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc(y)
                .y_desc(x)
                .y_labels(data.len().min(40))
                .y_label_formatter(&label)
                .draw()
                .map_err(|x| e(x.to_string()))?;
            chart
                .draw_series(
                    Histogram::horizontal(&chart)
                        .style(BLUE_.filled())
                        .margin(3)
                        .data(data.iter().enumerate().map(|(i, (_, v))| (i as u32, *v))),
                )
                .map_err(|x| e(x.to_string()))?;
        } else {
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((0u32..n).into_segmented(), 0f64..top)
                .map_err(|x| e(x.to_string()))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_desc(x)
                .y_desc(y)
                .x_labels(data.len().min(40))
                .x_label_formatter(&label)
                .draw()
                .map_err(|x| e(x.to_string()))?;
            chart
                .draw_series(
                    Histogram::vertical(&chart)
                        .style(BLUE_.filled())
                        .margin(3)
                        .data(data.iter().enumerate().map(|(i, (_, v))| (i as u32, *v))),
                )
                .map_err(|x| e(x.to_string()))?;
        }
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// At most this many bins: a long tail goes into one last bin.
const MAX_BINS: u64 = 40;

/// Counts of `values` in bins `bin` wide (wider when the values would need more than
/// [`MAX_BINS`]); values above the 99th percentile's bin share a last bin labelled `>= x`.
fn histogram(title: &str, x: &str, values: &[u64], bin: u64) -> Result<String, HtmlError> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let (lo, p99) = (
        sorted.first().copied().unwrap_or(0),
        crate::sweep::quantile(&sorted, 0.99),
    );
    let mut bin = bin.max(1);
    while (p99 / bin).saturating_sub(lo / bin) + 1 > MAX_BINS {
        bin *= 2;
    }
    let (first, last) = (lo / bin, p99 / bin);
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for v in values {
        *counts.entry((v / bin).min(last + 1)).or_default() += 1;
    }
    let top = if counts.contains_key(&(last + 1)) {
        last + 1
    } else {
        last
    };
    let data: Vec<(String, f64)> = (first..=top)
        .map(|k| {
            let label = if k > last {
                format!(">= {}", k * bin)
            } else {
                format!("{}", k * bin)
            };
            (label, counts.get(&k).copied().unwrap_or(0) as f64)
        })
        .collect();
    bars(title, &format!("{x}, bins of {bin}"), "count", &data)
}

/// A named, coloured set of points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// Points (x, y) per named series.
fn scatter(
    title: &str,
    x: &str,
    y: &str,
    series: &[Series<'_>],
    y_range: Option<(f64, f64)>,
    rows: Option<&[&str]>,
) -> Result<String, HtmlError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let e = plot_err(title);
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let all = series.iter().flat_map(|(_, _, p)| p.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (a, b) in all {
            x0 = x0.min(*a);
            x1 = x1.max(*a);
            y0 = y0.min(*b);
            y1 = y1.max(*b);
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if let Some((a, b)) = y_range {
            (y0, y1) = (a, b);
        }
        let pad = ((x1 - x0) * 0.03).max(0.5);
        let ypad = ((y1 - y0) * 0.08).max(0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0 - pad)..(x1 + pad), (y0 - ypad)..(y1 + ypad))
            .map_err(|x| e(x.to_string()))?;
        // Rows of a timeline are named, one label per row.
        let row_label = |v: &f64| {
            let i = v.round();
            match rows {
                Some(names) if (v - i).abs() < 1e-6 && i >= 0.0 => names
                    .get(i as usize)
                    .map_or(String::new(), |n| n.to_string()),
                Some(_) => String::new(),
                None => format!("{v:.0}"),
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x).y_desc(y).y_label_formatter(&row_label);
        if let Some(names) = rows {
            mesh.y_labels(names.len() + 1);
        }
        mesh.draw().map_err(|x| e(x.to_string()))?;
        for (name, color, points) in series {
            let c = *color;
            chart
                .draw_series(points.iter().map(move |p| Circle::new(*p, 3, c.filled())))
                .map_err(|x| e(x.to_string()))?
                .label(*name)
                .legend(move |(a, b)| Circle::new((a + 8, b), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(GREY_)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|x| e(x.to_string()))?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, summary: &[(String, String)], sections: &[(String, String)]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>\
body{{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}\
h2{{margin-top:1.6em;font-size:1.1em}}.fail{{color:#c0392b;font-weight:bold}}.ok{{color:#27ae60;font-weight:bold}}\
code{{background:#f3f3f3;padding:1px 4px}}</style></head><body>\n<h1>{t}</h1>\n<table>\n",
        t = escape(title)
    );
    for (k, v) in summary {
        // Values are produced here and may carry markup (the status cell); keys are plain.
        let _ = writeln!(h, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
    }
    h.push_str("</table>\n");
    for (heading, body) in sections {
        let _ = writeln!(h, "<h2>{}</h2>\n{body}", escape(heading));
    }
    h.push_str("</body></html>\n");
    h
}

fn status(passed: bool, what: &str) -> String {
    if passed {
        "<span class=\"ok\">passed</span>".to_string()
    } else {
        format!("<span class=\"fail\">FAILED</span> {}", escape(what))
    }
}

fn write_files(dir: &Path, html: &str, json_name: &str, json: &str) -> Result<(), HtmlError> {
    let io = |source| HtmlError::Io {
        dir: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // Written beside and renamed, so a reader never sees half a page.
    for (name, body) in [("report.html", html), (json_name, json)] {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, body).map_err(io)?;
        std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
    }
    Ok(())
}

fn checks_list(r: &Report) -> String {
    let mut h = String::from("<ul>\n");
    for (kind, list) in [
        ("safety", &r.checks.safety),
        ("liveness", &r.checks.liveness),
        ("conservation", &r.checks.conservation),
    ] {
        for f in list {
            let _ = writeln!(h, "<li class=\"fail\">{kind}: {}</li>", escape(f));
        }
    }
    for n in &r.checks.not_promised {
        let _ = writeln!(h, "<li>liveness not promised: {}</li>", escape(n));
    }
    if r.checks.passed() && r.checks.not_promised.is_empty() {
        h.push_str("<li class=\"ok\">every check passed, every term promised</li>\n");
    }
    h.push_str("</ul>\n");
    h
}

fn breakdown_bars(b: &crate::report::Breakdown) -> Vec<(String, f64)> {
    vec![
        ("candidate window".into(), b.candidate_window_ms as f64),
        ("producer commit".into(), b.producer_commit_ms as f64),
        ("producer signing".into(), b.producer_signing_ms as f64),
        ("stacker commit".into(), b.stacker_commit_ms as f64),
        ("stacker signing".into(), b.stacker_signing_ms as f64),
    ]
}

/// The sections of one run's page.
fn run_sections(r: &Report) -> Result<Vec<(String, String)>, HtmlError> {
    let latency: Vec<u64> = r.blocks.iter().filter_map(|b| b.latency_ms).collect();
    let mut sections = vec![("Checks".to_string(), checks_list(r))];
    sections.push((
        "Confirmation latency".to_string(),
        histogram(
            "Candidate proposed to both signatures, per block",
            "latency (ms)",
            &latency,
            100,
        )?,
    ));
    let b = &r.latency_breakdown;
    sections.push((
        "Where the latency goes".to_string(),
        bars(
            "Median of each phase over the blocks",
            "phase",
            "ms",
            &breakdown_bars(b),
        )?,
    ));
    let per_term: Vec<(String, f64)> = r
        .terms
        .iter()
        .map(|t| (format!("term {}", t.term), f64::from(t.blocks)))
        .collect();
    sections.push((
        "Blocks per term".to_string(),
        bars("Blocks in the final chain", "term", "blocks", &per_term)?,
    ));
    let pct = |slots: u32, total: u32| {
        if total == 0 {
            0.0
        } else {
            100.0 * f64::from(slots) / f64::from(total)
        }
    };
    let totals: BTreeMap<u32, (u32, u32)> = r
        .terms
        .iter()
        .map(|t| (t.term, (t.producer_slots.total, t.stacker_slots.total)))
        .collect();
    let producers: Vec<(f64, f64)> = r
        .blocks
        .iter()
        .map(|b| {
            let total = totals.get(&b.term).map_or(0, |t| t.0);
            (b.height as f64, pct(b.producer_slots, total))
        })
        .collect();
    let stackers: Vec<(f64, f64)> = r
        .blocks
        .iter()
        .map(|b| {
            let total = totals.get(&b.term).map_or(0, |t| t.1);
            (b.height as f64, pct(b.stacker_slots, total))
        })
        .collect();
    sections.push((
        "Signer participation".to_string(),
        scatter(
            "Signer slots marked in each block's signatures",
            "Stacks height",
            "% of the set's slots",
            &[
                ("producers", BLUE_, producers),
                ("stackers", ORANGE_, stackers),
            ],
            Some((0.0, 100.0)),
            None,
        )?,
    ));
    let coinbase: Vec<(String, f64)> = r
        .rewards
        .iter()
        .map(|p| (p.producer.clone(), p.coinbase_ustx as f64 / 1e6))
        .collect();
    let fees: Vec<(String, f64)> = r
        .rewards
        .iter()
        .map(|p| (p.producer.clone(), p.fees_ustx as f64 / 1e6))
        .collect();
    sections.push((
        "Rewards per producer".to_string(),
        format!(
            "{}{}",
            bars(
                "Coinbase (pro rata to every producer)",
                "producer",
                "STX",
                &coinbase
            )?,
            bars(
                "Fees (to the producers that signed)",
                "producer",
                "STX",
                &fees
            )?
        ),
    ));
    let rounds: Vec<(String, f64)> = r
        .terms
        .iter()
        .map(|t| (format!("term {}", t.term), f64::from(t.election_rounds)))
        .collect();
    sections.push((
        "Election rounds".to_string(),
        bars(
            "Rounds until the term's last leader was elected",
            "term",
            "rounds",
            &rounds,
        )?,
    ));
    let mut kinds: Vec<&str> = r.fault_timeline.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let nodes: Vec<&str> = {
        let mut n: Vec<&str> = r.fault_timeline.iter().map(|f| f.node.as_str()).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    let palette = [BLUE_, ORANGE_, RED_, GREY_, GREEN, MAGENTA, CYAN];
    let series: Vec<Series<'_>> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let points = r
                .fault_timeline
                .iter()
                .filter(|f| f.kind == *k)
                .map(|f| {
                    let y = nodes.iter().position(|n| *n == f.node).unwrap_or(0);
                    (f.at_ms as f64 / 1000.0, y as f64)
                })
                .collect();
            (*k, palette[i % palette.len()], points)
        })
        .collect();
    let timeline = if series.is_empty() {
        "<p>No node committed a fault.</p>".to_string()
    } else {
        let ys: Vec<f64> = (0..nodes.len()).map(|i| i as f64).collect();
        let span = (
            ys.first().copied().unwrap_or(0.0),
            ys.last().copied().unwrap_or(0.0),
        );
        scatter(
            "Faults committed",
            "simulated time (s)",
            "node",
            &series,
            Some(span),
            Some(&nodes),
        )?
    };
    sections.push(("Fault timeline".to_string(), timeline));
    Ok(sections)
}

/// `report.html` and `report.json` for one run.
pub fn write_run(dir: &Path, r: &Report) -> Result<(), HtmlError> {
    let latency = {
        let mut v: Vec<u64> = r.blocks.iter().filter_map(|b| b.latency_ms).collect();
        v.sort_unstable();
        v
    };
    let byz: Vec<String> = r
        .byzantine
        .iter()
        .map(|b| {
            format!(
                "{} ({} from term {})",
                b.node,
                b.kinds.join(", "),
                b.from_term
            )
        })
        .collect();
    let summary = vec![
        ("scenario".to_string(), escape(&r.scenario)),
        ("seed".to_string(), r.seed.to_string()),
        ("checks".to_string(), status(r.checks.passed(), "")),
        (
            "nodes".to_string(),
            format!("{} (report from {})", r.nodes, escape(&r.observer)),
        ),
        ("chain height".to_string(), r.chain_height.to_string()),
        (
            "latency".to_string(),
            format!(
                "p50 {} ms, p99 {} ms over {} blocks",
                crate::sweep::quantile(&latency, 0.5),
                crate::sweep::quantile(&latency, 0.99),
                latency.len()
            ),
        ),
        (
            "byzantine".to_string(),
            if byz.is_empty() {
                "none".to_string()
            } else {
                escape(&byz.join("; "))
            },
        ),
        (
            "faults committed".to_string(),
            r.faults_committed.to_string(),
        ),
        (
            "links".to_string(),
            format!(
                "{} dropped, {} duplicated, {} delayed, {} lost to partitions",
                r.links.dropped, r.links.duplicated, r.links.delayed, r.links.partitioned
            ),
        ),
        ("digest".to_string(), format!("<code>{}</code>", r.digest)),
    ];
    let html = page(
        &format!("Tandem simulation: {} (seed {})", r.scenario, r.seed),
        &summary,
        &run_sections(r)?,
    );
    write_files(dir, &html, "report.json", &serde_json::to_string_pretty(r)?)
}

/// `report.html` and `summary.json` for a sweep.
pub fn write_sweep(dir: &Path, s: &SweepSummary, reports: &[Report]) -> Result<(), HtmlError> {
    let summary = vec![
        ("scenario".to_string(), escape(&s.scenario)),
        (
            "seeds".to_string(),
            format!("{} from {}", s.seeds, s.first_seed),
        ),
        (
            "checks".to_string(),
            status(s.passed(), &format!("on {} seeds", s.failing.len())),
        ),
        ("runs with a fork".to_string(), s.forks.to_string()),
        (
            "liveness failures (terms)".to_string(),
            s.liveness_failures.to_string(),
        ),
        (
            "terms without a liveness promise".to_string(),
            s.not_promised_terms.to_string(),
        ),
        (
            "blocks per term".to_string(),
            format!(
                "min {}, median {}, max {}",
                s.blocks_per_term.min, s.blocks_per_term.median, s.blocks_per_term.max
            ),
        ),
        (
            "latency".to_string(),
            format!("p50 {} ms, p99 {} ms", s.latency_p50_ms, s.latency_p99_ms),
        ),
        (
            "faults committed".to_string(),
            s.faults_committed.to_string(),
        ),
    ];
    let mut sections = Vec::new();
    let mut failing = String::new();
    if s.failing.is_empty() {
        failing.push_str("<p class=\"ok\">No seed broke a promise.</p>\n");
    } else {
        failing.push_str("<table><tr><th>seed</th><th>what failed</th><th>reproduce</th></tr>\n");
        for f in &s.failing {
            let _ = writeln!(
                failing,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                f.seed,
                escape(&f.failures.join("; ")),
                escape(&f.reproduce)
            );
        }
        failing.push_str("</table>\n");
    }
    sections.push(("Failing seeds".to_string(), failing));
    let latency: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.blocks.iter().filter_map(|b| b.latency_ms))
        .collect();
    sections.push((
        "Confirmation latency, every block of every seed".to_string(),
        histogram(
            "Candidate proposed to both signatures",
            "latency (ms)",
            &latency,
            250,
        )?,
    ));
    sections.push((
        "Where the latency goes".to_string(),
        bars(
            "Median of each phase over every block",
            "phase",
            "ms",
            &breakdown_bars(&s.latency_breakdown),
        )?,
    ));
    let per_term: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.terms.iter().map(|t| u64::from(t.blocks)))
        .collect();
    sections.push((
        "Blocks per term".to_string(),
        histogram(
            "Terms by the number of blocks they made",
            "blocks in the term",
            &per_term,
            1,
        )?,
    ));
    let ok: Vec<(f64, f64)> = reports
        .iter()
        .filter(|r| r.checks.passed())
        .map(|r| (r.seed as f64, r.chain_height as f64))
        .collect();
    let bad: Vec<(f64, f64)> = reports
        .iter()
        .filter(|r| !r.checks.passed())
        .map(|r| (r.seed as f64, r.chain_height as f64))
        .collect();
    sections.push((
        "Blocks per seed".to_string(),
        scatter(
            "Chain height at the end of each run",
            "seed",
            "blocks",
            &[("checks passed", BLUE_, ok), ("a check failed", RED_, bad)],
            None,
            None,
        )?,
    ));
    let rounds: Vec<u64> = reports
        .iter()
        .flat_map(|r| r.terms.iter().map(|t| u64::from(t.election_rounds)))
        .collect();
    sections.push((
        "Election rounds".to_string(),
        histogram(
            "Terms by rounds until their last leader",
            "rounds",
            &rounds,
            1,
        )?,
    ));
    let participation: Vec<u64> = reports
        .iter()
        .flat_map(|r| {
            let totals: BTreeMap<u32, u32> = r
                .terms
                .iter()
                .map(|t| (t.term, t.producer_slots.total))
                .collect();
            r.blocks
                .iter()
                .filter_map(move |b| {
                    let total = *totals.get(&b.term)?;
                    (total > 0).then(|| u64::from(b.producer_slots) * 100 / u64::from(total))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    sections.push((
        "Producer signer participation".to_string(),
        histogram(
            "Blocks by the share of producer slots that signed",
            "% of slots",
            &participation,
            5,
        )?,
    ));
    let faults: Vec<(String, f64)> = {
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        for r in reports {
            for f in &r.fault_timeline {
                *by_kind.entry(f.kind.as_str()).or_default() += 1;
            }
        }
        by_kind
            .into_iter()
            .map(|(k, n)| (k.to_string(), n as f64))
            .collect()
    };
    sections.push((
        "Faults committed".to_string(),
        if faults.is_empty() {
            "<p>No node committed a fault.</p>".to_string()
        } else {
            bars(
                "Faults committed, by kind, over every seed",
                "kind",
                "count",
                &faults,
            )?
        },
    ));
    let html = page(
        &format!("Tandem sweep: {} ({} seeds)", s.scenario, s.seeds),
        &summary,
        &sections,
    );
    write_files(
        dir,
        &html,
        "summary.json",
        &serde_json::to_string_pretty(s)?,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn plots_are_svg_with_their_titles_and_labels() {
        let svg = bars(
            "Blocks & <more>",
            "term",
            "blocks",
            &[("term 2".into(), 8.0), ("term 3".into(), 5.0)],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        assert!(svg.contains("term 2") && svg.contains("term 3"));
        assert!(svg.contains("Blocks &amp; &lt;more&gt;"));
        let h = histogram("Latency", "ms", &[100, 120, 350], 100).unwrap();
        assert!(h.contains("<rect"));
        // No data still draws an (empty) plot rather than failing.
        assert!(histogram("Empty", "ms", &[], 100)
            .unwrap()
            .starts_with("<svg"));
        assert!(scatter("None", "x", "y", &[], None, None)
            .unwrap()
            .starts_with("<svg"));
    }

    #[test]
    fn pages_escape_what_they_show() {
        let p = page(
            "a <b>",
            &[("k&".into(), "v".into())],
            &[("h<".into(), "<p>x</p>".into())],
        );
        assert!(p.contains("<title>a &lt;b&gt;</title>"));
        assert!(p.contains("<th>k&amp;</th>"));
        assert!(p.contains("<h2>h&lt;</h2>\n<p>x</p>"));
    }
}

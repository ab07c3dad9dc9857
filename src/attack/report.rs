//! Human-readable views of an attack run: a terminal table and an HTML
//! report with the adversarial examples (changes highlighted) and the
//! success-rate-vs-confidence (HotFlip Figure 2) and operations (Figure 4)
//! charts as inline SVG.

use std::fmt::Write;

use crate::attack::result::{tau_key, ExampleResult, Summary, TAUS};

/// The summary as an aligned text table.
pub fn table(s: &Summary) -> String {
    let mut t = String::new();
    let row = |t: &mut String, k: &str, v: String| {
        let _ = writeln!(t, "  {k:<34} {v}");
    };
    // Characters obey the budget; words obey --max-changes.
    let (unit, limit) = match (s.level.as_str(), s.max_changes) {
        ("char", None) => ("characters", format!("budget {:.0}% of characters", 100.0 * s.budget)),
        ("char", Some(m)) => ("characters", format!("at most {m} changes (--max-changes)")),
        (_, Some(m)) => ("words", format!("at most {m} word changes (--max-changes)")),
        (_, None) => ("words", format!("budget {:.0}% of words", 100.0 * s.budget)),
    };
    let _ = writeln!(t, "{} ({} level, beam {}, τ {}, {limit})", s.method, s.level, s.beam, s.tau);
    if !s.model.is_empty() {
        row(&mut t, "model / data", format!("{} / {}", s.model, s.dataset));
    }
    row(&mut t, "attacked / skipped (misclassified)", format!("{} / {}", s.attacked, s.skipped));
    row(&mut t, "success rate", format!("{:.2}% ({} examples)", 100.0 * s.success_rate, s.successes));
    let curve: Vec<String> = TAUS
        .iter()
        .map(|&x| {
            let bound = if is_bound(s, x) { "≥" } else { "" };
            format!("{}: {bound}{:.1}%", tau_key(x), 100.0 * s.success_by_tau.get(&tau_key(x)).copied().unwrap_or(0.0))
        })
        .collect();
    row(&mut t, "success by τ", curve.join("  "));
    if !s.success_by_tau_lower_bounds.is_empty() {
        row(
            &mut t,
            "",
            format!("(≥: lower bound; the search stops at τ {}: attack with --tau 0.9 for the rate)", s.tau),
        );
    }
    row(
        &mut t,
        &format!("mean {unit} changed"),
        format!("{:.2}% ({:.2} changes)", 100.0 * s.mean_frac_changed, s.mean_changes),
    );
    let hist: Vec<String> =
        ["1", "2", "3+"].iter().map(|k| format!("{k}: {}", s.changes_hist.get(*k).copied().unwrap_or(0))).collect();
    row(&mut t, "successes by changes", hist.join("  "));
    let ops: Vec<String> = s.op_share.iter().map(|(k, v)| format!("{k} {:.1}%", 100.0 * v)).collect();
    row(&mut t, "operations", if ops.is_empty() { "-".into() } else { ops.join("  ") });
    row(
        &mut t,
        "passes per example (fwd / bwd)",
        format!("{:.1} / {:.1}", s.forward_passes_per_example, s.backward_passes_per_example),
    );
    let secs: Vec<String> = s.seconds_by_changes.iter().map(|(k, v)| format!("{k}: {v:.3}")).collect();
    row(&mut t, "seconds per example", format!("{:.4} (by changes: {})", s.seconds_per_example, secs.join("  ")));
    if let Some(r) = s.fidelity_correlation {
        row(
            &mut t,
            "first-order vs actual loss change",
            format!(
                "r = {r:.3} over {} changes (mean {:.3} vs {:.3})",
                s.fidelity_pairs,
                s.mean_predicted.unwrap_or(f64::NAN),
                s.mean_actual.unwrap_or(f64::NAN)
            ),
        );
    }
    if s.unchanged > 0 {
        row(&mut t, "unchanged (no allowed change)", format!("{} of {} attacked", s.unchanged, s.attacked));
    }
    if let Some(h) = &s.hint {
        let _ = writeln!(t, "  note: {h}");
    }
    t
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Whether the rate at `t` is only a lower bound (above the run's τ).
fn is_bound(s: &Summary, t: f32) -> bool {
    s.success_by_tau_lower_bounds.contains(&tau_key(t))
}

/// A line chart of the success rate against τ: measured points filled on a
/// solid line; lower bounds (above the run's τ) hollow on a dashed one.
fn tau_chart(s: &Summary) -> String {
    let (w, h, m) = (420.0, 240.0, 40.0);
    let x = |t: f32| m + (t as f64 - 0.5) / 0.4 * (w - 2.0 * m);
    let y = |r: f64| h - m - r * (h - 2.0 * m);
    let mut svg = format!(r#"<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" font-size="11">"#);
    let _ = write!(svg, r##"<line x1="{m}" y1="{}" x2="{}" y2="{}" stroke="#333"/>"##, h - m, w - m, h - m);
    let _ = write!(svg, r##"<line x1="{m}" y1="{m}" x2="{m}" y2="{}" stroke="#333"/>"##, h - m);
    for k in 0..=4 {
        let r = k as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{:.0}%</text><line x1="{m}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            m - 4.0,
            y(r) + 4.0,
            100.0 * r,
            y(r),
            w - m,
            y(r)
        );
    }
    let pt = |t: f32| format!("{:.1},{:.1}", x(t), y(s.success_by_tau.get(&tau_key(t)).copied().unwrap_or(0.0)));
    let measured: Vec<String> = TAUS.iter().filter(|&&t| !is_bound(s, t)).map(|&t| pt(t)).collect();
    // The dashed part starts at the last measured point.
    let bounds: Vec<String> = TAUS
        .iter()
        .enumerate()
        .filter(|&(i, &t)| is_bound(s, t) || TAUS.get(i + 1).is_some_and(|&n| is_bound(s, n)))
        .map(|(_, &t)| pt(t))
        .collect();
    let _ =
        write!(svg, r##"<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{}"/>"##, measured.join(" "));
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4 3" points="{}"/>"##,
        bounds.join(" ")
    );
    for &t in &TAUS {
        let r = s.success_by_tau.get(&tau_key(t)).copied().unwrap_or(0.0);
        let fill = if is_bound(s, t) { "white" } else { "#c0392b" };
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{fill}" stroke="#c0392b"/><text x="{:.1}" y="{}" text-anchor="middle">{}</text>"##,
            x(t),
            y(r),
            x(t),
            h - m + 14.0,
            tau_key(t)
        );
    }
    if !s.success_by_tau_lower_bounds.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">hollow, dashed: lower bound (search stopped at τ {})</text>"#,
            w - m,
            m - 8.0,
            s.tau
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">confidence threshold τ</text></svg>"#,
        w / 2.0,
        h - 6.0
    );
    svg
}

/// A bar chart of the operations' shares.
fn ops_chart(s: &Summary) -> String {
    let (w, bar_h) = (420.0, 26.0);
    let h = 20.0 + bar_h * s.op_share.len().max(1) as f64;
    let mut svg = format!(r#"<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" font-size="12">"#);
    for (i, (op, share)) in s.op_share.iter().enumerate() {
        let y = 10.0 + i as f64 * bar_h;
        let len = share * (w - 140.0);
        let _ = write!(
            svg,
            r##"<text x="0" y="{:.1}">{}</text><rect x="70" y="{y:.1}" width="{len:.1}" height="{:.1}" fill="#2980b9"/><text x="{:.1}" y="{:.1}">{:.1}%</text>"##,
            y + 16.0,
            esc(op),
            bar_h - 6.0,
            76.0 + len,
            y + 16.0,
            100.0 * share
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The adversarial text with changed words marked and, inside them, the
/// new characters emphasised.
fn marked_text(r: &ExampleResult) -> String {
    let words: Vec<&str> = r.adv_text.split_whitespace().collect();
    let changed: std::collections::HashMap<usize, &crate::attack::result::Change> =
        r.changes.iter().map(|c| (c.word, c)).collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        match changed.get(&i) {
            Some(c) if c.op == "flip" || c.op == "insert" => {
                let chars: Vec<char> = w.chars().collect();
                let mut s = String::new();
                for (j, ch) in chars.iter().enumerate() {
                    if j == c.pos {
                        let _ = write!(s, "<b>{}</b>", esc(&ch.to_string()));
                    } else {
                        s.push_str(&esc(&ch.to_string()));
                    }
                }
                out.push(format!(
                    r#"<mark title="{} {} → {}">{s}</mark>"#,
                    esc(&c.op),
                    esc(&c.word_before),
                    esc(&c.word_after)
                ));
            }
            Some(c) => out.push(format!(
                r#"<mark title="{} {} → {}">{}<s>{}</s></mark>"#,
                esc(&c.op),
                esc(&c.word_before),
                esc(&c.word_after),
                esc(w),
                esc(&c.from)
            )),
            None => out.push(esc(w)),
        }
    }
    out.join(" ")
}

fn label(labels: &[String], i: usize) -> String {
    labels.get(i).cloned().unwrap_or_else(|| i.to_string())
}

/// A self-contained HTML page.
pub fn html(s: &Summary, results: &[ExampleResult], labels: &[String]) -> String {
    let mut page = String::from(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>hotflip attack report</title><style>
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:left}
mark{background:#fde2a7;padding:0 2px}mark b{color:#c0392b}mark s{color:#999}
.ex{border:1px solid #ddd;border-radius:6px;padding:10px;margin:12px 0}.ok{color:#1e8449}.no{color:#922b21}
.small{color:#666;font-size:90%}.charts{display:flex;gap:30px;flex-wrap:wrap}
</style></head><body>"#,
    );
    let _ = write!(
        page,
        "<h1>HotFlip attack: {}</h1><p>model <code>{}</code>, data <code>{}</code></p><pre>{}</pre>",
        esc(&s.method),
        esc(&s.model),
        esc(&s.dataset),
        esc(&table(s))
    );
    let _ = write!(
        page,
        r#"<div class="charts"><div><h3>Success rate vs confidence threshold</h3>{}</div><div><h3>Operations of successful attacks</h3>{}</div></div>"#,
        tau_chart(s),
        ops_chart(s)
    );
    let mut shown: Vec<&ExampleResult> = results.iter().filter(|r| !r.skipped).collect();
    shown.sort_by_key(|r| (!r.success, r.index));
    let _ = write!(page, "<h2>Examples ({} attacked; successful first)</h2>", shown.len());
    for r in shown {
        let verdict =
            if r.success { r#"<span class="ok">success</span>"# } else { r#"<span class="no">failed</span>"# };
        let _ = write!(
            page,
            r#"<div class="ex"><div>#{} {verdict}: {} ({:.1}%) → {} ({:.1}%) with {} change(s), {:.2}% of characters</div>
<div class="small">original</div><div>{}</div><div class="small">adversarial</div><div>{}</div></div>"#,
            r.index,
            esc(&label(labels, r.orig_pred)),
            100.0 * r.orig_prob,
            esc(&label(labels, r.adv_pred)),
            100.0 * r.adv_prob,
            r.changes.len(),
            100.0 * r.frac_changed,
            esc(&r.orig_text),
            marked_text(r)
        );
    }
    page.push_str("</body></html>\n");
    page
}

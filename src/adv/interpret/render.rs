//! The interpretation's views: a terminal line per word and an HTML heat map.

use super::Interpretation;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// What the terminal view's notation means; printed once above the texts.
pub const LEGEND: &str = "each word: word (→ \"w\" α) = iAdvT's perturbation at it points most towards word \"w\", with weight α (a text's α over all its words and K directions have L2 norm ε, so |α| ≤ ε; negative: pointing away); words without one are UNK or PAD";

/// What the tagger's terminal view adds to [`LEGEND`].
pub const TAGGER_LEGEND: &str = "tagger: word[label] = the word's gold label where it is not label 0 (e.g. [i], an error); the last line gives P(label 1) at the replaced word before and after";

/// A terminal view: each word with its strongest direction and α (taggers:
/// gold labels other than 0 in brackets, and P(label 1) at the replaced word).
pub fn render_text(it: &Interpretation, labels: &[String]) -> String {
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let words: Vec<String> = it
        .words
        .iter()
        .map(|w| {
            let word = match w.gold {
                Some(g) if g != 0 => format!("{}[{}]", w.word, name(g)),
                _ => w.word.clone(),
            };
            match &w.direction {
                // Debug quoting: `*` or `]` as a direction word stays legible.
                Some(dir) => format!("{word} (→ {dir:?} {:.2})", w.alpha),
                None => word,
            }
        })
        .collect();
    let tagger = it.words.first().is_some_and(|w| w.p1.is_some());
    if tagger {
        let at = it.replaced.unwrap_or(0);
        let w = &it.words[at.min(it.words.len() - 1)];
        return format!(
            "{}\n  replacing the most perturbed word: \"{}\"; P({}) at \"{}\" {:.3} → {:.3}\n",
            words.join(" "),
            it.adv_text,
            name(1),
            w.word,
            w.p1.unwrap_or(f32::NAN),
            w.adv_p1.unwrap_or(f32::NAN)
        );
    }
    format!(
        "{}\n  prediction {} ({:.3}); replacing the most perturbed word: \"{}\" → {} ({:.3})\n",
        words.join(" "),
        name(it.pred),
        it.probs[it.pred],
        it.adv_text,
        name(it.adv_pred),
        it.adv_probs[it.adv_pred]
    )
}

/// An HTML heat map of the perturbation strength.
pub fn render_html(items: &[Interpretation], labels: &[String]) -> String {
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>iAdvT interpretation</title><style>\
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto}\
.t{margin:14px 0;padding:10px;border:1px solid #ddd;border-radius:6px;line-height:2.2}\
.w{padding:2px 4px;border-radius:3px;position:relative}\
.w sub{font-size:70%;color:#444}</style></head><body><h1>Interpretable adversarial perturbations</h1>\
<p>Each word is shaded by the strength α of its strongest direction (Sato et al. Figure 4); the subscript is the word that direction points to. For a tagger, words whose gold label is an error are underlined.</p>",
    );
    let max_alpha = items.iter().flat_map(|i| i.words.iter().map(|w| w.alpha)).fold(1e-12f32, f32::max);
    for it in items {
        s += "<div class=\"t\">";
        for w in &it.words {
            let a = (w.alpha / max_alpha).clamp(0.0, 1.0);
            let mut title = format!(
                "α {:.3}, ‖r‖ {:.3}; AdvT's nearest: {} (cos {:.2})",
                w.alpha,
                w.norm,
                w.advt_word.clone().unwrap_or_default(),
                w.advt_cos
            );
            if let Some(p) = w.p1 {
                title += &format!("; P({}) {p:.3}", name(1));
            }
            // Taggers: words whose gold label is not 0 (errors) are underlined.
            let mark = if w.gold.is_some_and(|g| g != 0) { "border-bottom:3px solid #222;" } else { "" };
            s += &format!(
                "<span class=\"w\" style=\"{mark}background:rgba(231,76,60,{a:.2})\" title=\"{}\">{}<sub>{}</sub></span> ",
                esc(&title),
                esc(&w.word),
                esc(w.direction.as_deref().unwrap_or(""))
            );
        }
        if let Some(w) = it.words.get(it.replaced.unwrap_or(0)).filter(|w| w.p1.is_some()) {
            s += &format!(
                "<div>with the most perturbed word replaced: <i>{}</i>; P({}) at “{}” {:.3} → {:.3}</div></div>",
                esc(&it.adv_text),
                esc(&name(1)),
                esc(&w.word),
                w.p1.unwrap_or(f32::NAN),
                w.adv_p1.unwrap_or(f32::NAN)
            );
            continue;
        }
        s += &format!(
            "<div>prediction <b>{}</b> ({:.3}) → with the most perturbed word replaced: <i>{}</i> → <b>{}</b> ({:.3})</div></div>",
            esc(&name(it.pred)),
            it.probs[it.pred],
            esc(&it.adv_text),
            esc(&name(it.adv_pred)),
            it.adv_probs[it.adv_pred]
        );
    }
    s += "</body></html>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adv::interpret::WordView;

    #[test]
    fn directions_are_quoted_and_the_legend_names_the_notation() {
        let view = |word: &str, dir: Option<&str>| WordView {
            word: word.into(),
            direction: dir.map(String::from),
            alpha: 0.37,
            norm: 1.0,
            advt_word: None,
            advt_cos: 0.0,
            gold: None,
            p1: None,
            adv_p1: None,
        };
        let it = Interpretation {
            text: "this *".into(),
            pred: 0,
            probs: vec![0.6, 0.4],
            words: vec![view("this", Some("*")), view("*", None)],
            adv_text: "* *".into(),
            replaced: Some(0),
            adv_pred: 1,
            adv_probs: vec![0.4, 0.6],
        };
        let t = render_text(&it, &["neg".into(), "pos".into()]);
        assert!(t.starts_with("this (→ \"*\" 0.37) *\n"), "{t}");
        assert!(!t.contains('['), "{t}");
        assert!(LEGEND.contains("(→ \"w\" α)"));
    }
}

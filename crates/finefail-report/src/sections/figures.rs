//! The plots' specifications: metric vs N per dataset (one line per model, CI band) and
//! per-question base-vs-fine-tuned scatters per (dataset, model, N), with their captions.

use std::collections::BTreeSet;

use finefail_score::{Comparison, ComparisonKind, Metric};

use super::{context_suffix, PlotSpec, CONTEXTS};
use crate::analysis::{base_arm, Analysis};
use crate::document::Block;
use crate::format::{ci_header, num, percent};
use crate::plots::{
    missing_glyphs, CurveLine, CurvePlot, CurvePoint, InContextLine, ReferenceLine, ScatterPlot,
    REPLACEMENT,
};

/// A sentence for a caption when the PNG cannot draw some characters of the plot's texts (names
/// in a script the shipped font lacks): which ones, and where the text is shown as it is.
pub(super) fn font_note(texts: Vec<&str>) -> String {
    let missing = missing_glyphs(texts);
    if missing.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = missing.iter().take(12).map(char::to_string).collect();
    let more = if missing.len() > 12 { ", …" } else { "" };
    format!(
        " The PNG version draws {}{more} as {REPLACEMENT} (its font covers Latin, Greek and \
         Cyrillic only); the SVG and report.html show the text as it is.",
        listed.join(" ")
    )
}

/// The majority-label baseline to draw on a curve of `metric`: on a label dataset's
/// `label_accuracy` only (a constant answer scores its label's share there and nothing
/// comparable elsewhere), as (label, share).
fn majority_line(a: &Analysis<'_>, dataset: &str, metric: Metric) -> Option<(&'static str, f64)> {
    if metric != Metric::LabelAccuracy || !a.is_label_dataset(dataset) {
        return None;
    }
    a.majority_label(dataset)
        .map(|(label, share, _)| (label.as_str(), share))
}

pub(super) fn curves(
    a: &Analysis<'_>,
    dataset: &str,
    models: &[String],
    blocks: &mut Vec<Block>,
    plots: &mut Vec<(String, PlotSpec)>,
) {
    let mut metrics: BTreeSet<Metric> = BTreeSet::new();
    for m in models {
        metrics.extend(a.primary_metrics(dataset, m));
    }
    for ctx in CONTEXTS {
        for &metric in &metrics {
            let mut lines = Vec::new();
            let mut in_context = Vec::new();
            for model in models {
                let mut entries: Vec<&Comparison> = a
                    .comparisons(dataset, Some(model))
                    .into_iter()
                    .filter(|c| c.context == ctx && c.metric == metric)
                    .collect();
                entries.sort_by_key(|c| c.n);
                let base = entries
                    .first()
                    .map(|c| c.base_mean)
                    .or_else(|| a.arm_mean(&base_arm(dataset, model, ctx), metric));
                let Some(base) = base else { continue };
                // The model's in-context arm (its `icl{K}` vs N = 0 entry: the treated mean), in
                // the colour of the model's first curve.
                in_context.extend(
                    a.input
                        .comparison
                        .comparisons
                        .iter()
                        .filter(|c| c.kind == ComparisonKind::VsIcl && c.n == 0)
                        .filter(|c| c.dataset == dataset && c.model == *model)
                        .filter(|c| c.context == ctx && c.metric == metric)
                        .map(|c| InContextLine {
                            label: format!("{model} · icl{}", c.icl_shots.unwrap_or(0)),
                            value: c.ft_mean,
                            line: lines.len(),
                        }),
                );
                // One line per training format when the study names several (`model · raft`).
                let mut formats: Vec<Option<&str>> =
                    entries.iter().map(|c| c.format.as_deref()).collect();
                formats.dedup();
                formats.sort();
                formats.dedup();
                if formats.is_empty() {
                    formats.push(None);
                }
                for format in formats {
                    let mut points = vec![CurvePoint {
                        n: 0.0,
                        mean: base,
                        low: base,
                        high: base,
                    }];
                    points.extend(
                        entries
                            .iter()
                            .filter(|c| c.format.as_deref() == format)
                            .map(|c| CurvePoint {
                                n: c.n as f64,
                                mean: c.ft_mean,
                                low: c.ci_low.map_or(c.ft_mean, |l| c.base_mean + l),
                                high: c.ci_high.map_or(c.ft_mean, |h| c.base_mean + h),
                            }),
                    );
                    lines.push(CurveLine {
                        label: match format {
                            Some(f) => format!("{model} · {f}"),
                            None => model.clone(),
                        },
                        points,
                    });
                }
            }
            if lines.is_empty() || lines.iter().all(|l| l.points.len() < 2) && !ctx.is_retrieved() {
                continue;
            }
            let stem = format!("{dataset}__{metric}__vs_n{}", context_suffix(ctx));
            let ctx_note = if ctx.is_retrieved() {
                String::new()
            } else {
                format!(" ({ctx} context)")
            };
            let majority = majority_line(a, dataset, metric);
            let majority_note = majority
                .as_ref()
                .map_or_else(String::new, |(label, share)| {
                    let share = num(*share);
                    format!(
                        " The dashed line is the majority-label baseline: always answering \
                         `{label}` scores {share}."
                    )
                });
            let icl_note = if in_context.is_empty() {
                ""
            } else {
                " A dotted line in a model's colour is its in-context arm (icl{K}: the base model \
                 shown K training examples in the prompt, mean over seeds)."
            };
            let plot = CurvePlot {
                title: format!("{dataset}: {metric} vs N{ctx_note}"),
                y_label: metric.to_string(),
                lines,
                reference: majority.map(|(label, value)| ReferenceLine {
                    label: format!("majority label ({label})"),
                    value,
                }),
                in_context,
            };
            blocks.push(Block::Figure {
                stem: stem.clone(),
                caption: format!(
                    "{dataset}: {metric} vs training size N{ctx_note}, one line per model; points \
                     are means (N > 0: per question averaged over seeds), the band is the base mean \
                     plus the {} of the paired difference.{majority_note}{icl_note}{}",
                    ci_header(1.0 - a.input.comparison.alpha),
                    font_note(plot.texts())
                ),
            });
            plots.push((stem, PlotSpec::Curve(plot)));
        }
    }
}

pub(super) fn scatters(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    primary: &[Metric],
    blocks: &mut Vec<Block>,
    plots: &mut Vec<(String, PlotSpec)>,
) {
    for ctx in CONTEXTS {
        // (N, training format): the format is named only when `sweep.formats` has several.
        let ns: BTreeSet<(u64, Option<&str>)> = a
            .arms
            .values()
            .filter(|x| x.dataset == dataset && x.model == model && x.context == ctx && x.n > 0)
            .map(|x| (x.n, x.format.as_deref()))
            .collect();
        for (size, format) in ns {
            let seeds = a.seed_arms(dataset, model, (size, format), ctx).len();
            // `raft__n50` in the file name and `N = raft 50` in the text when named.
            let (stem_n, n) = match format {
                Some(f) => (format!("{f}__n{size}"), format!("{f} {size}")),
                None => (format!("n{size}"), size.to_string()),
            };
            for &metric in primary {
                let pts = a.paired_points(dataset, model, (size, format), ctx, metric);
                if pts.is_empty() {
                    continue;
                }
                let above = pts.iter().filter(|(_, b, f)| f > b).count();
                let below = pts.iter().filter(|(_, b, f)| f < b).count();
                let tie = pts.len() - above - below;
                let jitter = if metric.is_binary() { 0.05 } else { 0.012 };
                let stem = format!(
                    "{dataset}__{model}__{stem_n}__{metric}__scatter{}",
                    context_suffix(ctx)
                );
                let ctx_note = if ctx.is_retrieved() {
                    String::new()
                } else {
                    format!(", {ctx} context")
                };
                let plot = ScatterPlot {
                    title: format!("{dataset} / {model}: N = {n} vs base{ctx_note}"),
                    axis: metric.to_string(),
                    points: pts.into_iter().map(|(_, b, f)| (b, f)).collect(),
                    jitter,
                };
                blocks.push(Block::Figure {
                    stem: stem.clone(),
                    caption: format!(
                        "{dataset} × {model}, N = {n}{ctx_note}: {metric} per question, base model \
                         (x) against the fine-tuned model averaged over {seeds} seed(s) (y). {above} \
                         question(s) above the diagonal (fine-tuned better), {below} below, {tie} on \
                         it. Points are jittered by at most {} of the axis so ties stay visible.{}",
                        percent(jitter),
                        font_note(plot.texts())
                    ),
                });
                plots.push((stem, PlotSpec::Scatter(plot)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caption names the characters its PNG replaced, and says nothing when there are none.
    #[test]
    fn font_note_names_what_the_png_replaced() {
        assert_eq!(font_note(vec!["modèle-β: token_f1 vs N", "Привет"]), "");
        let note = font_note(vec!["数据: token_f1", "数据"]);
        assert!(
            note.contains("draws 数 据 as \u{FFFD}") && note.contains("SVG"),
            "{note}"
        );
    }
}

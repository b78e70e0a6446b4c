//! The report's content: which tables, paragraphs and plots it has, in which order. Built once as
//! [`Block`]s (rendered to Markdown and HTML elsewhere) plus the plot specifications.

use finefail_core::AnswerContext;
use std::collections::BTreeSet;

use finefail_score::{Comparison, ComparisonKind, Metric, PrimarySource, Trend, Verdict};

use crate::analysis::Analysis;
use crate::document::Block;
use crate::format::{
    ci_header, interval, num, opt_num, p_value, p_value_at, percent, signed, MISSING,
};
use crate::plots::{CurvePlot, ForestPlot, ForestRow, RowVerdict, ScatterPlot};
use crate::{FineTuneSummary, ReportError};

mod figures;
mod labels;
mod losses;
mod tables;

use figures::{curves, font_note, scatters};
use labels::label_format_table;
use losses::{attribution_table, failure_counts, worst_regressions, LossCounts};
use tables::{base_only_models, baselines, metric_table};

/// Context kinds in report order.
pub(super) const CONTEXTS: [AnswerContext; 3] = AnswerContext::ALL;

/// A plot to draw: its file stem and what to draw.
pub(crate) enum PlotSpec {
    /// Metric vs N.
    Curve(CurvePlot),
    /// Base vs fine-tuned per question.
    Scatter(ScatterPlot),
    /// Every primary comparison's difference and CI.
    Forest(ForestPlot),
}

/// The report's blocks and the plots they refer to.
pub(crate) struct Content {
    pub title: String,
    pub blocks: Vec<Block>,
    pub plots: Vec<(String, PlotSpec)>,
}

/// The verdict's word, as `comparison.json` spells it.
pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    v.word()
}

fn context_title(context: AnswerContext) -> &'static str {
    match context {
        AnswerContext::None => "closed book (`@none`: no context)",
        AnswerContext::Gold => "gold context (`@gold`: the gold documents' chunks)",
        AnswerContext::Retrieved => "retrieved context (the RAG pipeline)",
    }
}

pub(super) fn context_suffix(context: AnswerContext) -> String {
    if context.is_retrieved() {
        String::new()
    } else {
        format!("__{context}")
    }
}

/// "How to read this", at the run's level `alpha` (CI level `1 − alpha`).
fn how_to_read(alpha: f64) -> String {
    let ci = ci_header(1.0 - alpha);
    format!(
        "Each arm is a (dataset, model, N, seed): N = 0 is the base model, N > 0 the base model \
fine-tuned with LoRA on N training questions. All arms of a dataset answer the same test questions \
from the same retrieved chunks, so they differ only in the generator. For every N > 0 the report \
pairs questions with the base arm: per question, the fine-tuned score is the mean over training \
seeds (and judge repeats), and **diff** is the mean of the per-question differences against N = 0. \
The question asked is about fine-tuning at N, not about one adapter: each seed's adapter is a random \
draw, so with several seeds the **{ci}** and **p** carry the seed-to-seed variance as well as the \
question-to-question one (a generalized pivot over the seeds × questions table; see docs/metrics.md). \
With one seed, training variance is *not assessed*: the CI is a seeded paired bootstrap over \
questions, p the exact sign-flip permutation test of the mean, and the verdict speaks about that one \
adapter: its verdict reads `helps (one adapter)` / `hurts (one adapter)`, never a plain `helps` / \
`hurts`. **p (Holm)** adjusts p within a family of **m** tests: by default the primary comparisons of \
one dataset, model and context (`stats.family`), seed-aware and one-seed comparisons apart, each \
control context (`@none`, `@gold`) its own. The CIs are not adjusted for the family (each is at \
{ci} on its own), so the summary prints the raw **p** beside them. The **verdict** is `helps` or \
`hurts` only when the Holm-adjusted p is below α = {alpha} and the CI excludes 0 on the side of the \
estimate; otherwise `inconclusive`, and the CI says which effects remain compatible with the data. \
**MDE** is the difference this design would detect with 80 % power at Holm's first-step level \
(α divided by the family size). The summary also sets each fine-tuned size against the previous \
one (column **vs N**; seeds paired by id), and the trend table gives the slope per doubling of N. **Wilcoxon** (a shift of the whole distribution) and McNemar are \
extra columns in `comparison.json`, never the verdict's test. **seed sd** is the spread of the \
per-seed means (training variance); **judge sd** the judge's spread across repeats. Secondary \
metrics are exploratory (unadjusted p, no verdict) and have their own section after the datasets; \
`abstained` and `answer_tokens` are descriptive."
    )
}

/// Builds the report's content from the analysed inputs.
pub(crate) fn build(a: &Analysis<'_>) -> Result<Content, ReportError> {
    let input = a.input;
    let title = format!("finefail report: {}", input.run_name);
    let mut blocks = vec![Block::Heading(1, title.clone())];
    let comps = &input.comparison.comparisons;
    let primary: Vec<&Comparison> = comps.iter().filter(|c| c.primary).collect();
    blocks.push(Block::Para(format!(
        "Config hash `{}`. {} dataset(s), {} arm(s), {} comparison(s), {} of them primary (in Holm families).",
        input.config_hash,
        input.datasets.len(),
        a.arms.len(),
        comps.len(),
        primary.len()
    )));
    if !input.kept_stale.is_empty() {
        let steps: Vec<String> = input
            .kept_stale
            .iter()
            .map(|k| format!("`{}` (code {} → {})", k.id, k.recorded, k.current))
            .collect();
        blocks.push(Block::Para(format!(
            "**Kept stale** (`finefail run --keep-stale`): {} step(s) made by another code version \
             were reused, not rerun, so their outputs may differ from what this code would write: \
             {}.",
            steps.len(),
            steps.join(", ")
        )));
    }
    // The answer first (findings, the forest plot, the tables), the reading guide after it.
    let alpha = input.comparison.alpha;
    let mut plots = Vec::new();
    let source = input.comparison.primary_source;
    let apart =
        comps.iter().any(|c| !c.primary) || input.comparison.trends.iter().any(|t| !t.primary);
    summary(&primary, (source, apart), alpha, &mut blocks, &mut plots);
    barely_trained(&input.fine_tunes, &mut blocks);
    trends(&input.comparison.trends, alpha, &mut blocks);
    blocks.push(Block::Heading(2, "How to read this".into()));
    blocks.push(Block::Para(how_to_read(alpha)));
    judge_errors(a, &mut blocks);

    for d in &input.datasets {
        dataset_section(a, &d.name, &mut blocks, &mut plots)?;
    }
    exploratory(comps, &input.comparison.trends, alpha, &mut blocks);
    Ok(Content {
        title,
        blocks,
        plots,
    })
}

fn summary(
    primary: &[&Comparison],
    (source, apart): (PrimarySource, bool),
    alpha: f64,
    blocks: &mut Vec<Block>,
    plots: &mut Vec<(String, PlotSpec)>,
) {
    blocks.push(Block::Heading(2, "Summary: primary comparisons".into()));
    if primary.is_empty() {
        blocks.push(Block::Para(
            "No primary comparison: the run has no fine-tuned arm (N > 0) to compare with the base model."
                .into(),
        ));
        return;
    }
    let count = |v: Verdict| primary.iter().filter(|c| c.verdict == Some(v)).count();
    let one_seed = primary
        .iter()
        .filter(|c| c.training_variance != finefail_score::TRAINING_VARIANCE_ASSESSED)
        .count();
    let mut text = format!(
        "{} helps, {} hurts, {} inconclusive (of {} primary comparisons at α = {alpha}, \
         Holm-adjusted within each family of m).",
        count(Verdict::Helps),
        count(Verdict::Hurts),
        count(Verdict::Inconclusive),
        primary.len()
    );
    if one_seed > 0 {
        text.push_str(&format!(
            " {one_seed} of them rest on one training seed ({} helps (one adapter), {} hurts \
             (one adapter)): training variance was not assessed there, so their verdicts speak \
             about that one adapter, not about fine-tuning at N.",
            count(Verdict::HelpsOneAdapter),
            count(Verdict::HurtsOneAdapter),
        ));
    }
    blocks.push(Block::Para(text));
    blocks.push(Block::Para(primary_statement(primary, source, apart)));
    blocks.push(Block::List(smallest_n(primary)));
    if let Some(plot) = forest_plot(primary) {
        blocks.push(Block::Figure {
            stem: FOREST.into(),
            caption: format!(
                "Every primary comparison: the difference (fine-tuned minus its reference size) \
                 with its {} (unadjusted), green = helps, red = hurts, grey = inconclusive; \
                 filled points compare with N = 0, hollow ones with the previous size{}.{}",
                ci_header(1.0 - alpha),
                if primary.iter().any(|c| crate::sides::is_alternative(c)) {
                    ", the in-context arm (icl) or another training format"
                } else {
                    ""
                },
                font_note(plot.texts())
            ),
        });
        plots.push((FOREST.into(), PlotSpec::Forest(plot)));
    }
    let few = primary.iter().filter(|c| c.seeds.len() < 3).count();
    if few > 0 {
        blocks.push(Block::Para(format!(
            "**Warning:** {few} of {} primary comparisons rest on fewer than 3 training seeds: \
             one seed speaks about one adapter only, two give the seed-aware test little power \
             (docs/metrics.md, \"Calibration\"); plan for 3 or more.",
            primary.len()
        )));
    }
    let rows = primary
        .iter()
        .map(|c| {
            let mut row = comparison_cells(c);
            row.extend([
                p_value_at(c.p, alpha),
                p_value_at(c.p_holm, alpha),
                c.m.map_or_else(|| MISSING.to_owned(), |m| m.to_string()),
                c.verdict.map_or(MISSING, verdict_word).to_owned(),
                opt_num(c.mde),
            ]);
            row
        })
        .collect();
    let ci = format!("{} (unadjusted)", ci_header(1.0 - alpha));
    blocks.push(Block::Table {
        header: comparison_header(&ci, &["p", "p (Holm)", "m", "verdict", "MDE"]),
        rows,
    });
}

/// Which metrics are primary (per dataset, from the comparisons marked primary) and who chose
/// them: the verdicts and Holm families rest on that choice, so the report names it. `apart`: the
/// run has secondary metrics, listed in the exploratory section.
fn primary_statement(primary: &[&Comparison], source: PrimarySource, apart: bool) -> String {
    let who = match source {
        PrimarySource::Default => {
            "chosen by the default rule: the judge's `accuracy` and `completeness` when a judge \
             ran, `label_accuracy` on a label dataset, else `token_f1` and `answer_recall`"
        }
        PrimarySource::Config => "set in the config (`stats.primary`)",
    };
    let mut datasets: Vec<(&str, BTreeSet<Metric>)> = Vec::new();
    for c in primary {
        match datasets.iter_mut().find(|(d, _)| *d == c.dataset) {
            Some((_, set)) => {
                set.insert(c.metric);
            }
            None => datasets.push((c.dataset.as_str(), BTreeSet::from([c.metric]))),
        }
    }
    let listed: Vec<String> = datasets
        .iter()
        .map(|(d, set)| {
            let names: Vec<String> = set.iter().map(|m| format!("`{m}`")).collect();
            format!("`{d}`: {}", names.join(", "))
        })
        .collect();
    let rest = if apart {
        format!(
            " Only these get a verdict and a Holm family; every other metric is exploratory and \
             listed apart under \"{EXPLORATORY}\" further down."
        )
    } else {
        " Only these get a verdict and a Holm family.".to_owned()
    };
    format!("**Primary metrics** ({who}): {}.{rest}", listed.join("; "))
}

/// The heading of the exploratory section, named by the summary.
const EXPLORATORY: &str = "Exploratory metrics (no verdict, unadjusted)";

/// The secondary (non-primary) comparisons and trends, in a section of their own after the
/// datasets: the same numbers as the primaries, but no Holm adjustment and no verdict, so they are
/// kept apart from the findings. Nothing when every comparison is primary.
fn exploratory(comps: &[Comparison], trends: &[Trend], alpha: f64, blocks: &mut Vec<Block>) {
    let secondary: Vec<&Comparison> = comps.iter().filter(|c| !c.primary).collect();
    let secondary_trends: Vec<&Trend> = trends.iter().filter(|t| !t.primary).collect();
    if secondary.is_empty() && secondary_trends.is_empty() {
        return;
    }
    let ci = format!("{} (unadjusted)", ci_header(1.0 - alpha));
    blocks.push(Block::Heading(2, EXPLORATORY.into()));
    blocks.push(Block::Para(
        "The metrics that are not primary, compared with the same seed-aware machinery: the CIs \
         and p values are unadjusted (no Holm family) and there is **no verdict**, so read them as \
         leads to check in another run, not as findings. `abstained` and `answer_tokens` are \
         descriptive."
            .into(),
    ));
    if !secondary.is_empty() {
        let rows = secondary
            .iter()
            .map(|c| {
                let kind = if c.metric.is_descriptive() {
                    "descriptive"
                } else {
                    "exploratory"
                };
                let mut row = comparison_cells(c);
                row.extend([p_value(c.p), c.questions.to_string(), kind.to_owned()]);
                row
            })
            .collect();
        blocks.push(Block::Table {
            header: comparison_header(&ci, &["p (unadjusted)", "questions", "kind"]),
            rows,
        });
    }
    if !secondary_trends.is_empty() {
        blocks.push(Block::Para(
            "Exploratory trends across N (slope per doubling of N; unadjusted, no verdict):".into(),
        ));
        let rows = secondary_trends
            .iter()
            .map(|t| {
                let mut row = trend_cells(t);
                row.push(p_value(Some(t.p)));
                row
            })
            .collect();
        blocks.push(Block::Table {
            header: trend_header(&ci, &["p (unadjusted)"]),
            rows,
        });
    }
}

/// Fewer optimizer steps than this and a fine-tune is flagged as barely trained: its adapter is
/// close to its initialisation, so it says little about fine-tuning at N.
pub(crate) const BARELY_TRAINED_STEPS: u64 = 10;

/// A validation loss lowered by less than this share of its value before training flags a
/// fine-tune as barely trained too: however many steps it took, the model hardly moved on
/// held-out questions.
pub(crate) const BARELY_TRAINED_VAL_DROP: f64 = 0.02;

/// The relative drop of the validation loss, `(initial − final) / initial`, when validation ran
/// before and after training (and the initial loss is positive); negative when it rose.
fn val_loss_drop(f: &FineTuneSummary) -> Option<f64> {
    match (f.initial_val_loss, f.final_val_loss) {
        (Some(i), Some(l)) if i > 0.0 && i.is_finite() && l.is_finite() => Some((i - l) / i),
        _ => None,
    }
}

/// Why a fine-tune counts as barely trained: too few steps, too small a validation-loss drop, or
/// both; `None` when it trained enough by both measures (or was not validated and took enough
/// steps).
fn barely_trained_reasons(f: &FineTuneSummary) -> Option<Vec<String>> {
    let mut reasons = Vec::new();
    if f.steps < BARELY_TRAINED_STEPS {
        reasons.push(format!("fewer than {BARELY_TRAINED_STEPS} steps"));
    }
    if val_loss_drop(f).is_some_and(|d| d < BARELY_TRAINED_VAL_DROP) {
        reasons.push(format!(
            "validation loss down by less than {}",
            percent_whole(BARELY_TRAINED_VAL_DROP)
        ));
    }
    (!reasons.is_empty()).then_some(reasons)
}

/// A share as a whole percentage (`2 %`), for thresholds.
fn percent_whole(x: f64) -> String {
    format!("{:.0} %", 100.0 * x)
}

/// `|x|` as a percentage with one decimal, more where one would put a share `x ≥ 0` on the other
/// side of `threshold` than it is (a 1.96 % drop flagged as below 2 % must not read `2.0 %`).
fn percent_beside(x: f64, threshold: f64) -> String {
    if !x.is_finite() || x < 0.0 {
        return percent(x.abs());
    }
    for decimals in 1..=6 {
        let s = format!("{:.decimals$}", 100.0 * x.abs());
        let printed: f64 = s.parse().unwrap_or(100.0 * x.abs());
        if (printed < 100.0 * threshold) == (x < threshold) {
            return format!("{s} %");
        }
    }
    format!("{} %", 100.0 * x.abs())
}

/// What a flagged fine-tune's line says about its validation loss: before and after training and
/// the change, or only the last value when the first was not recorded; nothing when validation did
/// not run.
fn val_loss_note(f: &FineTuneSummary) -> String {
    match (f.initial_val_loss, f.final_val_loss, val_loss_drop(f)) {
        (Some(i), Some(l), Some(d)) => {
            let way = if d >= 0.0 { "down" } else { "up" };
            format!(
                "; validation loss {} before training, {} after ({way} {})",
                num(i),
                num(l),
                percent_beside(d, BARELY_TRAINED_VAL_DROP)
            )
        }
        (_, Some(l), _) => format!("; final validation loss {}", num(l)),
        _ => String::new(),
    }
}

/// Flags the fine-tunes that took fewer than [`BARELY_TRAINED_STEPS`] optimizer steps or lowered
/// their validation loss by less than [`BARELY_TRAINED_VAL_DROP`], with their numbers; nothing
/// when every fine-tune trained enough (or none was found).
fn barely_trained(fine_tunes: &[FineTuneSummary], blocks: &mut Vec<Block>) {
    let flagged: Vec<(&FineTuneSummary, Vec<String>)> = fine_tunes
        .iter()
        .filter_map(|f| barely_trained_reasons(f).map(|r| (f, r)))
        .collect();
    if flagged.is_empty() {
        return;
    }
    let validated = fine_tunes.iter().any(|f| val_loss_drop(f).is_some());
    let criterion = if validated {
        format!(
            "took fewer than {BARELY_TRAINED_STEPS} optimizer steps or lowered their validation \
             loss by less than {} of its value before training",
            percent_whole(BARELY_TRAINED_VAL_DROP)
        )
    } else {
        format!("took fewer than {BARELY_TRAINED_STEPS} optimizer steps")
    };
    blocks.push(Block::Para(format!(
        "**Barely trained:** {} of {} fine-tunes {criterion}, so their adapters stay close to the \
         base model; read their comparisons as a test of a little training, not of fine-tuning at \
         N (more epochs, a smaller batch or a larger learning rate train more).",
        flagged.len(),
        fine_tunes.len()
    )));
    blocks.push(Block::List(
        flagged
            .iter()
            .map(|(f, reasons)| {
                let loss = |l: Option<f64>| l.map_or_else(|| MISSING.to_owned(), num);
                format!(
                    "`{}`: {} steps on {} examples, final training loss {}{}; flagged for {}",
                    f.name,
                    f.steps,
                    f.examples,
                    loss(f.final_loss),
                    val_loss_note(f),
                    reasons.join(" and ")
                )
            })
            .collect(),
    ));
}

/// The forest plot's file stem (`plots/forest.png`, `plots/forest.svg`).
const FOREST: &str = "forest";

/// The forest plot of the primary comparisons that have a CI, in the summary table's order; the
/// model is named only when the run has several, the context only when it is a control.
fn forest_plot(primary: &[&Comparison]) -> Option<ForestPlot> {
    let several_models = primary.iter().any(|c| c.model != primary[0].model);
    let rows: Vec<ForestRow> = primary
        .iter()
        .filter_map(|c| {
            let (low, high) = (c.ci_low?, c.ci_high?);
            let mut label = c.dataset.clone();
            if several_models {
                label.push_str(&format!(" · {}", c.model));
            }
            if !c.context.is_retrieved() {
                label.push_str(&format!(" @{}", c.context));
            }
            label.push_str(&format!(
                " · {} · N={} vs {}",
                c.metric,
                crate::sides::treated(c),
                crate::sides::reference(c)
            ));
            let verdict = match c.verdict {
                Some(Verdict::Helps | Verdict::HelpsOneAdapter) => RowVerdict::Helps,
                Some(Verdict::Hurts | Verdict::HurtsOneAdapter) => RowVerdict::Hurts,
                _ => RowVerdict::Inconclusive,
            };
            Some(ForestRow {
                label,
                diff: c.diff,
                low,
                high,
                verdict,
                // Hollow: set against another fine-tune or the in-context arm, not N = 0.
                vs_previous: !crate::sides::against_base(c),
            })
        })
        .collect();
    (!rows.is_empty()).then(|| ForestPlot {
        title: "Primary comparisons: difference and CI".into(),
        rows,
    })
}

/// "At which N?", per dataset × model × primary metric of the retrieved context: the smallest N
/// whose comparison with N = 0 helps, and the smallest that hurts, or that none does.
fn smallest_n(primary: &[&Comparison]) -> Vec<String> {
    let main: Vec<&&Comparison> = primary
        .iter()
        .filter(|c| c.context.is_retrieved() && c.kind == ComparisonKind::VsBase)
        .collect();
    let mut keys: Vec<(&str, &str, Metric)> = Vec::new();
    for c in &main {
        let key = (c.dataset.as_str(), c.model.as_str(), c.metric);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(dataset, model, metric)| {
            let mut entries: Vec<&&&Comparison> = main
                .iter()
                .filter(|c| c.dataset == dataset && c.model == model && c.metric == metric)
                .collect();
            entries.sort_by_key(|c| c.n);
            let first = |calls: [Verdict; 2]| {
                entries
                    .iter()
                    .find(|c| c.verdict.is_some_and(|v| calls.contains(&v)))
                    .map(|c| {
                        format!(
                            "N = {} ({})",
                            crate::sides::treated(c),
                            c.verdict.map_or(MISSING, verdict_word)
                        )
                    })
            };
            let helps = first([Verdict::Helps, Verdict::HelpsOneAdapter]);
            let hurts = first([Verdict::Hurts, Verdict::HurtsOneAdapter]);
            let finding = match (helps, hurts) {
                (None, None) => "no N helps or hurts against N = 0".to_owned(),
                (Some(h), None) => format!("the smallest N that helps against N = 0 is {h}"),
                (None, Some(h)) => format!("the smallest N that hurts against N = 0 is {h}"),
                (Some(a), Some(b)) => format!(
                    "the smallest N that helps against N = 0 is {a}; the smallest that hurts is {b}"
                ),
            };
            format!("{dataset} × {model}, `{metric}`: {finding}.")
        })
        .collect()
}

/// The primary trends across N (`trends[]`): one row per dataset × model × context × metric with
/// two or more fine-tuned sizes; nothing when there is none.
fn trends(trends: &[Trend], alpha: f64, blocks: &mut Vec<Block>) {
    let primary: Vec<&Trend> = trends.iter().filter(|t| t.primary).collect();
    if primary.is_empty() {
        return;
    }
    blocks.push(Block::Heading(2, "Trend across N".into()));
    blocks.push(Block::Para(
        "The least-squares slope of each primary metric on log₂ N over the fine-tuned sizes (the \
         base model is not in it): the change per doubling of N, with the same seed-aware CI and \
         test as the comparisons, Holm-adjusted within families of trends (docs/metrics.md, \
         \"The trend across N\"). `helps`: the metric rises with N; `hurts`: it falls."
            .into(),
    ));
    let rows = primary
        .iter()
        .map(|t| {
            let mut row = trend_cells(t);
            row.extend([
                p_value_at(Some(t.p), alpha),
                p_value_at(t.p_holm, alpha),
                t.m.map_or_else(|| MISSING.to_owned(), |m| m.to_string()),
                t.verdict.map_or(MISSING, verdict_word).to_owned(),
            ]);
            row
        })
        .collect();
    let ci = format!("{} (unadjusted)", ci_header(1.0 - alpha));
    blocks.push(Block::Table {
        header: trend_header(&ci, &["p", "p (Holm)", "m", "verdict"]),
        rows,
    });
}

fn judge_errors(a: &Analysis<'_>, blocks: &mut Vec<Block>) {
    let total: usize = a.errors.values().sum();
    blocks.push(Block::Heading(2, "Judge errors".into()));
    if total == 0 {
        blocks.push(Block::Para(
            "0 score rows with an error: every judgment (if a judge ran) returned a score.".into(),
        ));
        return;
    }
    blocks.push(Block::Para(format!(
        "{total} score row(s) have an error (a judgment that failed after retries). They are left out \
         of every mean and test; a question missing in an arm drops out of that arm's pairing."
    )));
    blocks.push(Block::Table {
        header: vec!["arm".into(), "error rows".into()],
        rows: a
            .errors
            .iter()
            .map(|(arm, n)| vec![arm.clone(), n.to_string()])
            .collect(),
    });
}

fn dataset_section(
    a: &Analysis<'_>,
    dataset: &str,
    blocks: &mut Vec<Block>,
    plots: &mut Vec<(String, PlotSpec)>,
) -> Result<(), ReportError> {
    blocks.push(Block::Heading(2, format!("Dataset `{dataset}`")));
    data_checks(a, dataset, blocks);
    let models = a.models(dataset);
    if models.is_empty() {
        blocks.push(Block::Para("No arm of this dataset was scored.".into()));
        return Ok(());
    }
    curves(a, dataset, &models, blocks, plots);
    let losses = failure_counts(a, dataset)?;
    for model in &models {
        model_section(a, dataset, model, &losses, blocks, plots);
    }
    Ok(())
}

fn data_checks(a: &Analysis<'_>, dataset: &str, blocks: &mut Vec<Block>) {
    let Some(d) = a.input.datasets.iter().find(|d| d.name == dataset) else {
        return;
    };
    let mut items = Vec::new();
    match &d.retrieval_metrics {
        Some(r) => {
            let mut quality = match (r.recall_at_k, r.mrr) {
                (Some(rk), Some(mrr)) => format!(
                    "recall@{k} {} and MRR {} over all {} question(s) of the dataset with known \
                     gold documents",
                    num(rk),
                    num(mrr),
                    r.questions_with_gold,
                    k = r.top_k
                ),
                _ => "no gold documents are known, so recall and MRR cannot be computed".into(),
            };
            if let Some((rk, mrr, n)) = a.test_retrieval_quality(dataset, r.top_k) {
                quality.push_str(&format!(
                    " (on the {n} test question(s) answered here that have them: recall@{k} {} \
                     and MRR {})",
                    num(rk),
                    num(mrr),
                    k = r.top_k
                ));
            }
            items.push(format!(
                "Retrieval: `{}`, top {} chunks for {} question(s): {quality}; {} question(s) got fewer than {} chunks.",
                r.retriever, r.top_k, r.questions, r.questions_short, r.top_k
            ));
        }
        None => {
            items.push("Retrieval quality: not available (no `retrieval_metrics.json`).".into())
        }
    }
    match &d.contamination {
        Some(c) => items.push(format!(
            "Contamination (test {} vs training pool {}): {} exact duplicate question(s), {} near \
             duplicate(s) (Jaccard ≥ {} on word {}-grams), {} test answer(s) found verbatim in a \
             training answer.",
            c.test,
            c.pool,
            c.exact_duplicates,
            c.near_duplicates,
            c.jaccard_threshold,
            c.ngram,
            c.answer_leaks
        )),
        None => items.push("Contamination check: not available (no `contamination.json`).".into()),
    }
    if a.is_label_dataset(dataset) {
        if let Some((label, share, n)) = a.majority_label(dataset) {
            items.push(format!(
                "Majority-label baseline: always answering `{}` scores label_accuracy {} on the {n} \
                 test question(s) ({}); a model below that has learnt less than the label frequencies.",
                label.as_str(),
                num(share),
                percent(share)
            ));
        }
    }
    blocks.push(Block::Heading(3, "Data checks".into()));
    blocks.push(Block::List(items));
}

/// Contexts that have comparisons or a base arm for (dataset, model).
fn contexts_of(a: &Analysis<'_>, dataset: &str, model: &str) -> Vec<AnswerContext> {
    CONTEXTS
        .into_iter()
        .filter(|ctx| {
            a.comparisons(dataset, Some(model))
                .iter()
                .any(|c| c.context == *ctx)
                || a.arms
                    .values()
                    .any(|x| x.dataset == dataset && x.model == model && x.context == *ctx)
        })
        .collect()
}

fn model_section(
    a: &Analysis<'_>,
    dataset: &str,
    model: &str,
    losses: &LossCounts,
    blocks: &mut Vec<Block>,
    plots: &mut Vec<(String, PlotSpec)>,
) {
    blocks.push(Block::Heading(3, format!("{dataset} × `{model}`")));
    if base_only_models(a, dataset).iter().any(|m| m == model) {
        blocks.push(Block::Para(format!(
            "`{model}` was never fine-tuned (an API answerer, or a model run at N = 0 only): its \
             scores are a baseline, listed beside each fine-tuned model's base arm in its \
             Baselines table."
        )));
    }
    let primary = a.primary_metrics(dataset, model);
    for ctx in contexts_of(a, dataset, model) {
        blocks.push(Block::Heading(
            4,
            format!("Primary metrics, {}", context_title(ctx)),
        ));
        match metric_table(a, dataset, model, ctx, &primary) {
            Some(t) => blocks.push(t),
            None => blocks.push(Block::Para("No scores for the primary metrics.".into())),
        }
    }
    baselines(a, dataset, model, &primary, blocks);
    label_format_table(a, dataset, model, blocks);
    attribution_table(a, dataset, model, losses, blocks);
    if let Some(&metric) = primary.first() {
        worst_regressions(a, dataset, model, metric, blocks);
    }
    scatters(a, dataset, model, &primary, blocks, plots);
}

/// The columns every comparison table starts with (who, against what, the means, the difference
/// and its CI), so the summary and the exploratory tables read alike.
fn comparison_cells(c: &Comparison) -> Vec<String> {
    vec![
        c.dataset.clone(),
        c.model.clone(),
        c.context.to_string(),
        crate::sides::treated(c),
        crate::sides::reference(c),
        c.metric.to_string(),
        c.seeds.len().to_string(),
        num(c.base_mean),
        num(c.ft_mean),
        signed(c.diff),
        interval(c.ci_low, c.ci_high),
    ]
}

/// The header of [`comparison_cells`] (the CI column titled `ci`), then `rest`.
fn comparison_header(ci: &str, rest: &[&str]) -> Vec<String> {
    [
        "dataset",
        "model",
        "context",
        "N",
        "vs N",
        "metric",
        "seeds",
        "base",
        "fine-tuned",
        "diff",
        ci,
    ]
    .iter()
    .chain(rest)
    .map(|h| h.to_string())
    .collect()
}

/// The columns every trend table starts with (who, the sizes, the slope and its CI), so the
/// primary and the exploratory trend tables read alike.
fn trend_cells(t: &Trend) -> Vec<String> {
    let sizes: Vec<String> = t.sizes.iter().map(u64::to_string).collect();
    let sizes = match &t.format {
        Some(f) => format!("{f}: {}", sizes.join(", ")),
        None => sizes.join(", "),
    };
    vec![
        t.dataset.clone(),
        t.model.clone(),
        t.context.to_string(),
        sizes,
        t.metric.to_string(),
        t.seeds.len().to_string(),
        signed(t.slope_per_doubling),
        interval(t.ci_low, t.ci_high),
    ]
}

/// The header of [`trend_cells`] (the CI column titled `ci`), then `rest`.
fn trend_header(ci: &str, rest: &[&str]) -> Vec<String> {
    [
        "dataset",
        "model",
        "context",
        "N",
        "metric",
        "seeds",
        "per doubling",
        ci,
    ]
    .iter()
    .chain(rest)
    .map(|h| h.to_string())
    .collect()
}

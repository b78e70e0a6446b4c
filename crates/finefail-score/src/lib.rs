//! Scoring for finefail: deterministic answer metrics, an LLM judge over any OpenAI-compatible
//! endpoint, paired statistics (bootstrap CI, Wilcoxon, McNemar, Holm), failure attribution, and
//! the `scores.parquet` / `comparison.json` tables.
//!
//! The crate takes plain Rust inputs ([`Question`], [`Answer`]) and never prints or exits.
//! Scoring arms (`finefail score`, the runner's score step) is [`score_arms`]: [`score_answers`] →
//! [`write_scores`] → optionally [`judge_answers`] with an [`HttpJudge`]; then [`compare_run`] →
//! [`write_comparison`]; [`attribute_losses`] explains the questions a fine-tuned arm lost.

mod abstain;
mod attribution;
mod error;
mod faithfulness;
mod inputs;
pub mod judge;
mod label;
mod label_ll;
mod lexical;
mod losses;
mod metric;
mod record;
mod score_arms;
pub mod stats;
mod tables;

pub use abstain::{
    abstained, ABSTENTION, ABSTENTION_EXACT, ABSTENTION_PHRASES, ABSTENTION_PREFIXES,
};
pub use attribution::{
    attribute, chunk_doc_id, AttributionInput, FailureCause, FAITHFULNESS_THRESHOLD, LENGTH_RATIO,
};
pub use error::ScoreError;
pub use faithfulness::{content_tokens, faithfulness, STOPWORDS};
pub use finefail_core::{AnswerContext, ArmId};
pub use inputs::{
    check_question_ids, read_answers, read_questions, read_retrieved_ids, retrieved_contexts,
    AnswerRow,
};
pub use judge::http::HttpJudge;
pub use judge::prompt::{Judgment, JUDGE_PROMPT_VERSION};
pub use judge::{
    judge_answers, judge_label, judgment_key, Judge, JudgeConfig, JudgeItem, JudgeRequest,
};
pub use label::{first_label, label_accuracy, LABELS};
pub use label_ll::label_ll_rows;
pub use lexical::{answer_recall, exact_match, rouge_l, token_f1};
pub use losses::{attribute_losses, Loss};
pub use metric::Metric;
pub use record::{score_answer, score_answers, Answer, Question, ScoreRow};
pub use score_arms::{score_arms, ArmsToScore, ScoredArms};
pub use stats::alternatives::{
    compare_formats, compare_icl_with_base, compare_size_with_icl, Subject,
};
pub use stats::compare::{
    compare, compare_sizes, default_primary, Comparison, ComparisonInput, ComparisonKind,
    QuestionScores, SizesInput, StatsConfig, Verdict, MIN_BOOTSTRAP, TRAINING_VARIANCE_ASSESSED,
    TRAINING_VARIANCE_NOT_ASSESSED,
};
pub use stats::family::{apply_holm, apply_trend_holm, seed_aware, verdict, HolmFamily};
pub use stats::run::{analyse_run, compare_run};
pub use stats::trend::{trend, Trend, TrendInput};
pub use tables::{
    read_comparison, read_scores, write_comparison, write_scores, ComparisonFile, PrimarySource,
    SCORE_COLUMNS,
};

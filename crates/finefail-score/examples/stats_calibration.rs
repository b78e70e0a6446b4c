//! The fuller calibration check of the verdict (`scripts/stats-calibration.sh` runs it in release):
//! simulated studies through `compare` itself, with its full draw counts, for S = 1, 2, 3, 5 seeds,
//! per-seed shifts τ = 0, 0.02, 0.04, 0.08, continuous, 0/1 and ties-heavy 0/1 scores, 200
//! questions. Prints a Markdown table: the helps/hurts rate without a true effect (≤ α is
//! calibrated) with its Monte-Carlo standard error, and the power at a true effect of +0.05.
//!
//! Usage: `stats_calibration [--studies N] [--power-studies N] [--questions N]`

use std::thread;

use finefail_score::stats::simulate::{verdict_counts, ScoreModel, StudySpec};
use finefail_score::StatsConfig;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| {
                eprintln!("error: {name} takes a whole number, got `{v}`");
                std::process::exit(2)
            })
        })
}

fn main() {
    let studies = arg("--studies", 1000);
    let power_studies = arg("--power-studies", 400);
    let questions = arg("--questions", 200);
    let cfg = StatsConfig::default();
    let mut settings = Vec::new();
    for scores in [
        ScoreModel::Continuous,
        ScoreModel::Binary,
        ScoreModel::TiesHeavyBinary,
    ] {
        for seeds in [1usize, 2, 3, 5] {
            for tau in [0.0, 0.02, 0.04, 0.08] {
                settings.push((scores, seeds, tau));
            }
        }
    }
    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = settings.len().div_ceil(workers);
    let mut rows: Vec<(usize, String)> = thread::scope(|scope| {
        let handles: Vec<_> = settings
            .chunks(chunk)
            .enumerate()
            .map(|(w, part)| {
                let cfg = cfg.clone();
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, &(scores, seeds, tau))| {
                            let spec = |effect| StudySpec {
                                seeds,
                                questions,
                                seed_sd: tau,
                                effect,
                                scores,
                            };
                            let tag = (w * chunk + i) as u64;
                            let null = verdict_counts(&spec(0.0), studies, &cfg, 1000 + tag)
                                .expect("simulated comparison");
                            let power =
                                verdict_counts(&spec(0.05), power_studies, &cfg, 5000 + tag)
                                    .expect("simulated comparison");
                            let rate = null.called();
                            let se = (rate.max(cfg.alpha) * (1.0 - rate) / studies as f64).sqrt();
                            let kind = match scores {
                                ScoreModel::Continuous => "continuous",
                                ScoreModel::Binary => "0/1",
                                ScoreModel::TiesHeavyBinary => "0/1 ties-heavy",
                            };
                            let ok = if rate <= cfg.alpha + 2.0 * se {
                                "yes"
                            } else {
                                "no"
                            };
                            let row = format!(
                                "| {kind} | {seeds} | {tau:.2} | {:.3} ± {se:.3} | {ok} | {:.3} |",
                                rate,
                                power.called()
                            );
                            (w * chunk + i, row)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    rows.sort();
    println!(
        "{studies} studies without an effect and {power_studies} with +0.05 per setting, \
         {questions} questions, α = {}.\n",
        cfg.alpha
    );
    println!("| scores | seeds | τ | helps/hurts, no effect | ≤ α + 2 s.e. | power at +0.05 |");
    println!("|---|---|---|---|---|---|");
    for (_, r) in rows {
        println!("{r}");
    }
}

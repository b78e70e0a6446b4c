//! `finefail run --plan`'s step list and closing time estimate: what a run would do with each
//! step (`cached`, `kept` with why under `--keep-stale`, `to run` with why, `not run` beyond `--until`) and how long what runs should
//! take, from wall times recorded on this machine (`finefail_runner::forecast`).

use finefail_runner::forecast::{about, Basis, Forecast, Mark, StepForecast};
use finefail_runner::{Plan, StepKind};

/// Prints the header and every step, grouped by kind, with its mark and estimate:
///
/// ```text
/// plan `default` → experiments/runs/default (42 steps: 14 to run, 28 cached)
///   finetune (12)
///     cached             finetune/pubmedqa/smollm2-135m/n50/s0
///     kept               finetune/pubmedqa/smollm2-135m/n50/s1  (stale: code A → B)
///     to run   ~41 s     finetune/pubmedqa/smollm2-135m/n100/s1  (stale: code A → B)
///     to run   ~89 s     finetune/pubmedqa/smollm2-135m/n200/s0  [finetune rate]
/// ```
pub fn print_steps(plan: &Plan, forecast: &Forecast) {
    let to_run = forecast.to_run().count();
    println!(
        "plan `{}` → {} ({} steps: {to_run} to run, {} cached)",
        plan.name,
        plan.run_dir.display(),
        plan.steps.len(),
        forecast.cached()
    );
    for kind in StepKind::ALL {
        let steps: Vec<&StepForecast> = forecast.steps.iter().filter(|s| s.kind == kind).collect();
        if steps.is_empty() {
            continue;
        }
        println!("  {kind} ({})", steps.len());
        for s in steps {
            println!("    {}", line(s).trim_end());
        }
    }
}

/// One step's line: mark, estimate, id, why it runs, and where a rate-based estimate comes from.
fn line(s: &StepForecast) -> String {
    let (mark, why) = match &s.mark {
        Mark::Cached => ("cached", None),
        Mark::Kept(why) => ("kept", Some(why.as_str())),
        Mark::ToRun(why) => ("to run", why.as_deref()),
        Mark::Beyond => ("not run", None),
    };
    let estimate = match (&s.mark, s.seconds) {
        (Mark::ToRun(_), Some(sec)) => about(sec, false),
        (Mark::ToRun(_), None) => "?".to_string(),
        _ => String::new(),
    };
    let mut out = format!("{mark:<7}  {estimate:<8}  {}", s.id);
    if let Some(why) = why {
        out.push_str(&format!("  ({why})"));
    }
    if let Basis::Rate { kind, .. } = &s.basis {
        out.push_str(&format!("  [{kind} rate]"));
    }
    out
}

/// The closing line: what will run and how long it should take, or why no estimate is given.
pub fn print_total(forecast: &Forecast) {
    println!("{}", forecast.total_line());
}

//! "At which N?" end to end on the tiny experiment with two fine-tuned sizes (2 and 4) × 2 seeds:
//! `comparison.json` holds `vs_previous` comparisons and trends, seed-aware entries carry their
//! variance components and MDE, the report opens with the forest plot, and `--plan` states what
//! the design can detect — from defaults, then from this run as a pilot.

mod common;

use std::path::Path;
use std::process::Command;

fn finefail(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_finefail"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn two_sizes_give_vs_previous_trends_and_a_plan_from_a_pilot() {
    let tmp = tempfile::tempdir().unwrap();
    let config = common::write_tiny_experiment(tmp.path(), "sizes", 1, "");
    let config = config.to_str().unwrap();
    let runs = tmp.path().join("runs");
    let runs_s = runs.to_str().unwrap();
    let sizes = "sweep.sizes=[0,2,4]";

    // Before the run: defaults, one line per primary metric, the two-seed warning.
    let o = finefail(&[
        "run",
        config,
        "--plan",
        "--runs-dir",
        runs_s,
        "--set",
        sizes,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" questions, m = "))
        .collect();
    assert!(!lines.is_empty(), "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("2 seeds ×") && l.contains("default components")),
        "{out}"
    );
    // 2 sizes vs base + 1 vs previous, per primary metric (token_f1, answer_recall): m = 6.
    assert!(lines.iter().all(|l| l.contains("m = 6")), "{out}");
    assert!(
        text(&o.stderr).contains("warning: two seeds"),
        "{}",
        text(&o.stderr)
    );

    let o = finefail(&["run", config, "--runs-dir", runs_s, "--set", sizes]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let run_dir = runs.join("sizes");
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("comparison.json")).unwrap())
            .unwrap();
    let entries = cmp["comparisons"].as_array().unwrap();
    let previous: Vec<_> = entries
        .iter()
        .filter(|c| c["kind"] == "vs_previous")
        .collect();
    assert!(!previous.is_empty(), "{cmp}");
    assert!(previous
        .iter()
        .all(|c| c["n"] == 4 && c["reference_n"] == 2));
    let primary_f1 = entries
        .iter()
        .find(|c| c["kind"] == "vs_base" && c["metric"] == "token_f1" && c["n"] == 4)
        .unwrap();
    assert_eq!(primary_f1["m"], 6, "{primary_f1}");
    assert!(
        primary_f1["components"]["residual_sd"].is_number(),
        "{primary_f1}"
    );
    let trends = cmp["trends"].as_array().unwrap();
    assert!(
        trends
            .iter()
            .any(|t| t["metric"] == "token_f1" && t["slope_per_doubling"].is_number()),
        "{cmp}"
    );

    // The report opens with the answer: the forest plot comes before the reading guide.
    let md = std::fs::read_to_string(run_dir.join("report/report.md")).unwrap();
    let forest = md.find("forest").unwrap_or(usize::MAX);
    let guide = md.find("How to read this").unwrap_or(0);
    assert!(forest < guide, "forest at {forest}, guide at {guide}");
    assert!(run_dir.join("report/plots/forest.png").is_file());

    // This run as the pilot of the next plan.
    let o = finefail(&[
        "run",
        config,
        "--plan",
        "--runs-dir",
        runs_s,
        "--set",
        sizes,
        "--set",
        "stats.target_mde=0.5",
        "--pilot",
        run_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let pilot_line = format!("components from {}", run_dir.display());
    assert!(
        out.lines()
            .filter(|l| l.contains(" questions, m = "))
            .all(|l| l.contains(&pilot_line)),
        "{out}"
    );
    assert!(out.contains("target_mde 0.5:"), "{out}");
    // A pilot folder without a comparison is bad input.
    let o = finefail(&[
        "run",
        config,
        "--plan",
        "--runs-dir",
        runs_s,
        "--pilot",
        Path::new(runs_s).join("nothing").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

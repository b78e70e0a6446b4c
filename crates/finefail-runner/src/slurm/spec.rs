//! The `sbatch` command lines of a plan, as a pure function of the plan, the resources and what is
//! already finished or queued — so the Slurm executor's decisions are unit-tested without a cluster.

use crate::config::Slurm;
use crate::kind::StepKind;
use crate::plan::Plan;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// How a job re-enters finefail: the binary, the config and its overrides, where runs live, and the
/// resources to ask for. Paths should be absolute: jobs run on other nodes.
#[derive(Debug, Clone)]
pub struct SlurmOptions {
    /// The `finefail` executable every job runs (`finefail step …`).
    pub binary: PathBuf,
    /// The experiment config.
    pub config_path: PathBuf,
    /// The `--set KEY=VALUE` overrides, passed on to every job.
    pub sets: Vec<String>,
    /// The `--runs-dir` the plan was made with.
    pub runs_dir: PathBuf,
    /// The working directory of every job (relative paths in the config resolve against it).
    pub workdir: PathBuf,
    /// Stop after this step kind (as `run --until`).
    pub until: Option<StepKind>,
    /// Partition, time, gres, cpus, memory and extra sbatch arguments (config `[slurm]` plus CLI).
    pub resources: Slurm,
}

/// One `sbatch` submission: the step, the steps it must wait for, and its arguments without the
/// dependency flag (job ids exist only once those steps are submitted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitSpec {
    pub step_id: String,
    /// Steps (submitted now, or already queued/running) this job must wait for: `afterok` edges.
    pub after: Vec<String>,
    pub args: Vec<String>,
}

impl SubmitSpec {
    /// The full argument list for `sbatch`, with `--dependency=afterok:…` from the job ids of `after`
    /// (and `--kill-on-invalid-dep=yes`).
    pub fn command(&self, job_ids: &BTreeMap<String, String>) -> Vec<String> {
        let mut args = self.args.clone();
        let ids: Vec<&str> = self
            .after
            .iter()
            .filter_map(|s| job_ids.get(s).map(String::as_str))
            .collect();
        if !ids.is_empty() {
            // The wrapped command is the last argument; options must come before it. Slurm itself
            // cancels the job when a dependency fails, so a failed step's dependants are not left
            // pending forever — also after `--no-wait`, with no submitter watching.
            let at = args.len().saturating_sub(1);
            args.insert(at, format!("--dependency=afterok:{}", ids.join(":")));
            args.insert(at + 1, "--kill-on-invalid-dep=yes".into());
        }
        args
    }
}

/// The folder of a step's markers (`steps/<id with / → __ and @ → _at_>/`).
pub fn step_dir(run_dir: &Path, id: &str) -> PathBuf {
    finefail_core::RunLayout::new(run_dir).step(id)
}

/// One submission per step in scope that is neither finished (`current`) nor queued/running
/// (`live`, step id → job id), in plan order, with `afterok` edges to the dependencies that are
/// themselves submitted now or live. Finished dependencies need no edge.
pub fn build_specs(
    plan: &Plan,
    opts: &SlurmOptions,
    current: &BTreeSet<String>,
    live: &BTreeMap<String, String>,
) -> Vec<SubmitSpec> {
    let mut submitted: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for step in plan.until(opts.until) {
        if current.contains(&step.id) || live.contains_key(&step.id) {
            continue;
        }
        let after: Vec<String> = step
            .deps
            .iter()
            .filter(|d| submitted.contains(d.as_str()) || live.contains_key(*d))
            .cloned()
            .collect();
        let r = &opts.resources;
        let log = step_dir(&plan.run_dir, &step.id).join("slurm-%j.log");
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name=finefail:{}", step.id),
            format!("--output={}", log.display()),
            format!("--chdir={}", opts.workdir.display()),
            format!("--time={}", r.time),
            format!("--cpus-per-task={}", r.cpus_per_task),
        ];
        if let Some(p) = &r.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(m) = &r.mem {
            args.push(format!("--mem={m}"));
        }
        if let Some(g) = r.gres.as_ref().filter(|_| step.kind.uses_gpu()) {
            args.push(format!("--gres={g}"));
        }
        args.extend(r.sbatch_args.iter().cloned());
        args.push(format!("--wrap={}", step_command(opts, &step.id)));
        submitted.insert(&step.id);
        out.push(SubmitSpec {
            step_id: step.id.clone(),
            after,
            args,
        });
    }
    out
}

/// The shell line a job runs: `exec finefail step CONFIG --id ID [--set …] --runs-dir DIR`.
pub fn step_command(opts: &SlurmOptions, id: &str) -> String {
    let mut words = vec![
        opts.binary.display().to_string(),
        "step".into(),
        opts.config_path.display().to_string(),
        "--id".into(),
        id.into(),
    ];
    for s in &opts.sets {
        words.push("--set".into());
        words.push(s.clone());
    }
    words.push("--runs-dir".into());
    words.push(opts.runs_dir.display().to_string());
    let quoted: Vec<String> = words.iter().map(|w| shell_quote(w)).collect();
    format!("exec {}", quoted.join(" "))
}

/// Quotes a word for `sh`: single quotes, with embedded single quotes as `'\''`.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Step;

    fn step(id: &str, kind: &str, deps: &[&str]) -> Step {
        Step {
            id: id.into(),
            kind: kind.parse().unwrap(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            output: PathBuf::from(id.replace('/', "_")),
        }
    }

    /// prepare → retrieve → {finetune, answer base}; finetune → answer ft; answers → score → compare.
    fn plan() -> Plan {
        Plan {
            name: "t".into(),
            run_dir: PathBuf::from("/shared/runs/t"),
            steps: vec![
                step("prepare/d", "prepare", &[]),
                step("retrieve/d", "retrieve", &["prepare/d"]),
                step("finetune/d/m/n50/s0", "finetune", &["prepare/d"]),
                step("answer/d/m/n0", "answer", &["retrieve/d"]),
                step(
                    "answer/d/m/n50/s0@gold",
                    "answer",
                    &["retrieve/d", "finetune/d/m/n50/s0"],
                ),
                step("score/d/m/n0", "score", &["answer/d/m/n0"]),
                step(
                    "score/d/m/n50/s0@gold",
                    "score",
                    &["answer/d/m/n50/s0@gold"],
                ),
                step(
                    "compare",
                    "compare",
                    &["score/d/m/n0", "score/d/m/n50/s0@gold"],
                ),
            ],
            warnings: vec![],
        }
    }

    fn opts() -> SlurmOptions {
        SlurmOptions {
            binary: "/opt/finefail".into(),
            config_path: "/shared/exp/paper.toml".into(),
            sets: vec!["sweep.seeds=[0, 1]".into()],
            runs_dir: "/shared/runs".into(),
            workdir: "/shared".into(),
            until: None,
            resources: Slurm {
                partition: Some("gpu".into()),
                time: "02:00:00".into(),
                gres: Some("gpu:a100:1".into()),
                cpus_per_task: 8,
                mem: Some("64G".into()),
                sbatch_args: vec!["--account=lab".into()],
            },
        }
    }

    fn find<'a>(specs: &'a [SubmitSpec], id: &str) -> &'a SubmitSpec {
        specs
            .iter()
            .find(|s| s.step_id == id)
            .unwrap_or_else(|| panic!("no spec for {id}"))
    }

    #[test]
    fn every_pending_step_is_submitted_with_its_resources_and_edges() {
        let p = plan();
        let specs = build_specs(&p, &opts(), &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(
            specs.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(),
            p.steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>()
        );
        let ft = find(&specs, "finetune/d/m/n50/s0");
        assert_eq!(ft.after, vec!["prepare/d"]);
        assert_eq!(
            ft.args,
            vec![
                "--parsable",
                "--job-name=finefail:finetune/d/m/n50/s0",
                "--output=/shared/runs/t/steps/finetune__d__m__n50__s0/slurm-%j.log",
                "--chdir=/shared",
                "--time=02:00:00",
                "--cpus-per-task=8",
                "--partition=gpu",
                "--mem=64G",
                "--gres=gpu:a100:1",
                "--account=lab",
                "--wrap=exec /opt/finefail step /shared/exp/paper.toml --id finetune/d/m/n50/s0 --set 'sweep.seeds=[0, 1]' --runs-dir /shared/runs",
            ]
        );
        let gold = find(&specs, "answer/d/m/n50/s0@gold");
        assert_eq!(gold.after, vec!["retrieve/d", "finetune/d/m/n50/s0"]);
        assert!(gold.args.iter().any(
            |a| a == "--output=/shared/runs/t/steps/answer__d__m__n50__s0_at_gold/slurm-%j.log"
        ));
        assert_eq!(
            find(&specs, "compare").after,
            vec!["score/d/m/n0", "score/d/m/n50/s0@gold"]
        );
    }

    #[test]
    fn gres_goes_only_to_gpu_steps() {
        let specs = build_specs(&plan(), &opts(), &BTreeSet::new(), &BTreeMap::new());
        for s in &specs {
            let gpu = s.step_id.starts_with("finetune/") || s.step_id.starts_with("answer/");
            assert_eq!(
                s.args.iter().any(|a| a.starts_with("--gres=")),
                gpu,
                "{}",
                s.step_id
            );
            assert!(
                s.args.iter().any(|a| a == "--partition=gpu"),
                "{}",
                s.step_id
            );
        }
    }

    #[test]
    fn finished_steps_are_skipped_and_need_no_edge() {
        let current: BTreeSet<String> =
            ["prepare/d", "retrieve/d", "answer/d/m/n0", "score/d/m/n0"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let specs = build_specs(&plan(), &opts(), &current, &BTreeMap::new());
        let ids: Vec<&str> = specs.iter().map(|s| s.step_id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "finetune/d/m/n50/s0",
                "answer/d/m/n50/s0@gold",
                "score/d/m/n50/s0@gold",
                "compare"
            ]
        );
        assert!(find(&specs, "finetune/d/m/n50/s0").after.is_empty());
        assert_eq!(
            find(&specs, "answer/d/m/n50/s0@gold").after,
            vec!["finetune/d/m/n50/s0"]
        );
        assert_eq!(find(&specs, "compare").after, vec!["score/d/m/n50/s0@gold"]);
    }

    #[test]
    fn queued_steps_are_not_resubmitted_but_waited_for() {
        let current: BTreeSet<String> = ["prepare/d".to_string()].into();
        let live: BTreeMap<String, String> =
            [("finetune/d/m/n50/s0".to_string(), "77".to_string())].into();
        let specs = build_specs(&plan(), &opts(), &current, &live);
        assert!(specs
            .iter()
            .all(|s| s.step_id != "finetune/d/m/n50/s0" && s.step_id != "prepare/d"));
        let gold = find(&specs, "answer/d/m/n50/s0@gold");
        assert_eq!(gold.after, vec!["retrieve/d", "finetune/d/m/n50/s0"]);
        let mut ids = live.clone();
        ids.insert("retrieve/d".into(), "78".into());
        let cmd = gold.command(&ids);
        assert_eq!(cmd[cmd.len() - 3], "--dependency=afterok:78:77");
        assert_eq!(cmd[cmd.len() - 2], "--kill-on-invalid-dep=yes");
        assert!(cmd[cmd.len() - 1].starts_with("--wrap="));
        // No dependency flag when nothing is awaited.
        let ft_less = find(&specs, "retrieve/d");
        assert!(ft_less
            .command(&ids)
            .iter()
            .all(|a| !a.starts_with("--dependency") && !a.starts_with("--kill-on-invalid-dep")));
    }

    #[test]
    fn until_limits_the_submitted_kinds_and_cpu_steps_have_no_optional_flags() {
        let mut o = opts();
        o.until = Some(StepKind::Retrieve);
        o.resources = Slurm::default();
        let specs = build_specs(&plan(), &o, &BTreeSet::new(), &BTreeMap::new());
        assert_eq!(
            specs.iter().map(|s| s.step_id.as_str()).collect::<Vec<_>>(),
            vec!["prepare/d", "retrieve/d"]
        );
        assert!(specs[0].args.iter().all(|a| !a.starts_with("--partition")
            && !a.starts_with("--mem")
            && !a.starts_with("--gres")));
        assert!(specs[0].args.contains(&"--time=04:00:00".to_string()));
    }

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("plain/path-1.toml"), "plain/path-1.toml");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME;rm"), "'$HOME;rm'");
    }
}

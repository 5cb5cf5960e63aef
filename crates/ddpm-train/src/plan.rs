//! An experiment plan: a text file of named `ddpm` runs, run in order by `ddpm plan FILE`, each
//! into its own folder, so one command reproduces a chapter's measurements and a second call
//! carries on where the first stopped.
//!
//! ```text
//! # comment
//! samplers/ddim-50   eval --checkpoint checkpoints/mnist-small/checkpoint.safetensors --sampler ddim:50
//! ablation/deep      train --preset deep --steps 3000
//! ```
//!
//! Each line is a run's name (a relative path: its folder under the results folder) and the
//! arguments of `ddpm train`, `ddpm eval` or `ddpm quickstart`, split on whitespace; the runner
//! adds `--out`. Resuming: an `eval` whose folder holds `eval.json` is done, and a `quickstart`
//! whose folder holds `quickstart.json` (a stopped one starts again: its budget is wall-clock
//! time); a `train` whose folder holds a checkpoint is continued with `--resume` (a finished one
//! stops at once).

use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// One named run of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRun {
    /// The line it came from (1-based), for messages.
    pub line: usize,
    /// Its folder under the results folder.
    pub name: String,
    /// `train` or `eval`.
    pub command: RunKind,
    /// The arguments after the subcommand, without `--out`.
    pub args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    Train,
    Eval,
    Quickstart,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("{file}, line {line}: {problem}")]
    Line {
        file: String,
        line: usize,
        problem: String,
    },
}

/// Reads a plan's text; `file` names it in errors.
pub fn parse_plan(file: &str, text: &str) -> Result<Vec<PlanRun>, PlanError> {
    let mut runs: Vec<PlanRun> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |problem: String| PlanError::Line {
            file: file.to_string(),
            line,
            problem,
        };
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut words = content.split_whitespace();
        let name = words.next().expect("a non-empty line has a word");
        let command = match words.next() {
            Some("train") => RunKind::Train,
            Some("eval") => RunKind::Eval,
            Some("quickstart") => RunKind::Quickstart,
            Some(other) => {
                return Err(bad(format!(
                    "run '{name}': '{other}' is not a plan command (train, eval or quickstart)"
                )))
            }
            None => {
                return Err(bad(format!(
                    "run '{name}' has no command (train, eval or quickstart)"
                )))
            }
        };
        let args: Vec<String> = words.map(str::to_string).collect();
        if args.iter().any(|a| a == "--out" || a.starts_with("--out=")) {
            return Err(bad(format!(
                "run '{name}' sets --out; the plan puts each run in its own folder"
            )));
        }
        let path = Path::new(name);
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!(
                "run name '{name}' must be a relative path without '..'"
            )));
        }
        if let Some(first) = runs.iter().find(|r| r.name == name) {
            return Err(bad(format!(
                "run '{name}' is already named on line {}",
                first.line
            )));
        }
        runs.push(PlanRun {
            line,
            name: name.to_string(),
            command,
            args,
        });
    }
    Ok(runs)
}

/// What the runner does with a run, given what its folder already holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Done before: skipped.
    Done,
    /// The `ddpm` arguments to run.
    Run(Vec<String>),
}

impl PlanRun {
    /// The run's folder.
    pub fn dir(&self, results: &Path) -> PathBuf {
        results.join(&self.name)
    }

    /// What to do, given the run's folder: skip a finished evaluation, resume a started training.
    pub fn step(&self, results: &Path) -> Step {
        let dir = self.dir(results);
        let mut args = vec![match self.command {
            RunKind::Train => "train".to_string(),
            RunKind::Eval => "eval".to_string(),
            RunKind::Quickstart => "quickstart".to_string(),
        }];
        args.extend(self.args.iter().cloned());
        args.push("--out".into());
        args.push(dir.display().to_string());
        match self.command {
            RunKind::Eval if dir.join("eval.json").is_file() => Step::Done,
            RunKind::Quickstart if dir.join(crate::quickstart::REPORT_FILE).is_file() => Step::Done,
            RunKind::Train if dir.join(crate::train::CHECKPOINT_FILE).is_file() => {
                args.push("--resume".into());
                Step::Run(args)
            }
            _ => Step::Run(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "# the samplers\n\
        samplers/ddim-50  eval --checkpoint c.safetensors --sampler ddim:50   # cheap\n\
        \n\
        runs/deep train --preset small --steps 10\n\
        budget/v quickstart --objective v --budget-minutes 10\n";

    #[test]
    fn a_plan_reads_as_named_runs() {
        let runs = parse_plan("p", PLAN).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[2].command, RunKind::Quickstart);
        assert_eq!(runs[0].name, "samplers/ddim-50");
        assert_eq!(runs[0].command, RunKind::Eval);
        assert_eq!(
            runs[0].args,
            ["--checkpoint", "c.safetensors", "--sampler", "ddim:50"]
        );
        assert_eq!((runs[1].line, runs[1].command), (4, RunKind::Train));
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, want) in [
            (
                "a sample --count 3",
                "line 1: run 'a': 'sample' is not a plan command (train, eval or quickstart)",
            ),
            ("\nb", "line 2: run 'b' has no command"),
            ("c eval --out x", "line 1: run 'c' sets --out"),
            ("../d eval", "must be a relative path"),
            (
                "e eval\ne train",
                "line 2: run 'e' is already named on line 1",
            ),
        ] {
            let err = parse_plan("plans/x.plan", text).unwrap_err().to_string();
            assert!(err.starts_with("plans/x.plan, "), "{err}");
            assert!(err.contains(want), "{err} lacks {want}");
        }
    }

    /// A second call skips finished evaluations and resumes started trainings.
    #[test]
    fn the_runner_carries_on_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let runs = parse_plan("p", PLAN).unwrap();
        let (ev, tr) = (&runs[0], &runs[1]);
        let out = |r: &PlanRun| r.dir(dir.path()).display().to_string();
        assert_eq!(
            ev.step(dir.path()),
            Step::Run(
                [
                    "eval",
                    "--checkpoint",
                    "c.safetensors",
                    "--sampler",
                    "ddim:50",
                    "--out",
                    &out(ev)
                ]
                .map(String::from)
                .to_vec()
            )
        );
        let Step::Run(first) = tr.step(dir.path()) else {
            panic!("a fresh training runs")
        };
        assert!(!first.contains(&"--resume".to_string()));
        let qs = &runs[2];
        // A stopped quickstart (a checkpoint, no report) starts again, without --resume.
        std::fs::create_dir_all(qs.dir(dir.path())).unwrap();
        std::fs::write(qs.dir(dir.path()).join(crate::train::CHECKPOINT_FILE), b"x").unwrap();
        let Step::Run(q) = qs.step(dir.path()) else {
            panic!("a stopped quickstart runs again")
        };
        assert_eq!(
            (q[0].as_str(), q.contains(&"--resume".to_string())),
            ("quickstart", false)
        );
        for (r, file) in [
            (ev, "eval.json"),
            (tr, crate::train::CHECKPOINT_FILE),
            (qs, crate::quickstart::REPORT_FILE),
        ] {
            std::fs::create_dir_all(r.dir(dir.path())).unwrap();
            std::fs::write(r.dir(dir.path()).join(file), b"x").unwrap();
        }
        assert_eq!(ev.step(dir.path()), Step::Done);
        assert_eq!(qs.step(dir.path()), Step::Done);
        let Step::Run(again) = tr.step(dir.path()) else {
            panic!("a started training resumes")
        };
        assert_eq!(again.last().map(String::as_str), Some("--resume"));
    }
}

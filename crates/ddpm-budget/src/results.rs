//! The budget runs read back: each run's folder under `results/ch10/budget/` holds the main
//! job's `quickstart.json` (what it measured, planned and trained) and, in `eval/`, the
//! `eval.json` of 400 digits sampled from its checkpoint.

use std::path::{Path, PathBuf};

use ddpm_advanced::results::Judgement;
use ddpm_advanced::ResultsError;
use ddpm_train::eval::EvalReport;
use ddpm_train::quickstart::{QuickstartRecord, REPORT_FILE};
use ddpm_train::TrainConfig;

use crate::weighting::objective_label;

/// Where `plans/ch10-budget.plan` writes its runs.
pub fn budget_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch10").join("budget")
}

/// One recipe's run of the main job, and how its digits were judged.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRun {
    /// The run's folder name.
    pub run: String,
    pub config: TrainConfig,
    pub record: QuickstartRecord,
    /// The run's digits (400 from the evaluation) and as many held-out test digits.
    pub samples: Judgement,
    pub real: Judgement,
    /// The evaluation's sampler, as `ddpm` names it.
    pub sampler: String,
}

impl BudgetRun {
    /// The recipe in words (what differs from the main job's defaults), and the budget when it
    /// is not the main job's ten minutes.
    pub fn recipe(&self) -> String {
        match self.is_main_budget() {
            true => recipe(&self.config),
            false => format!("{}, {}", recipe(&self.config), self.minutes_label()),
        }
    }

    /// The job's budget in minutes.
    pub fn minutes(&self) -> f64 {
        self.record.budget_secs / 60.0
    }

    /// Whether the run had the main job's ten minutes.
    pub fn is_main_budget(&self) -> bool {
        (self.record.budget_secs - MAIN_BUDGET_SECS).abs() < 0.5
    }

    fn minutes_label(&self) -> String {
        format!("{} min", self.minutes())
    }

    /// Seconds per training step over the whole run (its training time over its steps): what
    /// the recipe cost on this machine, whatever the job's first measurement said.
    pub fn step_secs(&self) -> f64 {
        self.record.train_secs / self.record.trained_steps.max(1) as f64
    }
}

/// The main job's budget: `ddpm quickstart`'s default of ten minutes.
pub const MAIN_BUDGET_SECS: f64 = 600.0;

/// A recipe in words: the objective, then each setting that differs from [`TrainConfig`]'s
/// defaults (the step count, warm-up and seed are the plan's, not the recipe's).
pub fn recipe(c: &TrainConfig) -> String {
    let d = TrainConfig::default();
    let mut parts = vec![objective_label(c.objective).to_string()];
    if c.min_snr > 0.0 {
        parts.push(format!("min-SNR-{}", c.min_snr));
    }
    if c.preset != d.preset {
        parts.push(format!("{} UNet", c.preset));
    }
    if c.schedule != d.schedule {
        parts.push(format!("{} schedule", c.schedule));
    }
    if c.t_max != d.t_max {
        parts.push(format!("T = {}", c.t_max));
    }
    if c.batch != d.batch {
        parts.push(format!("batch {}", c.batch));
    }
    if c.lr != d.lr {
        parts.push(format!("lr {}", c.lr));
    }
    if c.ema_decay != d.ema_decay {
        parts.push(format!("EMA {}", c.ema_decay));
    }
    if c.dropout != d.dropout {
        parts.push(format!("dropout {}", c.dropout));
    }
    parts.join(", ")
}

/// Every run under [`budget_dir`] that has both files, in folder-name order.
pub fn load_budget(root: &Path) -> Result<Vec<BudgetRun>, ResultsError> {
    let dir = budget_dir(root);
    let bad = |path: &Path, problem: String| ResultsError::File {
        path: path.to_path_buf(),
        problem,
    };
    // The readers name the file already; say it once.
    let strip = |path: &Path, e: String| {
        let prefix = format!("{}: ", path.display());
        e.strip_prefix(&prefix).map(str::to_string).unwrap_or(e)
    };
    let entries = std::fs::read_dir(&dir).map_err(|e| bad(&dir, e.to_string()))?;
    let mut out = Vec::new();
    for entry in entries {
        let folder = entry.map_err(|e| bad(&dir, e.to_string()))?.path();
        let (qs, ev) = (
            folder.join(REPORT_FILE),
            folder.join("eval").join("eval.json"),
        );
        if !qs.is_file() || !ev.is_file() {
            continue;
        }
        let record = QuickstartRecord::read(&qs)
            .map_err(|e| bad(&qs, format!("not a quickstart.json: {}", strip(&qs, e))))?;
        let config = record
            .train_config()
            .map_err(|e| bad(&qs, format!("its config: {e}")))?;
        let eval = EvalReport::read(&ev)
            .map_err(|e| bad(&ev, format!("not an eval.json: {}", strip(&ev, e))))?;
        out.push(BudgetRun {
            run: folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            config,
            record,
            samples: eval.judged.samples.into(),
            real: eval.judged.held_out_real.into(),
            sampler: eval.measured.sampler.unwrap_or_default(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir));
    }
    out.sort_by(|a, b| a.run.cmp(&b.run));
    Ok(out)
}

/// One way of drawing a run's digits for judgement: the sampler, whether x̂₀ was clipped, and
/// how the classifier saw its digits.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerEval {
    /// The evaluation's folder inside the run (`eval`, `eval-ddim50-0`, …).
    pub folder: String,
    pub sampler: String,
    pub clip_x0: bool,
    pub samples: Judgement,
}

/// Every evaluation of run `run` (its folders `eval*` holding an `eval.json`), the main one
/// (`eval`) first, then in folder-name order.
pub fn load_sampler_evals(root: &Path, run: &str) -> Result<Vec<SamplerEval>, ResultsError> {
    let dir = budget_dir(root).join(run);
    let bad = |path: &Path, problem: String| ResultsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| bad(&dir, e.to_string()))? {
        let folder = entry.map_err(|e| bad(&dir, e.to_string()))?.path();
        let name = folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = folder.join("eval.json");
        if !name.starts_with("eval") || !file.is_file() {
            continue;
        }
        let eval = EvalReport::read(&file).map_err(|e| bad(&file, e.to_string()))?;
        out.push(SamplerEval {
            folder: name,
            sampler: eval.measured.sampler.unwrap_or_default(),
            clip_x0: eval.measured.clip_x0,
            samples: eval.judged.samples.into(),
        });
    }
    if out.is_empty() {
        return Err(ResultsError::Empty(dir));
    }
    out.sort_by(|a, b| (a.folder != "eval", &a.folder).cmp(&(b.folder != "eval", &b.folder)));
    Ok(out)
}

/// One run's digits drawn by different samplers, each against the first (the main job's).
pub fn sampler_evals_table(evals: &[SamplerEval]) -> String {
    let mut s = String::from(
        "| sampler | x̂₀ clipped | confident (p ≥ 0.9) ± s.e. | Δ confident (Δ/s.e.) | \
         class entropy | Fréchet distance ± s.e. |\n|---|---|---|---|---|---|\n",
    );
    for e in evals {
        let q = &e.samples;
        let delta = match evals.first() {
            Some(first) if first.folder != e.folder => {
                let (d, se) = confident_difference(&first.samples, q);
                format!("{:+.1} ({:+.1})", 100.0 * d, d / se)
            }
            _ => "—".to_string(),
        };
        s += &format!(
            "| {} | {} | {:.1}% ± {:.1} | {delta} | {:.3} | {} |\n",
            e.sampler,
            if e.clip_x0 { "yes" } else { "no" },
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            frechet(q),
        );
    }
    s
}

/// The runs with the main job's ten minutes: the recipes compared at equal time.
pub fn ten_minute_runs(runs: &[BudgetRun]) -> Vec<BudgetRun> {
    runs.iter()
        .filter(|r| r.is_main_budget())
        .cloned()
        .collect()
}

/// The runs of `of`'s recipe with any budget, shortest first: what more minutes buy.
pub fn minutes_runs(runs: &[BudgetRun], of: &BudgetRun) -> Vec<BudgetRun> {
    let want = recipe(&of.config);
    let mut out: Vec<BudgetRun> = runs
        .iter()
        .filter(|r| recipe(&r.config) == want)
        .cloned()
        .collect();
    out.sort_by(|a, b| a.minutes().total_cmp(&b.minutes()));
    out
}

/// The difference of two runs' confident fractions (b − a) and its standard error, taking the
/// two sets of digits as independent samples.
pub fn confident_difference(a: &Judgement, b: &Judgement) -> (f64, f64) {
    (
        b.confident - a.confident,
        a.confident_se().hypot(b.confident_se()),
    )
}

/// The comparison as a markdown table, each run against `baseline` (a run's folder name), then
/// what real test digits score.
pub fn budget_table(runs: &[BudgetRun], baseline: &str) -> String {
    let base = runs.iter().find(|r| r.run == baseline);
    let vs = base.map_or("—".to_string(), |b| b.recipe());
    let mut s = format!(
        "| recipe | steps in the budget | s per step | whole job, s | confident (p ≥ 0.9) ± s.e. | \
         Δ confident vs {vs} (Δ/s.e.) | class entropy | Fréchet distance ± s.e. |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let q = &r.samples;
        let delta = match base {
            Some(b) if b.run != r.run => {
                let (d, se) = confident_difference(&b.samples, q);
                format!("{:+.1} ({:+.1})", 100.0 * d, d / se)
            }
            _ => "—".to_string(),
        };
        s += &format!(
            "| {} | {} | {:.3} | {:.0} | {:.1}% ± {:.1} | {delta} | {:.3} | {} |\n",
            r.recipe(),
            r.record.trained_steps,
            r.step_secs(),
            r.record.total_secs,
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            frechet(q),
        );
    }
    if let Some(r) = runs.first() {
        let q = &r.real;
        s += &format!(
            "| held-out test digits (real, the mark to reach) | — | — | — | {:.1}% ± {:.1} | — | {:.3} | {} |\n",
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            frechet(q),
        );
    }
    s
}

fn frechet(q: &Judgement) -> String {
    match q.frechet_se {
        Some(se) => format!("{:.1} ± {se:.1}", q.frechet),
        None => format!("{:.1}", q.frechet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_loss::Objective;

    #[test]
    fn a_recipe_names_what_differs_from_the_defaults() {
        let mut c = TrainConfig {
            steps: 1234,
            seed: 7,
            ..Default::default()
        };
        assert_eq!(recipe(&c), "ε");
        c.objective = Objective::V;
        c.min_snr = 5.0;
        c.batch = 32;
        c.ema_decay = 0.995;
        assert_eq!(recipe(&c), "v, min-SNR-5, batch 32, EMA 0.995");
    }

    #[test]
    fn differences_carry_both_standard_errors() {
        let j = |confident| Judgement {
            count: 400,
            confident,
            class_entropy: 0.0,
            frechet: 0.0,
            frechet_se: None,
        };
        let (d, se) = confident_difference(&j(0.5), &j(0.5));
        assert_eq!(d, 0.0);
        assert!((se - 0.025 * 2f64.sqrt()).abs() < 1e-12);
    }

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Chapter 10's tables are the committed runs, as `budget_table` and `sampler_evals_table`
    /// write them: the ten-minute recipes against ε, the best one's samplers, and its minutes.
    #[test]
    fn the_books_tables_are_the_results() {
        let runs = load_budget(&root()).unwrap();
        assert!(runs.len() >= 6, "round 1's six recipes at least");
        assert!(runs.iter().all(|r| r.samples.count == 400));
        let best = crate::figures::best(&runs).unwrap();
        let tables = [
            budget_table(&ten_minute_runs(&runs), "eps"),
            sampler_evals_table(&load_sampler_evals(&root(), &best.run).unwrap()),
            budget_table(&minutes_runs(&runs, best), &best.run),
        ];
        let book =
            std::fs::read_to_string(root().join("book/src/ch10-training-on-a-budget.md")).unwrap();
        for table in tables {
            assert!(
                book.contains(&table),
                "a chapter 10 table differs from the results; it should read:\n{table}"
            );
        }
    }

    /// The main job trains a recipe the search ran at its budget, and no ten-minute run was
    /// confidently better (by more than 2 s.e. of the difference).
    #[test]
    fn the_quickstart_trains_a_recipe_the_search_supports() {
        let runs = load_budget(&root()).unwrap();
        let want = recipe(&ddpm_train::quickstart::budget_config());
        let chosen = runs
            .iter()
            .find(|r| r.is_main_budget() && r.recipe() == want)
            .unwrap_or_else(|| panic!("the quickstart's recipe ({want}) has no ten-minute run"));
        for r in runs.iter().filter(|r| r.is_main_budget()) {
            let (d, se) = confident_difference(&chosen.samples, &r.samples);
            assert!(
                d < 2.0 * se,
                "{} beats the quickstart's {want} by {:.1} ± {:.1} points",
                r.recipe(),
                100.0 * d,
                100.0 * se
            );
        }
    }

    /// The chapter's claim about the EMA: its warm-up (1 + n)/(10 + n) stays below the 0.999
    /// cap until step 8,990, so in every run of the search the cap never acted, and in the
    /// ten-minute runs the average's window at the end, 1/(1 − decay), was under 400 steps.
    #[test]
    fn the_ema_cap_never_acts_in_a_ten_minute_run() {
        let c = TrainConfig::default();
        assert!(c.ema_decay_at(8989) < c.ema_decay && c.ema_decay_at(8990) >= c.ema_decay);
        let window = |n: usize| 1.0 / (1.0 - c.ema_decay_at(n));
        assert!(
            (window(1299) - 1309.0 / 9.0).abs() < 1e-6,
            "about 145 steps at n = 1,300"
        );
        for r in load_budget(&root()).unwrap() {
            let last = r.record.trained_steps - 1;
            assert!(
                r.config.ema_decay_at(last) < r.config.ema_decay,
                "{}",
                r.run
            );
            if r.is_main_budget() {
                assert!(
                    window(last) < 400.0,
                    "{}: window {:.0}",
                    r.run,
                    window(last)
                );
            }
        }
    }

    #[test]
    fn bad_files_are_named() {
        let root = std::env::temp_dir().join(format!("ddpm-budget-{}", std::process::id()));
        let run = budget_dir(&root).join("broken");
        std::fs::create_dir_all(run.join("eval")).unwrap();
        std::fs::write(run.join(REPORT_FILE), "{ not json").unwrap();
        std::fs::write(run.join("eval").join("eval.json"), "{}").unwrap();
        let err = load_budget(&root).unwrap_err().to_string();
        assert!(
            err.contains("broken/quickstart.json") && err.contains("not a quickstart.json"),
            "{err}"
        );
        std::fs::remove_dir_all(&run).unwrap();
        let err = load_budget(&root).unwrap_err().to_string();
        assert!(err.contains("no run folders"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}

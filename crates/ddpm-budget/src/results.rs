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
    /// The recipe in words (what differs from the main job's defaults).
    pub fn recipe(&self) -> String {
        recipe(&self.config)
    }

    /// Seconds per training step the job measured before planning.
    pub fn step_secs(&self) -> f64 {
        self.record.measured_train_step_secs
    }
}

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

/// The difference of two runs' confident fractions (b − a) and its standard error, taking the
/// two sets of digits as independent samples.
pub fn confident_difference(a: &Judgement, b: &Judgement) -> (f64, f64) {
    (
        b.confident - a.confident,
        a.confident_se().hypot(b.confident_se()),
    )
}

/// The comparison as a markdown table, each run against `baseline` (a run's folder name), then
/// the floor (real test digits).
pub fn budget_table(runs: &[BudgetRun], baseline: &str) -> String {
    let base = runs.iter().find(|r| r.run == baseline);
    let mut s = String::from(
        "| recipe | steps in the budget | s per step | confident (p ≥ 0.9) ± s.e. | \
         Δ confident vs ε (Δ/s.e.) | class entropy | Fréchet distance ± s.e. |\n\
         |---|---|---|---|---|---|---|\n",
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
            "| {} | {} | {:.3} | {:.1}% ± {:.1} | {delta} | {:.3} | {} |\n",
            r.recipe(),
            r.record.trained_steps,
            r.step_secs(),
            100.0 * q.confident,
            100.0 * q.confident_se(),
            q.class_entropy,
            frechet(q),
        );
    }
    if let Some(r) = runs.first() {
        let q = &r.real;
        s += &format!(
            "| held-out test digits (the floor) | — | — | {:.1}% ± {:.1} | — | {:.3} | {} |\n",
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

//! The chapter's figures: the loss weightings (computed from the schedule) and the digits the
//! main job drew with each recipe (read from the committed runs).

use std::path::Path;

use ddpm_loss::Objective;
use ddpm_plot::{line_chart, Corner, Figure, FigureError, LineChart, Png, Reproducible};
use ddpm_schedule::{BetaSchedule, Schedule};

use crate::results::{budget_dir, load_budget, recipe, BudgetRun};
use crate::weighting::Weighting;

/// The weightings the chapter compares: the three objectives, and min-SNR-5.
pub const WEIGHTINGS: [Weighting; 4] = [
    Weighting {
        objective: Objective::Eps,
        min_snr: 0.0,
    },
    Weighting {
        objective: Objective::X0,
        min_snr: 0.0,
    },
    Weighting {
        objective: Objective::V,
        min_snr: 0.0,
    },
    Weighting {
        objective: Objective::Eps,
        min_snr: 5.0,
    },
];

/// Every figure of chapter 10. Drawn from the schedule or copied from committed runs, so the
/// same bytes on every machine.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "loss-weighting.png",
        render: |_| Ok(loss_weighting()?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "eps-samples.png",
        render: |root| samples_of(root, |runs| runs.iter().find(|r| r.run == "eps")),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "best-samples.png",
        render: |root| samples_of(root, best),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "minutes.png",
        render: |root| Ok(minutes(&load_budget(root)?)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// Quality against the budget: for every recipe run with more than one budget, the confident
/// fraction (± 2 s.e., as a band) and the Fréchet distance against the job's minutes.
pub fn minutes(runs: &[BudgetRun]) -> Result<Png, FigureError> {
    let mut recipes: Vec<String> = runs.iter().map(|r| recipe(&r.config)).collect();
    recipes.sort();
    recipes.dedup();
    let mut confident = LineChart::new("Digits the classifier is sure of")
        .x_label("the job's budget, minutes")
        .y_label("confident (p ≥ 0.9), %, ± 2 s.e.")
        .markers()
        .legend_at(Corner::LowerRight);
    let mut frechet = LineChart::new("Fréchet distance to test digits (lower is better)")
        .x_label("the job's budget, minutes")
        .y_label("Fréchet distance, ± 2 s.e.")
        .markers()
        .legend_at(Corner::UpperRight);
    for name in recipes {
        let mut of: Vec<&BudgetRun> = runs.iter().filter(|r| recipe(&r.config) == name).collect();
        if of.len() < 2 {
            continue;
        }
        of.sort_by(|a, b| a.minutes().total_cmp(&b.minutes()));
        let band = |f: &dyn Fn(&BudgetRun) -> f64| of.iter().map(|r| (r.minutes(), f(r))).collect();
        let pct = |r: &BudgetRun| 100.0 * r.samples.confident;
        let se = |r: &BudgetRun| 100.0 * r.samples.confident_se();
        confident = confident
            .series(name.clone(), band(&pct))
            .series(format!("{name} − 2 s.e."), band(&|r| pct(r) - 2.0 * se(r)))
            .series(format!("{name} + 2 s.e."), band(&|r| pct(r) + 2.0 * se(r)));
        let fse = |r: &BudgetRun| r.samples.frechet_se.unwrap_or(0.0);
        frechet = frechet
            .series(name.clone(), band(&|r| r.samples.frechet))
            .series(
                format!("{name} − 2 s.e."),
                band(&|r| r.samples.frechet - 2.0 * fse(r)),
            )
            .series(
                format!("{name} + 2 s.e."),
                band(&|r| r.samples.frechet + 2.0 * fse(r)),
            );
    }
    Ok(line_chart(&[confident, frechet], 2, (560, 380))?)
}

/// The ten-minute run whose digits the classifier was most often sure of.
pub fn best(runs: &[BudgetRun]) -> Option<&BudgetRun> {
    runs.iter()
        .filter(|r| r.is_main_budget())
        .max_by(|a, b| a.samples.confident.total_cmp(&b.samples.confident))
}

/// The 64 digits the main job drew at the end of a run (its `samples.png`).
fn samples_of(
    root: &Path,
    pick: impl Fn(&[BudgetRun]) -> Option<&BudgetRun>,
) -> Result<Vec<u8>, FigureError> {
    let runs = load_budget(root)?;
    let run = pick(&runs).ok_or("no such run under results/ch10/budget")?;
    let path = budget_dir(root).join(&run.run).join("samples.png");
    std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// How much each training loss weighs the x₀ error at each step t (linear schedule, T =
/// 1,000), on a log scale, and the cumulative share of that weight.
pub fn loss_weighting() -> Result<Png, FigureError> {
    let s = Schedule::new(BetaSchedule::Linear, 1000)?;
    let mut weight = LineChart::new("Weight on the x₀ error at step t")
        .x_label("step t")
        .y_label("weight (log scale)")
        .log_y()
        .legend_at(Corner::UpperRight);
    let mut share = LineChart::new("Share of the loss on steps ≤ t")
        .x_label("step t")
        .y_label("cumulative share of the weight")
        .y_range(0.0, 1.0)
        .legend_at(Corner::LowerRight);
    for w in WEIGHTINGS {
        let points: Vec<(f64, f64)> = (1..=s.t_max())
            .map(|t| (t as f64, w.x0_weight(&s, t)))
            .collect();
        let total: f64 = points.iter().map(|p| p.1).sum();
        let mut acc = 0.0;
        let cumulative = points
            .iter()
            .map(|&(t, v)| {
                acc += v;
                (t, acc / total)
            })
            .collect();
        weight = weight.series(w.label(), points);
        share = share.series(w.label(), cumulative);
    }
    Ok(line_chart(&[weight, share], 2, (560, 380))?)
}

//! The chapter's figures, drawn from the committed results of its plans (`results/ch09/`).

use std::path::{Path, PathBuf};

use ddpm_plot::{line_chart, Corner, Figure, FigureError, LineChart, PlotError, Png, Reproducible};

use crate::ablation::{guidance_samplers, load_guidance, GuidanceResult};
use crate::results::{families, load_sampler_results, SamplerResult};

/// T of the committed chapter-8 model the samplers are compared on (its config's `t_max`).
pub const COMMITTED_T: usize = 1000;

/// Where `plans/ch09-samplers.plan` writes its runs.
pub fn samplers_dir(root: &Path) -> PathBuf {
    root.join("results").join("ch09").join("samplers")
}

/// Every figure of chapter 9. Drawn from JSON numbers with no long computation, so the same
/// bytes on every machine.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "sampler-steps.png",
        render: |root| Ok(sampler_steps(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "guidance-scale.png",
        render: |root| Ok(guidance_scale(root)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// Fidelity against diversity as the guidance scale grows: the fraction drawn as the asked
/// digit, and the within-class spread (1 = as varied as real digits).
pub fn guidance_scale(root: &Path) -> Result<Png, FigureError> {
    let results = load_guidance(root)?;
    let x_label = "guidance scale s (0: no label, 1: conditional)";
    // One series per sampler, of the runs that have the value.
    let panel = |title: &str,
                 y_label: &str,
                 corner: Corner,
                 value: &dyn Fn(&GuidanceResult) -> Option<f64>| {
        let mut chart = LineChart::new(title)
            .x_label(x_label)
            .y_label(y_label)
            .markers()
            .legend_at(corner);
        for sampler in guidance_samplers(&results) {
            let points: Vec<(f64, f64)> = results
                .iter()
                .filter(|r| r.series() == sampler)
                .filter_map(|r| value(r).map(|v| (r.scale, v)))
                .collect();
            if !points.is_empty() {
                chart = chart.series(sampler, points);
            }
        }
        chart
    };
    Ok(line_chart(
        &[
            panel(
                "Drawn as the digit asked for",
                "classifier agrees, %",
                Corner::LowerRight,
                &|r| Some(100.0 * r.class_accuracy),
            ),
            panel(
                "Variety among the digits drawn right",
                "mean feature distance, real digits = 1",
                Corner::UpperRight,
                &|r| r.within_class_spread_classified,
            ),
            panel(
                "Fréchet distance to test digits",
                "Fréchet distance of classifier features",
                Corner::UpperLeft,
                &|r| Some(r.samples.frechet),
            ),
        ],
        3,
        (480, 400),
    )?)
}

/// Quality against network calls, a line for each sampler family with several runs (strided,
/// DDIM, Heun, DPM-Solver++), Algorithm 2's full chain as one dot at T calls (the floor, real digits, is in the chapter's table).
pub fn sampler_steps(root: &Path) -> Result<Png, FigureError> {
    let results = load_sampler_results(&samplers_dir(root), COMMITTED_T)?;
    Ok(sampler_steps_chart(&results)?)
}

/// [`sampler_steps`] from results in memory.
pub fn sampler_steps_chart(results: &[SamplerResult]) -> Result<Png, PlotError> {
    let panel =
        |title: &str, y_label: &str, legend: Corner, value: &dyn Fn(&SamplerResult) -> f64| {
            let mut chart = LineChart::new(title)
                .x_label("network calls per sample (log scale)")
                .y_label(y_label)
                .log_x()
                .markers()
                .legend_at(legend);
            for family in families(results) {
                let points: Vec<(f64, f64)> = results
                    .iter()
                    .filter(|r| r.family == family)
                    .map(|r| (r.steps as f64, value(r)))
                    .collect();
                chart = chart.series(&family, points);
            }
            chart
        };
    line_chart(
        &[
            panel(
                "Samples the classifier is sure of",
                "confident (p ≥ 0.9), %",
                Corner::LowerRight,
                &|r| 100.0 * r.samples.confident,
            ),
            panel(
                "Fréchet distance to test digits (lower is better)",
                "Fréchet distance of classifier features",
                Corner::UpperRight,
                &|r| r.samples.frechet,
            ),
        ],
        2,
        (560, 420),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The committed results hold every run of the plan.
    #[test]
    fn the_committed_results_cover_the_plan() {
        let results = load_sampler_results(&samplers_dir(&root()), COMMITTED_T).unwrap();
        let plan = std::fs::read_to_string(root().join("plans/ch09-samplers.plan")).unwrap();
        let runs = plan
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(results.len(), runs);
        assert!(results.iter().all(|r| r.samples.count == 400));
    }

    /// The committed ablation and guidance results hold every evaluation of their plans.
    #[test]
    fn the_committed_results_cover_the_ablation_and_guidance_plans() {
        use crate::ablation::{load_ablation, VARIANTS};
        let ablation = load_ablation(&root()).unwrap();
        let names: Vec<&str> = ablation.iter().map(|r| r.run.as_str()).collect();
        let all: Vec<&str> = VARIANTS.iter().map(|v| v.run).collect();
        assert_eq!(names, all, "a variant's results are missing");
        assert!(ablation
            .iter()
            .all(|r| r.samples.count == 400 && r.steps == 600));
        assert!(ablation.iter().all(|r| r.time_ratio.is_some()));
        let plan = std::fs::read_to_string(root().join("plans/ch09-guidance.plan")).unwrap();
        let evals = plan.lines().filter(|l| l.contains(" eval ")).count();
        assert_eq!(load_guidance(&root()).unwrap().len(), evals);
        let plan = std::fs::read_to_string(root().join("plans/ch09-ablation.plan")).unwrap();
        let fewsteps = plan.lines().filter(|l| l.starts_with("fewsteps/")).count();
        let loaded = crate::ablation::load_fewsteps(&root()).unwrap();
        assert_eq!(loaded.len(), fewsteps);
        assert!(loaded.iter().all(|r| r.samples.count == 400));
        let plan = std::fs::read_to_string(root().join("plans/ch09-defaults.plan")).unwrap();
        let evals = plan
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(" eval "))
            .count();
        let loaded = crate::ablation::load_defaults(&root(), COMMITTED_T).unwrap();
        assert_eq!(
            loaded.len(),
            evals + 4,
            "the plan's runs and chapter 8's 4 unclipped"
        );
        assert!(loaded.iter().all(|r| r.samples.count == 400));
    }

    /// The chapter's ablation and guidance tables are the committed results.
    #[test]
    fn the_books_ablation_and_guidance_tables_are_the_results() {
        use crate::ablation::{
            ablation_table, fewsteps_table, guidance_table, load_ablation, load_fewsteps,
        };
        let book =
            std::fs::read_to_string(root().join("book/src/ch09-recent-developments.md")).unwrap();
        for table in [
            ablation_table(&load_ablation(&root()).unwrap()),
            crate::ablation::seeds_table(&load_ablation(&root()).unwrap()),
            guidance_table(&load_guidance(&root()).unwrap()),
            fewsteps_table(&load_fewsteps(&root()).unwrap()),
            crate::ablation::defaults_table(
                &crate::ablation::load_defaults(&root(), COMMITTED_T).unwrap(),
            ),
        ] {
            assert!(
                book.contains(&table),
                "a chapter 9 table differs from the results; it should read:\n{table}"
            );
        }
    }

    /// The chapter's table is the committed results, as `sampler_table` writes them.
    #[test]
    fn the_books_table_is_the_results() {
        let results = load_sampler_results(&samplers_dir(&root()), COMMITTED_T).unwrap();
        let table = crate::results::sampler_table(&results);
        let book =
            std::fs::read_to_string(root().join("book/src/ch09-recent-developments.md")).unwrap();
        assert!(
            book.contains(&table),
            "chapter 9's sampler table differs from the results; it should read:\n{table}"
        );
    }
}

//! Chapter 5's figure: the weights w_t that L_simple drops.

use std::path::Path;

use ddpm_plot::{line_chart, Figure, FigureError, LineChart, Png, Reproducible};
use ddpm_schedule::{BetaSchedule, Schedule};
use ddpm_vlb::ModelVariance;

use crate::eps_weight;

/// The chapter's figures, written to `book/src/figures/ch05/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[Figure {
    file: "weights.png",
    render: |root| Ok(weights(root)?.0),
    reproducible: Reproducible::Exactly,
}];

/// w_t = β_t² / (2σ_t² α_t (1 − ᾱ_t)) against t (log scale) for both schedules and both fixed
/// variances, with L_simple's constant weight 1 for reference.
pub fn weights(_root: &Path) -> Result<Png, FigureError> {
    let mut chart = LineChart::new("the weights wₜ of the ε-form of the bound")
        .x_label("t")
        .y_label("wₜ")
        .log_y();
    for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
        let s = Schedule::new(kind, 1000)?;
        for variance in ModelVariance::ALL {
            let label = match variance {
                ModelVariance::Beta => format!("{kind}, σ² = β"),
                ModelVariance::PosteriorBeta => format!("{kind}, σ² = posterior"),
            };
            chart = chart.series(
                label,
                (2..=1000)
                    .map(|t| (t as f64, eps_weight(&s, t, variance)))
                    .collect(),
            );
        }
    }
    chart = chart.series("L_simple: wₜ = 1", vec![(2.0, 1.0), (1000.0, 1.0)]);
    Ok(line_chart(&[chart], 1, (720, 420))?)
}

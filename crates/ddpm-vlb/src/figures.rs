//! Chapter 4's figures: the terms of the bound for the best possible model of 1-D Gaussian data,
//! and the posterior variance β̃_t against β_t.

use std::path::Path;

use ddpm_plot::{line_chart, Figure, FigureError, LineChart, Png, Reproducible};
use ddpm_schedule::{BetaSchedule, Schedule};
use rand::{rngs::StdRng, SeedableRng};

use crate::{vlb_terms, DiscretisedGaussian, ModelVariance};

/// The chapter's figures, written to `book/src/figures/ch04/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "vlb-terms.png",
        render: |root| Ok(vlb_terms_figure(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "posterior-variance.png",
        render: |root| Ok(posterior_variance(root)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// The data of the figure and of the chapter's bound test.
pub const DATA: DiscretisedGaussian = DiscretisedGaussian { mean: 0.1, sd: 0.3 };

/// The mean of each term of L_vlb (bits) for 2,000 examples of [`DATA`] under the optimal
/// ε-predictor, linear schedule, T = 1000, for both fixed variances: entry t − 1 is L_{t−1}
/// (L_0 at t = 1), the last entry L_T.
pub fn mean_terms(variance: ModelVariance, seed: u64) -> Vec<f64> {
    let s = Schedule::new(BetaSchedule::Linear, 1000).expect("valid schedule");
    let mut rng = StdRng::seed_from_u64(seed);
    let x0 = DATA.sample(2000, &mut rng);
    let mut model = |x: &[f64], t: usize| {
        x.iter()
            .map(|&xt| DATA.optimal_eps(&s, xt, t))
            .collect::<Vec<_>>()
    };
    vlb_terms(&s, &mut model, &x0, 1, variance, &mut rng).mean_bits_per_dim_by_term()
}

/// L_0, L_1, …, L_{T−1} against t for σ² = β and σ² = β̃: all of them on a log scale, and the
/// first 40, where the two variances differ, on a linear one.
pub fn vlb_terms_figure(_root: &Path) -> Result<Png, FigureError> {
    let mut all = LineChart::new("all terms (log scale)")
        .x_label("t: L₀ at t = 1, then Lₜ₋₁")
        .y_label("bits")
        .log_y();
    let mut first = LineChart::new("the first 40 terms")
        .x_label("t")
        .y_label("bits");
    for variance in ModelVariance::ALL {
        let terms = mean_terms(variance, 0);
        let name = variance_label(variance);
        let points: Vec<(f64, f64)> = terms[..terms.len() - 1]
            .iter()
            .enumerate()
            .map(|(i, &b)| ((i + 1) as f64, b.max(1e-12)))
            .collect();
        first = first.series(name, points[..40].to_vec());
        all = all.series(name, points);
    }
    Ok(line_chart(&[all, first], 2, (520, 380))?)
}

/// Chart labels avoid the combining tilde of β̃, which the chart font cannot place.
fn variance_label(v: ModelVariance) -> &'static str {
    match v {
        ModelVariance::Beta => "σ² = β",
        ModelVariance::PosteriorBeta => "σ² = posterior variance",
    }
}

/// β_t and the posterior variance β̃_t (log scale), and their ratio over the first 100 steps,
/// linear and cosine schedules, T = 1000.
pub fn posterior_variance(_root: &Path) -> Result<Png, FigureError> {
    let mut both = LineChart::new("β and the posterior variance")
        .x_label("t")
        .log_y();
    let mut ratio = LineChart::new("posterior variance / β, first 100 steps")
        .x_label("t")
        .y_range(0.0, 1.05);
    for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
        let s = Schedule::new(kind, 1000)?;
        let ts = 2..=1000usize;
        both = both
            .series(
                format!("β, {kind}"),
                ts.clone().map(|t| (t as f64, s.beta(t))).collect(),
            )
            .series(
                format!("posterior, {kind}"),
                ts.map(|t| (t as f64, s.posterior_variance(t))).collect(),
            );
        ratio = ratio.series(
            kind.name(),
            (2..=100)
                .map(|t| (t as f64, s.posterior_variance(t) / s.beta(t)))
                .collect(),
        );
    }
    Ok(line_chart(&[both, ratio], 2, (520, 380))?)
}

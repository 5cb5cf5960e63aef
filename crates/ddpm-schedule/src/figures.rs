//! Chapter 2's figures: every schedule's β_t, ᾱ_t and log-SNR, and the signal and noise
//! coefficients of x_t.

use std::path::Path;

use ddpm_plot::{line_chart, Figure, FigureError, LineChart, Png, Reproducible};

use crate::{BetaSchedule, Schedule};

/// The chapter's figures, written to `book/src/figures/ch02/` by `cargo xtask figures`.
pub const FIGURES: &[Figure] = &[
    Figure {
        file: "schedules.png",
        render: |root| Ok(schedules(root)?.0),
        reproducible: Reproducible::Exactly,
    },
    Figure {
        file: "signal-noise.png",
        render: |root| Ok(signal_noise(root)?.0),
        reproducible: Reproducible::Exactly,
    },
];

/// T used in every figure of the chapter, as in Ho et al.
pub const T: usize = 1000;

fn curve(s: &Schedule, from: usize, f: impl Fn(&Schedule, usize) -> f64) -> Vec<(f64, f64)> {
    (from..=s.t_max()).map(|t| (t as f64, f(s, t))).collect()
}

/// β_t (log scale), ᾱ_t and ln SNR(t) against t, one curve per schedule, at T = 1000.
pub fn schedules(_root: &Path) -> Result<Png, FigureError> {
    let mut beta = LineChart::new("βₜ").x_label("t").log_y();
    let mut alpha_bar = LineChart::new("ᾱₜ").x_label("t");
    let mut log_snr = LineChart::new("log-SNR(t) = ln ᾱₜ/(1−ᾱₜ)").x_label("t");
    for kind in BetaSchedule::ALL {
        let s = Schedule::new(kind, T)?;
        beta = beta.series(kind.name(), curve(&s, 1, Schedule::beta));
        alpha_bar = alpha_bar.series(kind.name(), curve(&s, 1, Schedule::alpha_bar));
        // The last cosine step sends ᾱ_T to ~1e-8 (β capped at 0.999); plot up to T − 1 so
        // one point does not flatten every other curve.
        log_snr = log_snr.series(
            kind.name(),
            curve(&s, 1, Schedule::log_snr)[..T - 1].to_vec(),
        );
    }
    Ok(line_chart(&[beta, alpha_bar, log_snr], 3, (440, 340))?)
}

/// x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε: how the two coefficients trade places, linear vs cosine.
pub fn signal_noise(_root: &Path) -> Result<Png, FigureError> {
    let mut chart = LineChart::new("signal √ᾱₜ and noise √(1−ᾱₜ) in xₜ")
        .x_label("t")
        .y_range(0.0, 1.3); // headroom for the legend
    for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
        let s = Schedule::new(kind, T)?;
        chart = chart
            .series(
                format!("√ᾱₜ, {kind}"),
                curve(&s, 0, Schedule::sqrt_alpha_bar),
            )
            .series(
                format!("√(1−ᾱₜ), {kind}"),
                curve(&s, 0, Schedule::sqrt_one_minus_alpha_bar),
            );
    }
    Ok(line_chart(&[chart], 1, (640, 380))?)
}

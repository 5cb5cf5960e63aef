//! Each objective as a weighted x₀ regression: for a network output read as x̂₀, the squared
//! error of the ε-, x₀- and v-objectives is SNR_t, 1 and 1 + SNR_t times ‖x̂₀ − x₀‖²
//! ([`Objective::x0_loss_factor`]), and min-SNR-γ makes that weight min(SNR_t, γ) whatever the
//! objective ([`Objective::min_snr_weight`]).

use ddpm_loss::Objective;
use ddpm_schedule::Schedule;

/// A way of weighting the loss: an objective, with min-SNR-γ weighting or without (γ = 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weighting {
    pub objective: Objective,
    pub min_snr: f64,
}

impl Weighting {
    /// The weight this training loss puts on the x₀ error at step t: the objective's factor,
    /// times the min-SNR weight when γ > 0 (which makes it min(SNR_t, γ)).
    pub fn x0_weight(self, s: &Schedule, t: usize) -> f64 {
        let factor = self.objective.x0_loss_factor(s, t);
        if self.min_snr > 0.0 {
            factor * self.objective.min_snr_weight(s, t, self.min_snr)
        } else {
            factor
        }
    }

    /// The share of the whole loss's weight (over t uniform in 1..=T) that falls on the steps
    /// `range`: where the training effort goes.
    pub fn share(self, s: &Schedule, range: std::ops::RangeInclusive<usize>) -> f64 {
        let total: f64 = (1..=s.t_max()).map(|t| self.x0_weight(s, t)).sum();
        range.map(|t| self.x0_weight(s, t)).sum::<f64>() / total
    }

    pub fn label(self) -> String {
        let name = objective_label(self.objective);
        if self.min_snr > 0.0 {
            format!("{name}, min-SNR-{}", self.min_snr)
        } else {
            name.to_string()
        }
    }
}

/// The objective's name as the book writes it.
pub fn objective_label(o: Objective) -> &'static str {
    match o {
        Objective::Eps => "ε",
        Objective::X0 => "x₀",
        Objective::V => "v",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;

    fn linear() -> Schedule {
        Schedule::new(BetaSchedule::Linear, 1000).unwrap()
    }

    /// The weights the chapter states, against SNR_t = ᾱ_t/(1 − ᾱ_t) computed here from ᾱ_t;
    /// and v's weight is ε's divided by ᾱ_t (the book's second form of it).
    #[test]
    fn the_weights_are_snr_one_and_one_plus_snr() {
        let s = linear();
        for t in [1, 10, 100, 300, 500, 700, 1000] {
            let ab = s.alpha_bar(t);
            let snr = ab / (1.0 - ab);
            let w = |objective, min_snr| Weighting { objective, min_snr }.x0_weight(&s, t);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-12);
            assert!(close(w(Objective::Eps, 0.0), snr), "ε at t = {t}");
            assert!(close(w(Objective::X0, 0.0), 1.0), "x₀ at t = {t}");
            assert!(close(w(Objective::V, 0.0), 1.0 + snr), "v at t = {t}");
            assert!(
                close(w(Objective::V, 0.0), w(Objective::Eps, 0.0) / ab),
                "v = ε/ᾱ at t = {t}"
            );
            for o in Objective::ALL {
                assert!(close(w(o, 5.0), snr.min(5.0)), "{o}, min-SNR-5 at t = {t}");
            }
        }
    }

    /// Where the effort goes, the chapter's numbers: ε-loss puts almost all its weight on the
    /// first tenth of the steps (where the digit is nearly clean), x₀-loss spreads it evenly.
    #[test]
    fn eps_loss_spends_its_weight_on_the_cleanest_steps() {
        let s = linear();
        let eps = Weighting {
            objective: Objective::Eps,
            min_snr: 0.0,
        };
        let x0 = Weighting {
            objective: Objective::X0,
            min_snr: 0.0,
        };
        assert!(eps.share(&s, 1..=100) > 0.95, "{}", eps.share(&s, 1..=100));
        assert!((x0.share(&s, 1..=100) - 0.1).abs() < 1e-12);
        assert!((eps.share(&s, 1..=1000) - 1.0).abs() < 1e-12);
    }
}

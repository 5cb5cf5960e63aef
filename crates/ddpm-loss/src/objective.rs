//! What the network is trained to output. Ho et al. predict the noise ε; it can as well predict
//! the clean data x₀, or v = √ᾱ_t ε − √(1 − ᾱ_t) x₀ (Salimans & Ho 2022). Given x_t, each of the
//! three determines the other two, so training, sampling and the bound need only this type to
//! know what the network's output means: its target, and the conversions to ε̂ and x̂₀.

use std::fmt;
use std::str::FromStr;

use ddpm_forward::Rows;
use ddpm_schedule::Schedule;
use dfdx::prelude::*;

// ANCHOR: objective
/// The network's output: ε (the noise, Ho et al. 2020), x₀ (the clean data) or v (Salimans & Ho
/// 2022). With a_t = √ᾱ_t and b_t = √(1 − ᾱ_t), so that x_t = a_t x₀ + b_t ε and a_t² + b_t² = 1:
///
/// | objective | target | x̂₀ from the output | ε̂ from the output |
/// |---|---|---|---|
/// | ε | ε | (x_t − b_t ε̂)/a_t | ε̂ |
/// | x₀ | x₀ | x̂₀ | (x_t − a_t x̂₀)/b_t |
/// | v | a_t ε − b_t x₀ | a_t x_t − b_t v̂ | b_t x_t + a_t v̂ |
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Objective {
    #[default]
    Eps,
    X0,
    V,
}
// ANCHOR_END: objective

impl Objective {
    pub const ALL: [Objective; 3] = [Objective::Eps, Objective::X0, Objective::V];

    /// The name used on command lines and in checkpoints: "eps", "x0" or "v".
    pub fn name(self) -> &'static str {
        match self {
            Objective::Eps => "eps",
            Objective::X0 => "x0",
            Objective::V => "v",
        }
    }

    /// The target for one number: what the network should output at x_t = a_t x₀ + b_t ε.
    pub fn target_scalar(self, s: &Schedule, x0: f64, eps: f64, t: usize) -> f64 {
        let (a, b) = (s.sqrt_alpha_bar(t), s.sqrt_one_minus_alpha_bar(t));
        match self {
            Objective::Eps => eps,
            Objective::X0 => x0,
            Objective::V => a * eps - b * x0,
        }
    }

    /// ε̂ implied by an output `out` at x_t, for one number.
    pub fn eps_scalar(self, s: &Schedule, out: f64, x_t: f64, t: usize) -> f64 {
        let (a, b) = (s.sqrt_alpha_bar(t), s.sqrt_one_minus_alpha_bar(t));
        match self {
            Objective::Eps => out,
            Objective::X0 => (x_t - a * out) / b,
            Objective::V => b * x_t + a * out,
        }
    }

    /// x̂₀ implied by an output `out` at x_t, for one number.
    pub fn x0_scalar(self, s: &Schedule, out: f64, x_t: f64, t: usize) -> f64 {
        let (a, b) = (s.sqrt_alpha_bar(t), s.sqrt_one_minus_alpha_bar(t));
        match self {
            Objective::Eps => (x_t - b * out) / a,
            Objective::X0 => out,
            Objective::V => a * x_t - b * out,
        }
    }

    // ANCHOR: objective_target
    /// The training target for a batch, each row at its own step `ts[i]`.
    pub fn target<D: Device<f32>>(
        self,
        s: &Schedule,
        x0: &Rows<D>,
        eps: &Rows<D>,
        ts: &[usize],
    ) -> Rows<D> {
        match self {
            Objective::Eps => eps.clone(),
            Objective::X0 => x0.clone(),
            Objective::V => {
                let (a, b) = coefficients(s, x0, ts);
                eps.clone() * a - x0.clone() * b
            }
        }
    }
    // ANCHOR_END: objective_target

    /// ε̂ from the network's output on a batch x_t (row i at step `ts[i]`). For ε-prediction
    /// the output itself, untouched.
    pub fn eps_hat<D: Device<f32>>(
        self,
        s: &Schedule,
        out: Rows<D>,
        x_t: &Rows<D>,
        ts: &[usize],
    ) -> Rows<D> {
        match self {
            Objective::Eps => out,
            Objective::X0 => {
                let (a, b) = coefficients(s, x_t, ts);
                (x_t.clone() - out * a) / b
            }
            Objective::V => {
                let (a, b) = coefficients(s, x_t, ts);
                x_t.clone() * b + out * a
            }
        }
    }

    /// x̂₀ from the network's output on a batch x_t (row i at step `ts[i]`).
    pub fn x0_hat<D: Device<f32>>(
        self,
        s: &Schedule,
        out: Rows<D>,
        x_t: &Rows<D>,
        ts: &[usize],
    ) -> Rows<D> {
        match self {
            Objective::Eps => {
                let (a, b) = coefficients(s, x_t, ts);
                (x_t.clone() - out * b) / a
            }
            Objective::X0 => out,
            Objective::V => {
                let (a, b) = coefficients(s, x_t, ts);
                x_t.clone() * a - out * b
            }
        }
    }
}

impl Objective {
    /// The output that implies a given x̂₀ at x_t (row i at step `ts[i]`): the inverse of
    /// [`x0_hat`](Self::x0_hat) — x̂₀ itself, (x_t − a_t x̂₀)/b_t, or (a_t x_t − x̂₀)/b_t.
    pub fn output_from_x0<D: Device<f32>>(
        self,
        s: &Schedule,
        x0: Rows<D>,
        x_t: &Rows<D>,
        ts: &[usize],
    ) -> Rows<D> {
        match self {
            Objective::Eps => Objective::X0.eps_hat(s, x0, x_t, ts),
            Objective::X0 => x0,
            Objective::V => {
                let (a, b) = coefficients(s, x_t, ts);
                (x_t.clone() * a - x0) / b
            }
        }
    }
}

// ANCHOR: x0_loss_factor
impl Objective {
    /// How much this objective's squared error weighs the x₀ error at step t: ‖out − target‖²
    /// = factor_t · ‖x̂₀ − x₀‖², with factor SNR_t for ε (x̂₀ − x₀ = −(b_t/a_t)(ε̂ − ε)), 1 for
    /// x₀ and 1 + SNR_t = 1/(1 − ᾱ_t) for v (x̂₀ − x₀ = −b_t (v̂ − v)). So every objective is an
    /// x₀-regression, weighted differently across t: ε puts SNR_t ≫ 1 on the nearly clean steps.
    pub fn x0_loss_factor(self, s: &Schedule, t: usize) -> f64 {
        match self {
            Objective::Eps => s.snr(t),
            Objective::X0 => 1.0,
            Objective::V => 1.0 + s.snr(t),
        }
    }

    /// The per-example weight of Min-SNR-γ (Hang et al. 2023) on this objective's loss: the
    /// weighted loss is min(SNR_t, γ) · ‖x̂₀ − x₀‖² whatever the network outputs, so ε's weight is
    /// min(SNR_t, γ)/SNR_t, x₀'s min(SNR_t, γ) and v's min(SNR_t, γ)/(1 + SNR_t).
    pub fn min_snr_weight(self, s: &Schedule, t: usize, gamma: f64) -> f64 {
        s.snr(t).min(gamma) / self.x0_loss_factor(s, t)
    }
}
// ANCHOR_END: x0_loss_factor

/// a_t = √ᾱ_t and b_t = √(1 − ᾱ_t) of each row, spread across the row.
fn coefficients<D: Device<f32>>(s: &Schedule, like: &Rows<D>, ts: &[usize]) -> (Rows<D>, Rows<D>) {
    let (dev, shape) = (like.device().clone(), *like.shape());
    let a = s.gather(&dev, Schedule::sqrt_alpha_bar, ts);
    let b = s.gather(&dev, Schedule::sqrt_one_minus_alpha_bar, ts);
    (
        a.broadcast_like::<_, Axis<1>>(&shape),
        b.broadcast_like::<_, Axis<1>>(&shape),
    )
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Objective {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|o| o.name() == s)
            .ok_or_else(|| format!("unknown objective '{s}': expected eps, x0 or v"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_forward::q_sample;
    use ddpm_schedule::rand::SeedableRng;
    use ddpm_schedule::{randn, BetaSchedule};

    fn batch(dev: &Cpu) -> (Schedule, Rows<Cpu>, Rows<Cpu>, Vec<usize>, Rows<Cpu>) {
        let s = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        let mut rng = ddpm_schedule::rand::rngs::StdRng::seed_from_u64(0);
        let x0 = randn(dev, (4, 5), &mut rng);
        let eps = randn(dev, (4, 5), &mut rng);
        let ts = vec![1, 10, 500, 1000];
        let x_t = q_sample(&s, &x0, &ts, &eps);
        (s, x0, eps, ts, x_t)
    }

    fn close(a: &Rows<Cpu>, b: &Rows<Cpu>, tol: f32) -> bool {
        a.as_vec()
            .iter()
            .zip(b.as_vec())
            .all(|(x, y)| (x - y).abs() <= tol * y.abs().max(1.0))
    }

    /// `output_from_x0` undoes `x0_hat` for every objective (within f32 rounding, at steps from
    /// 1 to T).
    #[test]
    fn output_from_x0_inverts_x0_hat() {
        let dev: Cpu = Default::default();
        let (s, x0, _, ts, x_t) = batch(&dev);
        for o in Objective::ALL {
            let out = o.output_from_x0(&s, x0.clone(), &x_t, &ts);
            assert!(close(&o.x0_hat(&s, out, &x_t, &ts), &x0, 1e-3), "{o}");
        }
    }

    /// Fed its own exact target, each objective recovers exactly the x₀ and ε that made x_t
    /// (chapter 3's closed form, x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε).
    #[test]
    fn each_objective_recovers_x0_and_eps_from_its_target() {
        let dev: Cpu = Default::default();
        let (s, x0, eps, ts, x_t) = batch(&dev);
        for o in Objective::ALL {
            let out = o.target(&s, &x0, &eps, &ts);
            // x₀ from the output at t = 1000 divides by √ᾱ_T ≈ 0.006: f32 rounding is magnified.
            assert!(
                close(&o.x0_hat(&s, out.clone(), &x_t, &ts), &x0, 2e-3),
                "{o}: x̂₀"
            );
            assert!(close(&o.eps_hat(&s, out, &x_t, &ts), &eps, 2e-3), "{o}: ε̂");
        }
    }

    /// The three conversions agree with one another: an output's ε̂ and x̂₀ satisfy
    /// x_t = a_t x̂₀ + b_t ε̂, and converting through another objective's target gives the same.
    #[test]
    fn conversions_are_consistent_with_each_other() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for o in Objective::ALL {
            for (t, out, x_t) in [(3, 0.4, -1.3), (250, -0.9, 0.2), (999, 1.7, 0.8)] {
                let (e, x) = (o.eps_scalar(&s, out, x_t, t), o.x0_scalar(&s, out, x_t, t));
                let back = s.sqrt_alpha_bar(t) * x + s.sqrt_one_minus_alpha_bar(t) * e;
                assert!((back - x_t).abs() < 1e-9, "{o} t={t}");
                for p in Objective::ALL {
                    let other = p.target_scalar(&s, x, e, t);
                    assert!(
                        (p.eps_scalar(&s, other, x_t, t) - e).abs() < 1e-6,
                        "{o}->{p}"
                    );
                    assert!(
                        (p.x0_scalar(&s, other, x_t, t) - x).abs() < 1e-6,
                        "{o}->{p}"
                    );
                }
            }
        }
    }

    /// The batched forms are the scalar ones, row by row at each row's step.
    #[test]
    fn batched_forms_match_the_scalar_ones() {
        let dev: Cpu = Default::default();
        let (s, x0, eps, ts, x_t) = batch(&dev);
        let (x0v, epsv, xtv) = (x0.as_vec(), eps.as_vec(), x_t.as_vec());
        for o in Objective::ALL {
            let target = o.target(&s, &x0, &eps, &ts).as_vec();
            let e = o.eps_hat(&s, x0.clone(), &x_t, &ts).as_vec();
            for i in 0..20 {
                let t = ts[i / 5];
                let want = o.target_scalar(&s, x0v[i] as f64, epsv[i] as f64, t);
                assert!((target[i] as f64 - want).abs() < 1e-5, "{o} target");
                let want = o.eps_scalar(&s, x0v[i] as f64, xtv[i] as f64, t);
                assert!(
                    (e[i] as f64 - want).abs() < 1e-3 * want.abs().max(1.0),
                    "{o} ε̂"
                );
            }
        }
        // ε-prediction's ε̂ is the output itself, bit for bit.
        assert_eq!(
            Objective::Eps.eps_hat(&s, eps.clone(), &x_t, &ts).as_vec(),
            eps.as_vec()
        );
        assert_eq!("v".parse::<Objective>(), Ok(Objective::V));
        assert!("score"
            .parse::<Objective>()
            .unwrap_err()
            .contains("eps, x0 or v"));
    }

    /// Each objective's squared error is factor_t times the squared error of the x̂₀ it implies
    /// (through the conversions above, not the factor's formula), and v's error is ε's over
    /// ᾱ_t when both imply the same x̂₀. Min-SNR-γ's weight turns all three into one loss.
    #[test]
    fn every_objective_is_a_weighted_x0_regression() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mut rng = ddpm_schedule::rand::rngs::StdRng::seed_from_u64(3);
        use ddpm_schedule::rand::Rng;
        for &t in &[1, 20, 250, 600, 1000] {
            let (x0, eps): (f64, f64) = (rng.gen_range(-1.0..1.0), rng.gen_range(-2.0..2.0));
            let x_t = s.sqrt_alpha_bar(t) * x0 + s.sqrt_one_minus_alpha_bar(t) * eps;
            // One guess of x̂₀, written as each objective's output.
            let x0_hat = x0 + rng.gen_range(-0.5..0.5);
            let x0_err = (x0_hat - x0).powi(2);
            let mut errs = Vec::new();
            for o in Objective::ALL {
                let target = o.target_scalar(&s, x0, eps, t);
                let out = match o {
                    Objective::X0 => x0_hat,
                    Objective::Eps => Objective::X0.eps_scalar(&s, x0_hat, x_t, t),
                    Objective::V => {
                        let e = Objective::X0.eps_scalar(&s, x0_hat, x_t, t);
                        s.sqrt_alpha_bar(t) * e - s.sqrt_one_minus_alpha_bar(t) * x0_hat
                    }
                };
                assert!(
                    (o.x0_scalar(&s, out, x_t, t) - x0_hat).abs() < 1e-6 * (1.0 + x0_hat.abs())
                );
                let err = (out - target).powi(2);
                let want = o.x0_loss_factor(&s, t) * x0_err;
                assert!(
                    (err - want).abs() <= 1e-6 * want.max(1e-9),
                    "{o} at t = {t}: {err} vs {want}"
                );
                let weighted = o.min_snr_weight(&s, t, 5.0) * err;
                let want = s.snr(t).min(5.0) * x0_err;
                assert!(
                    (weighted - want).abs() <= 1e-6 * want.max(1e-9),
                    "{o} min-SNR at t = {t}"
                );
                errs.push(err);
            }
            // v-loss = ε-loss / ᾱ_t for the same x̂₀.
            let (eps_err, v_err) = (errs[0], errs[2]);
            assert!(
                (v_err - eps_err / s.alpha_bar(t)).abs() <= 1e-6 * v_err.max(1e-9),
                "t = {t}"
            );
        }
        // γ larger than every SNR leaves x₀'s loss weighted by SNR_t: ε's own L_simple again.
        let t = 700;
        assert!((Objective::Eps.min_snr_weight(&s, t, 1e12) - 1.0).abs() < 1e-12);
    }
}

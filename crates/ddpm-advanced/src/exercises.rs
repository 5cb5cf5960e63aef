//! Chapter 9's coding exercises. `cargo xtask exercises start 09` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch09/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_schedule::Schedule;
use ddpm_toy::dfdx::prelude::*;

/// Exercise 9.1: the respaced schedule (9.1) for visited steps `taus` = [τ_1, …, τ_S]:
/// β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}}, with τ_0 = 0 and ᾱ_0 = 1 (`s.alpha_bar(0)` is 1).
pub fn respaced_betas(s: &Schedule, taus: &[usize]) -> Vec<f64> {
    // SOLUTION START
    // WRONG (every ratio taken to ᾱ_0: τ_{i−1} never moves): `prev = s.alpha_bar(t);` -> `prev = 1.0;`
    // WRONG (the ratio upside down): `s.alpha_bar(t) / prev` -> `prev / s.alpha_bar(t)`
    // WRONG (the original β_τ): `1.0 - s.alpha_bar(t) / prev` -> `s.beta(t)`
    // WRONG (τ_0 = 1, not 0): `let mut prev = 1.0;` -> `let mut prev = s.alpha_bar(1);`
    let mut prev = 1.0;
    taus.iter()
        .map(|&t| {
            let b = 1.0 - s.alpha_bar(t) / prev;
            prev = s.alpha_bar(t);
            b
        })
        .collect()
    // SOLUTION END
}

/// Exercise 9.2: one DDIM step (9.2) for one number: from x_t and the predicted noise ε̂ at
/// noise level ᾱ_t to the level ᾱ_p, with σ = η √((1 − ᾱ_p)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_p) and
/// fresh noise `z` (unused when η = 0).
pub fn ddim_step(x_t: f64, eps: f64, ab_t: f64, ab_p: f64, eta: f64, z: f64) -> f64 {
    // SOLUTION START
    // WRONG (η ignored (always the deterministic step)): `let sigma = eta *` -> `let sigma = 0.0 *`
    // WRONG (σ² not taken out of the ε coefficient): `(1.0 - ab_p - sigma * sigma)` -> `(1.0 - ab_p)`
    // WRONG (σ² for σ on the fresh noise): `+ sigma * z` -> `+ sigma * sigma * z`
    // WRONG (ᾱ_t for √ᾱ_t in x̂₀): `/ ab_t.sqrt()` -> `/ ab_t`
    // WRONG (the noise ratio upside down): `(1.0 - ab_p) / (1.0 - ab_t)` -> `(1.0 - ab_t) / (1.0 - ab_p)`
    let sigma = eta * ((1.0 - ab_p) / (1.0 - ab_t) * (1.0 - ab_t / ab_p)).sqrt();
    let x0 = (x_t - (1.0 - ab_t).sqrt() * eps) / ab_t.sqrt();
    ab_p.sqrt() * x0 + (1.0 - ab_p - sigma * sigma).max(0.0).sqrt() * eps + sigma * z
    // SOLUTION END
}

/// Exercise 9.3: classifier-free guidance's mix on a batch of network outputs: from the
/// unconditional ε̂(x_t, ∅) and the conditional ε̂(x_t, c) (rows `[B, N]`), return
/// ε̃ = ε̂(x_t, ∅) + s · (ε̂(x_t, c) − ε̂(x_t, ∅)) for guidance scale s (the course's `--guidance`;
/// Ho & Salimans write the same mix as (1 + w) ε̂(x_t, c) − w ε̂(x_t, ∅) with w = s − 1).
pub fn guided_eps<D: Device<f32>>(
    unconditional: &Tensor<(usize, usize), f32, D>,
    conditional: &Tensor<(usize, usize), f32, D>,
    scale: f32,
) -> Tensor<(usize, usize), f32, D> {
    // SOLUTION START
    // WRONG (Ho & Salimans' w used as s): `* scale` -> `* (scale - 1.0)`
    // WRONG (pushed towards the unconditional output): `unconditional.clone() + (conditional.clone() - unconditional.clone())` -> `conditional.clone() + (unconditional.clone() - conditional.clone())`
    // WRONG (the unconditional output not subtracted): `(conditional.clone() - unconditional.clone()) * scale` -> `conditional.clone() * scale`
    unconditional.clone() + (conditional.clone() - unconditional.clone()) * scale
    // SOLUTION END
}

/// Exercise 9.4: a v-network's output read back, for one number: from x_t and v̂ at noise level
/// ᾱ_t, return (ε̂, x̂₀) with x̂₀ = √ᾱ_t x_t − √(1 − ᾱ_t) v̂ and ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v̂
/// (v = √ᾱ_t ε − √(1 − ᾱ_t) x₀, chapter 5).
pub fn eps_x0_from_v(x_t: f64, v: f64, ab: f64) -> (f64, f64) {
    // SOLUTION START
    // WRONG (the two coefficients swapped in x̂₀): `ab.sqrt() * x_t - (1.0 - ab).sqrt() * v` -> `(1.0 - ab).sqrt() * x_t - ab.sqrt() * v`
    // WRONG (the sign of v̂ in ε̂): `(1.0 - ab).sqrt() * x_t + ab.sqrt() * v` -> `(1.0 - ab).sqrt() * x_t - ab.sqrt() * v`
    // WRONG (ᾱ_t for √ᾱ_t): `ab.sqrt()` -> `ab`
    let x0 = ab.sqrt() * x_t - (1.0 - ab).sqrt() * v;
    let eps = (1.0 - ab).sqrt() * x_t + ab.sqrt() * v;
    (eps, x0)
    // SOLUTION END
}

/// Exercise 9.5: one step of Heun's method on DDIM's ODE, for one number, from noise level ᾱ_t
/// to ᾱ_p: with σ(ᾱ) = √((1 − ᾱ)/ᾱ), x̃ = x/√ᾱ and h = σ_p − σ_t, Euler's step is
/// x̃' = x̃_t + h ε̂(x_t, ᾱ_t); Heun's corrects it with the slope at its end,
/// x̃_p = x̃_t + h (ε̂(x_t, ᾱ_t) + ε̂(√ᾱ_p x̃', ᾱ_p))/2; return x_p = √ᾱ_p x̃_p. When ᾱ_p = 1 (the
/// last step, σ_p = 0: the network cannot be asked there) return Euler's step alone.
/// `eps(x, ᾱ)` is the network.
pub fn heun_step(x_t: f64, ab_t: f64, ab_p: f64, eps: &dyn Fn(f64, f64) -> f64) -> f64 {
    // SOLUTION START
    // WRONG (Euler's step only, no correction): `if ab_p >= 1.0 {` -> `if true {`
    // WRONG (the correction not halved): `h / 2.0` -> `h`
    // WRONG (the end slope asked at x̃', not x' = √ᾱ_p x̃'): `eps(euler * ab_p.sqrt(), ab_p)` -> `eps(euler, ab_p)`
    // WRONG (σ² for σ): `((1.0 - ab) / ab).sqrt()` -> `((1.0 - ab) / ab)`
    // WRONG (the end slope asked at noise level ᾱ_t): `eps(euler * ab_p.sqrt(), ab_p)` -> `eps(euler * ab_p.sqrt(), ab_t)`
    let sigma = |ab: f64| ((1.0 - ab) / ab).sqrt();
    let h = sigma(ab_p) - sigma(ab_t);
    let x_tilde = x_t / ab_t.sqrt();
    let slope = eps(x_t, ab_t);
    let euler = x_tilde + h * slope;
    if ab_p >= 1.0 {
        return euler;
    }
    let end_slope = eps(euler * ab_p.sqrt(), ab_p);
    (x_tilde + h / 2.0 * (slope + end_slope)) * ab_p.sqrt()
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::rand::{rngs::StdRng, SeedableRng};
    use ddpm_schedule::{randn, BetaSchedule};
    use ddpm_toy::{
        respaced_schedule, respaced_steps, Ddim, Denoiser, Heun, SampleOptions, Sampler,
    };

    /// Against the crate's respaced schedule, for 10, 50 and all 1,000 steps.
    #[test]
    fn exercise_9_1_respaced_betas() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        for n in [10, 50, 1000] {
            let taus = respaced_steps(1000, n);
            let want = respaced_schedule(&s, &taus);
            let got = respaced_betas(&s, &taus);
            assert_eq!(got.len(), taus.len());
            for (i, b) in got.iter().enumerate() {
                assert!(
                    (b - want.beta(i + 1)).abs() < 1e-12,
                    "S = {n}: β'_{}",
                    i + 1
                );
            }
        }
    }

    /// A stand-in network that predicts ε̂ = 0.3 x_t (any fixed rule will do).
    struct Linear;
    impl<D: Device<f32>> Denoiser<D> for Linear {
        fn denoise(
            &self,
            x_t: Tensor<(usize, usize), f32, D>,
            _: &[usize],
        ) -> Tensor<(usize, usize), f32, D> {
            x_t * 0.3
        }
    }

    /// Problem 9.2 (an exact ε̂ lands on the same line through x₀); for η = 0.5 and 1, the
    /// property DDIM is built on — with the exact ε̂, x_p given x₀ is N(√ᾱ_p x₀, 1 − ᾱ_p) for
    /// any η — with σ = η √β̃ on the fresh noise, and η = 1 is the DDPM posterior step of the
    /// respaced chain, computed here from (4.1) independently; and the whole η = 0 chain built
    /// from your step against the crate's DDIM sampler with the same network and x_T.
    #[test]
    fn exercise_9_2_ddim_step() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let (x0, eps) = (0.7, -1.3);
        for (t, p) in [(1000, 900), (500, 100), (20, 0)] {
            let (ab_t, ab_p) = (s.alpha_bar(t), s.alpha_bar(p));
            let x_t = ab_t.sqrt() * x0 + (1.0 - ab_t).sqrt() * eps;
            let want = ab_p.sqrt() * x0 + (1.0 - ab_p).sqrt() * eps;
            let got = ddim_step(x_t, eps, ab_t, ab_p, 0.0, 123.0);
            assert!((got - want).abs() < 1e-9, "{t} → {p}: {got} vs {want}");
        }
        for (t, p) in [(1000, 900), (500, 100), (20, 1)] {
            let (ab_t, ab_p) = (s.alpha_bar(t), s.alpha_bar(p));
            let beta = 1.0 - ab_t / ab_p;
            let beta_tilde = (1.0 - ab_p) / (1.0 - ab_t) * beta;
            for eta in [0.5, 1.0] {
                // x_p is linear in (ε, z): x_p = a + b ε + c z.
                let g = |e: f64, z: f64| {
                    let x_t = ab_t.sqrt() * x0 + (1.0 - ab_t).sqrt() * e;
                    ddim_step(x_t, e, ab_t, ab_p, eta, z)
                };
                let (a, b, c) = (
                    g(0.0, 0.0),
                    g(1.0, 0.0) - g(0.0, 0.0),
                    g(0.0, 1.0) - g(0.0, 0.0),
                );
                assert!(
                    (a - ab_p.sqrt() * x0).abs() < 1e-9,
                    "η = {eta}, {t} → {p}: mean"
                );
                assert!(
                    (b * b + c * c - (1.0 - ab_p)).abs() < 1e-9,
                    "η = {eta}, {t} → {p}: variance {} vs {}",
                    b * b + c * c,
                    1.0 - ab_p
                );
                assert!(
                    (c - eta * beta_tilde.sqrt()).abs() < 1e-9,
                    "η = {eta}, {t} → {p}: σ = {c} vs η √β̃ = {}",
                    eta * beta_tilde.sqrt()
                );
            }
            let (x_t, e, z) = (0.4, -0.8, 1.3);
            let x0_hat = (x_t - (1.0 - ab_t).sqrt() * e) / ab_t.sqrt();
            // (4.1) for the respaced step p → t, whose α is ᾱ_t/ᾱ_p.
            let ddpm_mean = ab_p.sqrt() * beta / (1.0 - ab_t) * x0_hat
                + (ab_t / ab_p).sqrt() * (1.0 - ab_p) / (1.0 - ab_t) * x_t;
            let want = ddpm_mean + beta_tilde.sqrt() * z;
            let got = ddim_step(x_t, e, ab_t, ab_p, 1.0, z);
            assert!(
                (got - want).abs() < 1e-9,
                "η = 1, {t} → {p}: {got} vs DDPM {want}"
            );
        }
        let dev: Cpu = Default::default();
        let taus = respaced_steps(1000, 20);
        let crate_x0 = Ddim {
            steps: 20,
            eta: 0.0,
        }
        .sample(
            &dev,
            &Linear,
            &s,
            (4, 3),
            &mut StdRng::seed_from_u64(5),
            &SampleOptions::default(),
        )
        .x0;
        let x_t: Tensor<(usize, usize), f32, Cpu> =
            randn(&dev, (4, 3), &mut StdRng::seed_from_u64(5));
        for (i, &x) in x_t.as_vec().iter().enumerate() {
            let mut x = x as f64;
            for k in (1..=taus.len()).rev() {
                let (t, p) = (taus[k - 1], if k > 1 { taus[k - 2] } else { 0 });
                x = ddim_step(x, 0.3 * x, s.alpha_bar(t), s.alpha_bar(p), 0.0, 0.0);
            }
            assert!(
                (x - crate_x0[i] as f64).abs() < 1e-3 * (1.0 + x.abs()),
                "number {i}: {x} vs {}",
                crate_x0[i]
            );
        }
    }

    /// The mix against Ho & Salimans' form (1 + w) ε̂_c − w ε̂_∅, w = s − 1, computed in f64 for
    /// s = 0 (the unconditional output), 1 (the conditional one), 3 and 0.5.
    #[test]
    fn exercise_9_3_guided_eps() {
        let dev: Cpu = Default::default();
        let mut rng = StdRng::seed_from_u64(93);
        let u: Tensor<(usize, usize), f32, Cpu> = randn(&dev, (3, 4), &mut rng);
        let c: Tensor<(usize, usize), f32, Cpu> = randn(&dev, (3, 4), &mut rng);
        for s in [0.0f32, 1.0, 3.0, 0.5] {
            let got = guided_eps(&u, &c, s).as_vec();
            let w = s as f64 - 1.0;
            for (i, (uu, cc)) in u.as_vec().iter().zip(c.as_vec()).enumerate() {
                let want = (1.0 + w) * cc as f64 - w * *uu as f64;
                assert!(
                    (got[i] as f64 - want).abs() < 1e-5,
                    "s = {s}, entry {i}: {} vs {want}",
                    got[i]
                );
            }
        }
    }

    /// A round trip: x_t and v made from known x₀ and ε by their definitions must give x₀ and ε
    /// back, at noise levels from almost clean to almost pure noise.
    #[test]
    fn exercise_9_4_eps_x0_from_v() {
        for (ab, x0, eps) in [(0.999, 0.7, -1.2), (0.5, -0.4, 0.3), (0.02, 0.9, 1.8)] {
            let x_t = f64::sqrt(ab) * x0 + f64::sqrt(1.0 - ab) * eps;
            let v = f64::sqrt(ab) * eps - f64::sqrt(1.0 - ab) * x0;
            let (e, x) = eps_x0_from_v(x_t, v, ab);
            assert!((x - x0).abs() < 1e-12, "ᾱ = {ab}: x̂₀ {x} vs {x0}");
            assert!((e - eps).abs() < 1e-12, "ᾱ = {ab}: ε̂ {e} vs {eps}");
        }
    }

    /// Your step, chained over 20 visited steps with the stand-in network (ε̂ = 0.3 x_t), against
    /// the crate's Heun sampler from the same x_T; and at one step of a network whose ε̂ depends
    /// on the noise level, against the formula's pieces computed here.
    #[test]
    fn exercise_9_5_heun_step() {
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let dev: Cpu = Default::default();
        let taus = respaced_steps(1000, 20);
        let crate_x0 = Heun { steps: 20 }
            .sample(
                &dev,
                &Linear,
                &s,
                (4, 3),
                &mut StdRng::seed_from_u64(95),
                &SampleOptions::default(),
            )
            .x0;
        let x_t: Tensor<(usize, usize), f32, Cpu> =
            randn(&dev, (4, 3), &mut StdRng::seed_from_u64(95));
        for (i, &x) in x_t.as_vec().iter().enumerate() {
            let mut x = x as f64;
            for k in (1..=taus.len()).rev() {
                let (t, p) = (taus[k - 1], if k > 1 { taus[k - 2] } else { 0 });
                x = heun_step(x, s.alpha_bar(t), s.alpha_bar(p), &|x, _| 0.3 * x);
            }
            assert!(
                (x - crate_x0[i] as f64).abs() < 1e-3 * (1.0 + x.abs()),
                "number {i}: {x} vs {}",
                crate_x0[i]
            );
        }
        // ε̂(x, ᾱ) = x · ᾱ: the end slope must be asked at x' and at ᾱ_p.
        let (x, ab_t, ab_p) = (0.8, 0.3, 0.6);
        let net = |x: f64, ab: f64| x * ab;
        let sig = |ab: f64| f64::sqrt((1.0 - ab) / ab);
        let h = sig(ab_p) - sig(ab_t);
        let x_tilde = x / f64::sqrt(ab_t);
        let euler = x_tilde + h * net(x, ab_t);
        let want = (x_tilde + h / 2.0 * (net(x, ab_t) + net(euler * f64::sqrt(ab_p), ab_p)))
            * f64::sqrt(ab_p);
        let got = heun_step(x, ab_t, ab_p, &net);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}

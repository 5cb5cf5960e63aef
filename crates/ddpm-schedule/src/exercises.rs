//! Chapter 2's coding exercises. `cargo xtask exercises start 02` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch02/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_schedule::Schedule;

/// Exercise 2.1: Nichol & Dhariwal's cosine schedule for T steps: ᾱ(t) = f(t)/f(0) with
/// f(t) = cos²(((t/T) + s)/(1 + s) · π/2) and s = 0.008, then β_t = 1 − ᾱ(t)/ᾱ(t − 1) for
/// t = 1, …, T, each clipped at 0.999 (ᾱ(T) is 0, which would make β_T = 1).
pub fn cosine_betas(t_max: usize) -> Vec<f64> {
    // SOLUTION START
    // WRONG (no clipping: β_T = 1): `.min(0.999)` -> ``
    // WRONG (the offset s dropped): `let s = 0.008;` -> `let s = 0.0;`
    // WRONG (cos, not cos²): `.cos().powi(2)` -> `.cos()`
    // WRONG (1 − ᾱ_t taken for β_t): `1.0 - alpha_bar(t as f64) / alpha_bar(t as f64 - 1.0)` -> `1.0 - alpha_bar(t as f64)`
    // WRONG (counted from t = 0: each β one step early): `(1..=t_max)` -> `(0..t_max)`
    let s = 0.008;
    let angle = |t: f64| (t / t_max as f64 + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2;
    let f = |t: f64| angle(t).cos().powi(2);
    let alpha_bar = |t: f64| f(t) / f(0.0);
    (1..=t_max)
        .map(|t| (1.0 - alpha_bar(t as f64) / alpha_bar(t as f64 - 1.0)).min(0.999))
        .collect()
    // SOLUTION END
}

/// Exercise 2.2: the first step t at which the signal-to-noise ratio SNR(t) = ᾱ_t/(1 − ᾱ_t)
/// falls below `level`, or `None` if it never does (t = 1, …, T).
pub fn first_step_with_snr_below(s: &Schedule, level: f64) -> Option<usize> {
    // SOLUTION START
    // WRONG (ᾱ_t taken for the SNR): `s.alpha_bar(t) / (1.0 - s.alpha_bar(t))` -> `s.alpha_bar(t)`
    // WRONG (t = T never examined): `(1..=s.t_max())` -> `(1..s.t_max())`
    // WRONG (SNR(t − 1) for SNR(t)): `s.alpha_bar(t)` -> `s.alpha_bar(t - 1)`
    // WRONG (the last step below the level, not the first): `.find(` -> `.rfind(`
    (1..=s.t_max()).find(|&t| s.alpha_bar(t) / (1.0 - s.alpha_bar(t)) < level)
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;

    /// Against the crate's cosine schedule, every β, for T = 1000 and T = 50 (the clipped last
    /// step among them).
    #[test]
    fn exercise_2_1_cosine_betas() {
        for t_max in [1000, 50] {
            let want = Schedule::new(BetaSchedule::Cosine, t_max).unwrap();
            let got = cosine_betas(t_max);
            assert_eq!(got.len(), t_max, "T = {t_max} betas");
            for t in 1..=t_max {
                assert!(
                    (got[t - 1] - want.beta(t)).abs() < 1e-12,
                    "T = {t_max}: β_{t} = {} vs {}",
                    got[t - 1],
                    want.beta(t)
                );
            }
        }
    }

    /// The book's numbers: for the linear schedule SNR falls below 1 (ᾱ below ½) at t = 260 and
    /// below 1/9 (ᾱ below 0.1) at t = 476; and against a scan of the crate's `snr` for the
    /// cosine schedule; a level first crossed at t = T gives T, one never reached gives None.
    #[test]
    fn exercise_2_2_first_step_with_snr_below() {
        let linear = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        assert_eq!(first_step_with_snr_below(&linear, 1.0), Some(260));
        assert_eq!(first_step_with_snr_below(&linear, 1.0 / 9.0), Some(476));
        let cosine = Schedule::new(BetaSchedule::Cosine, 1000).unwrap();
        for level in [10.0, 1.0, 0.01] {
            let want = (1..=1000).find(|&t| cosine.snr(t) < level);
            assert_eq!(
                first_step_with_snr_below(&cosine, level),
                want,
                "level {level}"
            );
        }
        assert_eq!(first_step_with_snr_below(&linear, 1e-12), None);
        // A level crossed only at the last step.
        let last = (linear.snr(999) + linear.snr(1000)) / 2.0;
        assert_eq!(first_step_with_snr_below(&linear, last), Some(1000));
    }
}

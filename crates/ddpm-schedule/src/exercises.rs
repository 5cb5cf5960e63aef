//! Chapter 2's coding exercises. `cargo xtask exercises start 02` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch02/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

use ddpm_schedule::Schedule;

/// Exercise 2.1: the linear schedule for T = 1000: β_1, …, β_T rising evenly from β_1 = 10⁻⁴ to
/// β_T = 0.02 (both ends included), as a vector of T numbers.
pub fn linear_betas_1000() -> Vec<f64> {
    // SOLUTION START
    // WRONG (β_T never reached (divided by T, not T − 1)): `(t_max - 1) as f64` -> `t_max as f64`
    // WRONG (shifted by one step): `(0..t_max)` -> `(1..=t_max)`
    // WRONG (starting from 0, not β_1): `start + (end - start)` -> `(end - start)`
    let (t_max, start, end) = (1000, 1e-4, 0.02);
    (0..t_max)
        .map(|i| start + (end - start) * i as f64 / (t_max - 1) as f64)
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

    /// Against the crate's linear schedule, every β.
    #[test]
    fn exercise_2_1_linear_betas_1000() {
        let want = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let got = linear_betas_1000();
        assert_eq!(got.len(), 1000, "T = 1000 betas");
        for t in 1..=1000 {
            assert!((got[t - 1] - want.beta(t)).abs() < 1e-12, "β_{t}");
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

//! The sinusoidal time embedding (Vaswani et al. 2017, as used by Ho et al. 2020).

use dfdx::prelude::*;

// ANCHOR: embedding
/// Embeds each step t as E numbers: sin(t·ω_i) for the first E/2 and cos(t·ω_i) for the last
/// E/2, with frequencies ω_i = 10000^(−i/(E/2)), i = 0, …, E/2 − 1. Nearby t get nearby
/// embeddings, and the slowest frequencies still distinguish t = 1 from t = 1000.
pub fn timestep_embedding<const E: usize, D: Device<f32>>(
    dev: &D,
    ts: &[usize],
) -> Tensor<(usize, Const<E>), f32, D> {
    assert!(
        E.is_multiple_of(2) && E >= 2,
        "the embedding size must be even, got {E}"
    );
    let half = E / 2;
    let mut v = Vec::with_capacity(ts.len() * E);
    for &t in ts {
        let freqs = (0..half).map(|i| (-(10000f64.ln()) * i as f64 / half as f64).exp());
        let angles: Vec<f64> = freqs.map(|w| t as f64 * w).collect();
        v.extend(angles.iter().map(|a| a.sin() as f32));
        v.extend(angles.iter().map(|a| a.cos() as f32));
    }
    dev.tensor_from_vec(v, (ts.len(), Const::<E>))
}
// ANCHOR_END: embedding

#[cfg(test)]
mod tests {
    use super::*;

    /// (6.2) value by value: at E = 8 every coordinate for t = 0, 1, 37 and 1000 equals
    /// sin(t ω_i) (first half) or cos(t ω_i) (second half) with ω_i = 10000^(−i/(E/2)), computed
    /// here directly in f64 (to 1e-6: the embedding is f32); t = 0 is exactly [0, 0, 0, 0, 1, 1,
    /// 1, 1]; every (sin, cos) pair lies on the unit circle. At E = 128 the slowest frequency,
    /// read back from the embedding of t = 1, is 10000^(−63/64) ≈ 1.1548e-4, a period of more
    /// than 50,000 steps.
    #[test]
    fn embedding_values_and_shape() {
        let dev: Cpu = Default::default();
        let ts = [0, 1, 37, 1000];
        let e = timestep_embedding::<8, _>(&dev, &ts);
        assert_eq!(e.shape().0, ts.len());
        let v = e.as_vec();
        assert_eq!(v.len(), ts.len() * 8);
        assert_eq!(&v[..8], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        for (row, &t) in v.chunks(8).zip(&ts) {
            for i in 0..4 {
                let angle = t as f64 * 10000f64.powf(-(i as f64) / 4.0);
                assert!(
                    (row[i] as f64 - angle.sin()).abs() < 1e-6,
                    "t = {t}, sin, i = {i}"
                );
                assert!(
                    (row[i + 4] as f64 - angle.cos()).abs() < 1e-6,
                    "t = {t}, cos, i = {i}"
                );
                assert!((row[i].powi(2) + row[i + 4].powi(2) - 1.0).abs() < 1e-6);
            }
        }
        let wide = timestep_embedding::<128, _>(&dev, &[1]).as_vec();
        let slowest = (wide[63] as f64).asin();
        assert!((slowest - 10000f64.powf(-63.0 / 64.0)).abs() < 1e-10);
        assert!((slowest - 1.1548e-4).abs() < 1e-8, "{slowest}");
        assert!(2.0 * std::f64::consts::PI / slowest > 50_000.0);
    }

    /// Nearby steps get nearby embeddings, and every step its own: over t = 0, …, 1000, at the
    /// toy model's E = 32 and at E = 128, neighbours t, t + 1 are all the same distance d₁ apart
    /// (1.172 and 1.953), no two distinct steps are closer than that, and steps 100 or more
    /// apart are at least 2.5 d₁ apart (measured: none closer than 3.61 and 8.02).
    #[test]
    fn distinct_steps_get_distinct_embeddings() {
        fn check<const E: usize>(want_d1: f64) {
            let dev: Cpu = Default::default();
            let ts: Vec<usize> = (0..=1000).collect();
            let v = timestep_embedding::<E, _>(&dev, &ts).as_vec();
            let dist = |a: usize, b: usize| -> f64 {
                v[a * E..(a + 1) * E]
                    .iter()
                    .zip(&v[b * E..(b + 1) * E])
                    .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                    .sum::<f64>()
                    .sqrt()
            };
            let d1 = dist(0, 1);
            assert!((d1 - want_d1).abs() < 1e-3, "E = {E}: d₁ = {d1}");
            for a in 0..ts.len() {
                for b in a + 1..ts.len() {
                    let d = dist(a, b);
                    if b == a + 1 {
                        assert!((d - d1).abs() < 1e-4, "E = {E}: t = {a}, {b}: {d}");
                    }
                    assert!(d > d1 - 1e-4, "E = {E}: t = {a}, {b} are {d} apart");
                    if b - a >= 100 {
                        assert!(d > 2.5 * d1, "E = {E}: t = {a}, {b} are only {d} apart");
                    }
                }
            }
        }
        check::<32>(1.1716);
        check::<128>(1.9526);
    }
}

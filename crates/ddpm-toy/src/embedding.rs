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

    #[test]
    fn embedding_values_and_shape() {
        let dev: Cpu = Default::default();
        let e = timestep_embedding::<8, _>(&dev, &[0, 1, 1000]);
        assert_eq!(e.shape().0, 3);
        let v = e.as_vec();
        // t = 0: sin 0 = 0 and cos 0 = 1.
        assert_eq!(&v[..8], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        // t = 1, i = 0 (ω = 1): sin 1, cos 1; i = 3 (ω = 10000^(−3/4) = 0.001): sin 0.001.
        assert!((v[8] - 1f32.sin()).abs() < 1e-6 && (v[12] - 1f32.cos()).abs() < 1e-6);
        assert!((v[11] - 0.001f32.sin()).abs() < 1e-7);
        // Every row has unit norm per (sin, cos) pair: sin² + cos² = 1.
        for row in v.chunks(8) {
            for i in 0..4 {
                assert!((row[i].powi(2) + row[i + 4].powi(2) - 1.0).abs() < 1e-5);
            }
        }
    }
}

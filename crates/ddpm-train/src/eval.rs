//! What a trained model reaches, in numbers: the variational bound on test digits in bits per
//! dimension (chapter 4's code), and how a classifier sees its samples.

use ddpm_data::{pixels_to_unit, Dataset, Images};
use ddpm_plot::Progress;
use ddpm_sampling::{Denoiser, Diffusion, StepAt};
use ddpm_unet::ConvDevice;
use ddpm_vlb::{vlb_terms_with_variance, VlbTerms};
use dfdx::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::classifier::{accuracy, DeviceClassifier, FEATURES};
use crate::frechet::{frechet_between, frechet_bootstrap_se};

/// Mean and standard error of the mean.
pub fn mean_sem(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

// ANCHOR: bits_per_dim
/// L_vlb of each image in `images`, in bits per dimension: all T + 1 terms with chapter 4's
/// bound, the network called once per step t on the whole batch, its output read by `d` (ε̂ by
/// the run's objective; σ² fixed, or the network's own if it learns it, chapter 9).
pub fn bits_per_dim<D: ConvDevice, M: Denoiser<D>>(
    dev: &D,
    model: &M,
    d: &Diffusion,
    images: &Images,
    rng: &mut impl Rng,
    progress: Option<&Progress>,
) -> Vec<f64> {
    bound_terms(dev, model, d, images, rng, progress).bits_per_dim()
}

/// [`bits_per_dim`]'s bound, term by term (to see which steps the bits come from).
pub fn bound_terms<D: ConvDevice, M: Denoiser<D>>(
    dev: &D,
    model: &M,
    d: &Diffusion,
    images: &Images,
    rng: &mut impl Rng,
    progress: Option<&Progress>,
) -> VlbTerms {
    let (n, dim) = (images.count, images.image_len());
    let x0: Vec<f64> = images
        .pixels
        .iter()
        .map(|&p| pixels_to_unit(p) as f64)
        .collect();
    let host = |t: Tensor<(usize, usize), f32, D>| t.as_vec().into_iter().map(f64::from);
    // Whether the output carries v is the network's to say; the bound reads x̂₀ unclipped.
    let diffusion = Diffusion {
        learned: model.learns_variance(),
        clip_x0: false,
        ..*d
    };
    let s = d.schedule;
    let mut eps_and_variance = |x_t: &[f64], t: usize| -> (Vec<f64>, Vec<f64>) {
        let x = dev.tensor_from_vec(x_t.iter().map(|&v| v as f32).collect(), (n, dim));
        let ts = vec![t; n];
        if let Some(p) = progress {
            p.inc(1);
        }
        let at = StepAt {
            i: t,
            t,
            prev: t - 1,
            chain: s,
        };
        let p = diffusion.p_mean_variance(&x, at, model.denoise(x.clone(), &ts));
        let sigma2 = diffusion.variance_host(s, t, &p.variance, x_t.len());
        (host(p.eps).collect(), sigma2)
    };
    vlb_terms_with_variance(s, &mut eps_and_variance, &x0, dim, rng)
}
// ANCHOR_END: bits_per_dim

/// How the classifier sees a set of images, and Fréchet distances of their features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub count: usize,
    /// Fraction classified with probability ≥ 0.9.
    #[serde(rename = "confident_fraction")]
    pub confident: f64,
    /// Images per predicted class.
    #[serde(rename = "class_histogram")]
    pub histogram: [usize; 10],
    /// Entropy (nats) of the predicted-class histogram; ln 10 ≈ 2.303 when balanced.
    #[serde(rename = "class_entropy_nats")]
    pub class_entropy: f64,
    /// Fréchet distance of these images' features to the reference test images'.
    pub frechet: f64,
    /// Its bootstrap standard error over the draw of these images (written by evaluations made
    /// since it was added; older `eval.json` files lack it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frechet_se: Option<f64>,
}

/// Resamplings behind [`Quality::frechet_se`].
pub const FRECHET_BOOTSTRAP: usize = 100;

// ANCHOR: quality
/// Judges `images` with the classifier against `reference` features (real test digits).
pub fn quality<D: ConvDevice>(
    classifier: &DeviceClassifier<f32, D>,
    images: &Images,
    reference: &[f32],
) -> Quality {
    let p = classifier.predict(images);
    let mut histogram = [0usize; 10];
    for c in p.classes() {
        histogram[c] += 1;
    }
    let n = images.count as f64;
    let class_entropy = -histogram
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| (k as f64 / n) * (k as f64 / n).ln())
        .sum::<f64>();
    let confident = p.confidences().iter().filter(|&&c| c >= 0.9).count() as f64 / n;
    Quality {
        count: images.count,
        confident,
        histogram,
        class_entropy,
        frechet: frechet_between(&p.features, reference, FEATURES),
        frechet_se: Some(frechet_bootstrap_se(
            &p.features,
            reference,
            FEATURES,
            FRECHET_BOOTSTRAP,
            0,
        )),
    }
}
// ANCHOR_END: quality

// ANCHOR: guided_quality
/// How well samples drawn for asked classes match them (chapter 9's guidance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidedQuality {
    /// Fraction the classifier assigns to the class asked for.
    pub class_accuracy: f64,
    /// Diversity within a class: the mean distance between the classifier's features of two
    /// samples asked for the same class, over that of two real test digits of the class
    /// (1: as varied as real digits; guidance is expected to lower it), averaged over classes.
    /// A group asked for one class holds every sample the classifier put elsewhere too, so this
    /// mixes variety with misses.
    pub within_class_spread: f64,
    /// The same among the samples both asked for and classified as the class (classes with at
    /// least two such samples): variety within what was drawn right, not raised by misses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_class_spread_classified: Option<f64>,
}

/// Judges `samples`, sample i asked for class `asked[i]`, against the real test digits of each
/// class (the first `per_class` of each in the test set).
pub fn guided_quality<D: ConvDevice>(
    classifier: &DeviceClassifier<f32, D>,
    samples: &Images,
    asked: &[usize],
    test: &Dataset,
    per_class: usize,
) -> GuidedQuality {
    assert_eq!(samples.count, asked.len(), "one asked class per sample");
    let p = classifier.predict(samples);
    let hits = p
        .classes()
        .iter()
        .zip(asked)
        .filter(|(c, a)| c == a)
        .count();
    let real = classifier.predict(&test.images);
    let (mut ratios, mut ratios_classified) = (Vec::new(), Vec::new());
    for class in 0..10 {
        let of = |labels: &mut dyn Iterator<Item = usize>, features: &[f32], keep: usize| {
            let rows: Vec<&[f32]> = labels
                .enumerate()
                .filter(|&(_, c)| c == class)
                .take(keep)
                .map(|(i, _)| &features[i * FEATURES..(i + 1) * FEATURES])
                .collect();
            mean_pairwise_distance(&rows)
        };
        let fake = of(&mut asked.iter().copied(), &p.features, usize::MAX);
        // Asked for the class and classified as it; other samples get a label no class has.
        let mut right = asked
            .iter()
            .zip(p.classes())
            .map(|(&a, c)| if a == c { a } else { usize::MAX });
        let fake_right = of(&mut right, &p.features, usize::MAX);
        let truth = of(
            &mut test.labels.iter().map(|&l| l as usize),
            &real.features,
            per_class,
        );
        if let (Some(f), Some(t)) = (fake, truth) {
            ratios.push(f / t);
        }
        if let (Some(f), Some(t)) = (fake_right, truth) {
            ratios_classified.push(f / t);
        }
    }
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len().max(1) as f64;
    GuidedQuality {
        class_accuracy: hits as f64 / samples.count.max(1) as f64,
        within_class_spread: mean(&ratios),
        within_class_spread_classified: (!ratios_classified.is_empty())
            .then(|| mean(&ratios_classified)),
    }
}
// ANCHOR_END: guided_quality

/// The mean Euclidean distance over all pairs of rows (None for fewer than two).
fn mean_pairwise_distance(rows: &[&[f32]]) -> Option<f64> {
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let d2: f64 = a
                .iter()
                .zip(*b)
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            sum += d2.sqrt();
            pairs += 1;
        }
    }
    (pairs > 0).then(|| sum / pairs as f64)
}

/// What the classifier says of a set of samples, with the two rows that give it a scale: the
/// same number of held-out real digits (the floor) and of real digits with N(0, 1) noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub classifier_test_accuracy: f64,
    pub reference_test_images: usize,
    pub samples: Quality,
    pub held_out_real: Quality,
    pub noised_real_sigma_1: Quality,
}

/// Judges `samples` (28×28 digits) against `reference` shuffled test digits; the held-out
/// real digits are the next `samples.count` of the same shuffle. `seed` draws the noise of the
/// noised row.
pub fn judge_samples<D: ConvDevice>(
    classifier: &DeviceClassifier<f32, D>,
    test: &Dataset,
    samples: &Images,
    reference: usize,
    seed: u64,
) -> Result<Judged, String> {
    if (samples.rows, samples.cols) != (28, 28) {
        return Err(format!(
            "the classifier judges 28×28 digits; these images are {}×{}",
            samples.cols, samples.rows
        ));
    }
    if samples.count < 2 || reference + samples.count > test.len() {
        return Err(format!(
            "{} samples with {reference} reference digits: need at least 2 samples, and both \
             together at most the {} test digits",
            samples.count,
            test.len()
        ));
    }
    let (reference_images, held_out) = split_test(test, reference, samples.count);
    let ref_features = classifier.predict(&reference_images).features;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let noisy = noised(&held_out, 1.0, &mut rng);
    Ok(Judged {
        classifier_test_accuracy: accuracy(&classifier.predict(&test.images), &test.labels),
        reference_test_images: reference,
        samples: quality(classifier, samples, &ref_features),
        held_out_real: quality(classifier, &held_out, &ref_features),
        noised_real_sigma_1: quality(classifier, &noisy, &ref_features),
    })
}

impl Judged {
    /// The three rows as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| | images | confident (p ≥ 0.9) | class entropy (ln 10 = 2.303) | Fréchet distance |\n|---|---|---|---|---|\n",
        );
        for (name, q) in [
            ("samples", &self.samples),
            ("held-out test digits (floor)", &self.held_out_real),
            ("test digits + N(0, 1) noise", &self.noised_real_sigma_1),
        ] {
            out += &format!(
                "| {name} | {} | {:.1}% | {:.3} | {:.2} |\n",
                q.count,
                100.0 * q.confident,
                q.class_entropy,
                q.frechet
            );
        }
        out
    }
}

/// Real digits with Gaussian noise of standard deviation `sigma` (on the [−1, 1] scale) added
/// and clipped: the "noised images" row of the evaluation, for a sense of scale.
pub fn noised(images: &Images, sigma: f64, rng: &mut impl Rng) -> Images {
    let mut out = images.clone();
    for p in out.pixels.iter_mut() {
        let z: f64 = rng.sample(rand_distr::StandardNormal);
        let x = (pixels_to_unit(*p) as f64 + sigma * z).clamp(-1.0, 1.0);
        *p = ddpm_data::unit_to_pixels(x as f32);
    }
    out
}

/// The reference set and the floor, from one fixed shuffle of the test set: the first
/// `reference` shuffled test images give the reference features; the next `count` are the
/// held-out real digits whose distance to the reference is the best a model can expect with
/// `count` samples. (Shuffled because MNIST's test set is ordered: its first 5,000 digits come
/// from different writers than its last 5,000, and a floor drawn from one half against a
/// reference from the other is not a floor.)
pub fn split_test(test: &Dataset, reference: usize, count: usize) -> (Images, Images) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    assert!(
        reference + count <= test.len(),
        "the test set has {} images, {} + {} asked for",
        test.len(),
        reference,
        count
    );
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0x5EED));
    (
        test.images.select(&order[..reference]),
        test.images.select(&order[reference..reference + count]),
    )
}

// ANCHOR: eval_report
/// What `ddpm eval` writes to `eval.json`, and what chapter 9's results reader reads back: what
/// was measured (and how), and the classifier's judgement. The one definition of the schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    #[serde(flatten)]
    pub measured: Measured,
    #[serde(flatten)]
    pub judged: Judged,
}

/// The checkpoint measured (and how), or the file whose samples were judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub checkpoint: Option<String>,
    pub samples_from: Option<String>,
    pub step: Option<usize>,
    pub sampler: Option<String>,
    pub variance: Option<String>,
    pub seed: u64,
    pub bits_per_dim: Option<BitsPerDim>,
    /// A class-conditional checkpoint's guidance scale and how its samples match the asked digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided: Option<GuidedQuality>,
    /// The noisy classifier's weights when guided by it (classifier guidance); absent:
    /// classifier-free guidance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_guidance: Option<String>,
    /// Whether the sampler clipped x̂₀ to [−1, 1] (written only when it did).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clip_x0: bool,
}

/// The bound on held-out test digits: its mean over `images` digits and the standard error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitsPerDim {
    pub images: usize,
    pub mean: f64,
    pub standard_error: f64,
}
// ANCHOR_END: eval_report

impl EvalReport {
    /// Reads an `eval.json`; the error names the file and what is wrong with it.
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema is the one `ddpm eval` writes and the results readers read: every committed
    /// eval.json (written by `ddpm eval` since chapter 8) reads as an [`EvalReport`]
    /// and writes back as the same JSON, field for field.
    #[test]
    fn every_committed_eval_json_is_an_eval_report_and_back() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.file_name().is_some_and(|n| n == "eval.json") {
                    out.push(path);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        walk(&root.join("results"), &mut files);
        walk(&root.join("checkpoints"), &mut files);
        assert!(files.len() >= 50, "{} eval.json files", files.len());
        // Chapter 8's first report predates the `sampler` and `samples_from` fields: a field
        // that is null reads the same as one that is absent.
        let without_nulls = |v: serde_json::Value| match v {
            serde_json::Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => panic!("not an object"),
        };
        for path in files {
            let report = EvalReport::read(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let written: serde_json::Value = serde_json::from_str(&text).unwrap();
            let back: serde_json::Map<_, _> = without_nulls(serde_json::to_value(&report).unwrap());
            assert_eq!(back, without_nulls(written), "{}", path.display());
        }
        let broken = std::env::temp_dir().join("ddpm-eval-report-test.json");
        std::fs::write(&broken, "{\"seed\": 1}").unwrap();
        let err = EvalReport::read(&broken).unwrap_err();
        assert!(err.contains("ddpm-eval-report-test.json"), "{err}");
    }

    /// The split is disjoint, and both parts draw from both halves of the ordered test set.
    #[test]
    fn test_split_is_disjoint_and_shuffled() {
        let n = 1000;
        let test = Dataset {
            images: Images {
                count: n,
                rows: 1,
                cols: 2,
                pixels: (0..n)
                    .flat_map(|i| [(i / 256) as u8, (i % 256) as u8])
                    .collect(),
            },
            labels: vec![0; n],
        };
        let (reference, held_out) = split_test(&test, 600, 300);
        let index = |im: &Images| -> Vec<usize> {
            (0..im.count)
                .map(|k| 256 * im.image(k)[0] as usize + im.image(k)[1] as usize)
                .collect()
        };
        let (r, h) = (index(&reference), index(&held_out));
        assert!(r.iter().all(|i| !h.contains(i)));
        for part in [&r, &h] {
            assert!(part.iter().any(|&i| i < n / 2) && part.iter().any(|&i| i >= n / 2));
        }
        assert_eq!((r.len(), h.len()), (600, 300));
    }

    #[test]
    fn mean_and_standard_error() {
        let (m, se) = mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12);
        // Sample variance 5/3, so the standard error is √(5/12).
        assert!((se - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
    }
}

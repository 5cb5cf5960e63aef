//! Chapter 9's classifier guidance (Dhariwal & Nichol 2021): a classifier of *noisy* digits,
//! p_φ(c | x_t), and a denoiser that moves ε̂ against the gradient of its log-probability —
//! the method classifier-free guidance was made to remove.

use std::path::Path;

use ddpm_data::{images_to_tensor, Dataset};
use ddpm_forward::Rows;
use ddpm_plot::Progress;
use ddpm_sampling::Denoiser;
use ddpm_schedule::Schedule;
use ddpm_unet::blocks::{Act, DeviceConv};
use ddpm_unet::ConvDevice;
use dfdx::nn::modules;
use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::net::DiffusionNet;

// ANCHOR: noisy_classifier
/// The course's classifier, wider, with a second input channel that holds the noise level
/// √(1 − ᾱ_t) of the image in every pixel: how it is told t. Conditioning on the level rather
/// than on t makes it fit any schedule's x_t.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoisyClassifier;

#[derive(Clone, Debug)]
pub struct DeviceNoisyClassifier<E: Dtype, D: Storage<E>> {
    pub conv1: DeviceConv<2, 32, 3, 1, 1, E, D>,
    pub conv2: DeviceConv<32, 64, 3, 2, 1, E, D>,
    pub conv3: DeviceConv<64, 64, 3, 2, 1, E, D>,
    pub hidden: modules::Linear<3136, 128, E, D>,
    pub out: modules::Linear<128, 10, E, D>,
}
// ANCHOR_END: noisy_classifier

impl<D: Device<f32>> BuildOnDevice<D, f32> for NoisyClassifier {
    type Built = DeviceNoisyClassifier<f32, D>;
}

impl<D: Device<f32>> TensorCollection<f32, D> for DeviceNoisyClassifier<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = DeviceNoisyClassifier<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                Self::module("hidden", |s| &s.hidden, |s| &mut s.hidden),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(conv1, conv2, conv3, hidden, out)| DeviceNoisyClassifier {
                conv1,
                conv2,
                conv3,
                hidden,
                out,
            },
        )
    }
}

/// The noise level √(1 − ᾱ_t) of each row's step.
pub fn noise_levels(s: &Schedule, ts: &[usize]) -> Vec<f32> {
    ts.iter()
        .map(|&t| (1.0 - s.alpha_bar(t)).sqrt() as f32)
        .collect()
}

impl<D: ConvDevice> DeviceNoisyClassifier<f32, D> {
    /// Class logits `[B, 10]` of images `[B, 1, 28, 28]` at noise levels `levels` (one per row).
    pub fn logits<T: Tape<f32, D> + Merge<T>>(
        &self,
        x: Act<D, T>,
        levels: &[f32],
    ) -> Tensor<(usize, Const<10>), f32, D, T> {
        let b = x.shape().0;
        let dev = self.out.weight.device().clone();
        let plane: Vec<f32> = levels
            .iter()
            .flat_map(|&l| std::iter::repeat_n(l, 784))
            .collect();
        let level: Act<D, NoneTape> = dev.tensor_from_vec(plane, (b, 1, 28, 28));
        let x: Act<D, T> = (x, level).concat_along(Axis::<1>);
        let h = self.conv1.forward(x).relu();
        let h = self.conv2.forward(h).relu();
        let h = self.conv3.forward(h).relu();
        let h = self
            .hidden
            .forward(h.reshape_like(&(b, Const::<3136>)))
            .relu();
        self.out.forward(h)
    }

    // ANCHOR: log_prob_grad
    /// ∇_x log p_φ(c_r | x_r) for each row r of `x` `[B, 1, 28, 28]`, asked class `classes[r]`.
    /// Rows do not interact (no batch statistics), so the gradient of the batch's summed
    /// log-probability is each row's own.
    pub fn log_prob_grad(
        &self,
        x: Act<D, NoneTape>,
        levels: &[f32],
        classes: &[usize],
    ) -> Act<D, NoneTape> {
        let b = x.shape().0;
        let dev = self.out.weight.device().clone();
        let mut onehot = vec![0.0f32; b * 10];
        for (r, &c) in classes.iter().enumerate() {
            onehot[r * 10 + c] = 1.0;
        }
        let onehot = dev.tensor_from_vec(onehot, (b, Const::<10>));
        let log_p = self
            .logits(x.leaky_trace(), levels)
            .log_softmax::<Axis<1>>();
        let grads = (log_p * onehot).sum().backward();
        grads.get(&x)
    }
    // ANCHOR_END: log_prob_grad

    /// Accuracy on `count` test digits noised to each step of `ts` (the same digits and noise
    /// seed for every step).
    pub fn accuracy_by_step(
        &self,
        s: &Schedule,
        test: &Dataset,
        ts: &[usize],
        count: usize,
        seed: u64,
    ) -> Vec<f64> {
        let dev = self.out.weight.device().clone();
        let idx: Vec<usize> = (0..count.min(test.len())).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        ts.iter()
            .map(|&t| {
                let mut right = 0;
                for rows in idx.chunks(500) {
                    let n = rows.len();
                    let x = images_to_tensor(&dev, &test.images.select(rows));
                    let (xt, levels) = noised(&dev, s, x, &vec![t; n], &mut rng);
                    let logits = self.logits(xt, &levels).as_vec();
                    right += logits
                        .chunks(10)
                        .zip(rows)
                        .filter(|(l, &i)| {
                            (0..10).max_by(|&a, &b| l[a].total_cmp(&l[b]))
                                == Some(test.labels[i] as usize)
                        })
                        .count();
                }
                right as f64 / idx.len() as f64
            })
            .collect()
    }
}

/// x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε for images `[B, 1, 28, 28]`, one step per row.
fn noised<D: ConvDevice>(
    dev: &D,
    s: &Schedule,
    x0: Act<D, NoneTape>,
    ts: &[usize],
    rng: &mut StdRng,
) -> (Act<D, NoneTape>, Vec<f32>) {
    let shape = *x0.shape();
    let noise: Vec<f32> = (0..shape.0 * 784)
        .map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &t in ts {
        let ab = s.alpha_bar(t);
        a.extend(std::iter::repeat_n(ab.sqrt() as f32, 784));
        b.extend(std::iter::repeat_n((1.0 - ab).sqrt() as f32, 784));
    }
    let a = dev.tensor_from_vec(a, shape);
    let b = dev.tensor_from_vec(b, shape);
    let noise = dev.tensor_from_vec(noise, shape);
    (x0 * a + noise * b, noise_levels(s, ts))
}

// ANCHOR: train_noisy_classifier
/// Trains the noisy classifier with Adam (lr 10⁻³) on cross-entropy for `steps` batches of 128
/// training digits, each noised to a step drawn uniformly from 1..=T per digit; returns the
/// mean loss of each hundred steps.
pub fn train_noisy_classifier<D: ConvDevice>(
    model: &mut DeviceNoisyClassifier<f32, D>,
    s: &Schedule,
    train: &Dataset,
    steps: usize,
    seed: u64,
    show_progress: bool,
) -> Vec<f32> {
    let dev = model.out.weight.device().clone();
    let mut opt = Adam::new(
        model,
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    let mut rng = StdRng::seed_from_u64(seed);
    let batch = 128;
    let bar = Progress::new(steps as u64, "noisy classifier", "steps", show_progress);
    let (mut losses, mut sum) = (Vec::new(), 0.0);
    for step in 1..=steps {
        let idx: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..train.len())).collect();
        let ts: Vec<usize> = (0..batch).map(|_| rng.gen_range(1..=s.t_max())).collect();
        let x0 = images_to_tensor(&dev, &train.images.select(&idx));
        let (xt, levels) = noised(&dev, s, x0, &ts, &mut rng);
        let mut onehot = vec![0.0f32; batch * 10];
        for (row, &i) in idx.iter().enumerate() {
            onehot[row * 10 + train.labels[i] as usize] = 1.0;
        }
        let y = dev.tensor_from_vec(onehot, (batch, Const::<10>));
        let loss = cross_entropy_with_logits_loss(model.logits(xt.traced(grads), &levels), y);
        sum += loss.as_vec()[0];
        grads = loss.backward();
        opt.update(model, &grads)
            .expect("every parameter has a gradient");
        model.zero_grads(&mut grads);
        bar.inc(1);
        if step % 100 == 0 || step == steps {
            let n = (step - 1) % 100 + 1;
            losses.push(sum / n as f32);
            bar.set_message(format!("loss {:.4}", sum / n as f32));
            sum = 0.0;
        }
    }
    bar.finish();
    losses
}
// ANCHOR_END: train_noisy_classifier

/// Loads noisy-classifier weights saved with `save_safetensors`; the error names the file.
pub fn load_noisy_classifier<D: ConvDevice>(
    dev: &D,
    path: &Path,
) -> Result<DeviceNoisyClassifier<f32, D>, crate::CheckpointError> {
    let mut model = DeviceNoisyClassifier::<f32, D>::build(dev);
    if !path.is_file() {
        return Err(crate::CheckpointError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no noisy-classifier weights here (train them with `ddpm classifier --noisy`)",
            ),
        });
    }
    model
        .load_safetensors(path)
        .map_err(|e| crate::CheckpointError::NotSafetensors {
            path: path.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
    Ok(model)
}

// ANCHOR: classifier_guided
/// Classifier guidance in Dhariwal & Nichol's ε form (their Algorithm 2, for DDIM; for the
/// ancestral sampler it is their Algorithm 1's mean shift s Σ ∇ log p up to a factor 1/√α_t):
/// ε̃ = ε_θ(x_t) − s √(1 − ᾱ_t) ∇_{x_t} log p_φ(c | x_t). The network is unconditional (a
/// class-conditional one is asked for "no label") and predicts ε. Row r asks for
/// `classes[r % classes.len()]`.
pub struct ClassifierGuided<'a, M, D: ConvDevice> {
    pub model: &'a M,
    pub classifier: &'a DeviceNoisyClassifier<f32, D>,
    pub schedule: &'a Schedule,
    pub classes: Vec<usize>,
    pub scale: f32,
}

impl<D: ConvDevice, M: DiffusionNet<D>> Denoiser<D> for ClassifierGuided<'_, M, D> {
    fn denoise(&self, x_t: Rows<D>, ts: &[usize]) -> Rows<D> {
        let n = x_t.shape().0;
        let x = x_t.reshape_like(&(n, 1, 28, 28));
        let labels = vec![M::CLASSES; n];
        let labels = (M::CLASSES > 0).then_some(labels.as_slice());
        let eps = self.model.predict_labelled(x.clone(), ts, labels);
        let eps = eps.reshape_like(&(n, 784));
        if self.scale == 0.0 {
            return eps;
        }
        let asked: Vec<usize> = (0..n)
            .map(|r| self.classes[r % self.classes.len()])
            .collect();
        let levels = noise_levels(self.schedule, ts);
        let grad = self.classifier.log_prob_grad(x, &levels, &asked);
        let shift: Vec<f32> = levels
            .iter()
            .flat_map(|&l| std::iter::repeat_n(self.scale * l, 784))
            .collect();
        let dev = eps.device().clone();
        let shift = dev.tensor_from_vec(shift, (n, 784));
        eps - grad.reshape_like(&(n, 784)) * shift
    }

    fn network_calls(&self) -> usize {
        1
    }
}
// ANCHOR_END: classifier_guided

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_schedule::BetaSchedule;
    use rand_distr::StandardNormal;

    fn random_images(dev: &Cpu, n: usize, seed: u64) -> Act<Cpu, NoneTape> {
        let mut rng = StdRng::seed_from_u64(seed);
        let v: Vec<f32> = (0..n * 784)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        dev.tensor_from_vec(v, (n, 1, 28, 28))
    }

    /// log_prob_grad is the gradient of log p(c | x): central differences of the log-softmax
    /// agree with it at pixels of two rows (an untrained classifier, random inputs, different
    /// levels and classes per row), and a row's gradient does not depend on the other rows.
    #[test]
    fn the_guiding_gradient_is_the_log_probabilitys() {
        let dev: Cpu = Default::default();
        let model = DeviceNoisyClassifier::<f32, Cpu>::build(&dev);
        let x = random_images(&dev, 2, 1);
        let (levels, classes) = ([0.3f32, 0.9], [7usize, 2]);
        let grad = model.log_prob_grad(x.clone(), &levels, &classes).as_vec();
        let base = x.as_vec();
        let log_p = |v: Vec<f32>, row: usize| -> f64 {
            let x = dev.tensor_from_vec(v, (2, 1, 28, 28));
            let l = model.logits(x, &levels).log_softmax::<Axis<1>>().as_vec();
            l[row * 10 + classes[row]] as f64
        };
        let h = 1e-2f32;
        for (row, pixel) in [(0, 300), (0, 411), (1, 95), (1, 600)] {
            let i = row * 784 + pixel;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (log_p(up, row) - log_p(down, row)) / (2.0 * h as f64);
            let analytic = grad[i] as f64;
            assert!(
                (numeric - analytic).abs() < 2e-3 + 0.05 * analytic.abs(),
                "row {row} pixel {pixel}: {numeric} vs {analytic}"
            );
        }
        // Row 1 alone gives row 1's gradient.
        let alone = model
            .log_prob_grad(
                dev.tensor_from_vec(base[784..].to_vec(), (1, 1, 28, 28)),
                &levels[1..],
                &classes[1..],
            )
            .as_vec();
        for (a, b) in alone.iter().zip(&grad[784..]) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    /// Sixty training steps on noisy digits teach the classifier the clean-ish ones (an untrained
    /// one is right one time in ten); at t = 1000 the digit is gone (ᾱ_T ≈ 4·10⁻⁵), and so is
    /// its accuracy.
    #[test]
    fn the_noisy_classifier_learns() {
        let dev: Cpu = Cpu::seed_from_u64(0);
        let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        let train = Dataset::load(&data, ddpm_data::Split::Train).unwrap();
        let test = Dataset::load(&data, ddpm_data::Split::Test).unwrap();
        let s = Schedule::new(BetaSchedule::Linear, 1000).unwrap();
        let mut model = DeviceNoisyClassifier::<f32, Cpu>::build(&dev);
        let losses = train_noisy_classifier(&mut model, &s, &train, 60, 0, false);
        assert!(losses[0].is_finite(), "{losses:?}");
        let acc = model.accuracy_by_step(&s, &test, &[1, 1000], 500, 0);
        eprintln!("accuracy at t = 1, 1000: {acc:?}");
        assert!(
            acc[0] > 0.5 && acc[1] < 0.25,
            "accuracy at t = 1, 1000: {acc:?}"
        );
    }

    use std::path::PathBuf;
}

//! dfdx for PyTorch users: the lines the course uses, each under the PyTorch line it stands for.
//! The book's "Start here" page includes these listings, so every line there compiles and the
//! tests below check what the comments claim.

#[cfg(test)]
mod tests {
    use dfdx::optim::{Adam, AdamConfig};
    use dfdx::prelude::*;

    /// Tensors: a device, literals, random draws, compile-time and run-time shapes.
    #[test]
    fn tensors() {
        // ANCHOR: tensors
        // torch.device("cpu")
        let dev: Cpu = Default::default();
        // torch.tensor([[1., 2., 3.], [4., 5., 6.]])
        let a: Tensor<Rank2<2, 3>, f32, Cpu> = dev.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        // torch.randn(2, 3): the shape is part of the type
        let r: Tensor<Rank2<2, 3>, f32, Cpu> = dev.sample_normal();
        // torch.zeros(b, 784): sizes known only at run time are `usize`
        let b = 16;
        let z: Tensor<(usize, Const<784>), f32, Cpu> = dev.zeros_like(&(b, Const));
        // torch.tensor(v).view(b, 784): a Vec and a shape
        let v = dev.tensor_from_vec(vec![0.5f32; b * 784], (b, 784));
        // x.tolist() (flattened), x.numpy()
        let flat: Vec<f32> = a.as_vec();
        let array: [[f32; 3]; 2] = a.array();
        // ANCHOR_END: tensors
        assert_eq!(flat, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(array[1][2], 6.0);
        assert_eq!(r.as_vec().len(), 6);
        assert_eq!(z.shape().0, 16);
        assert_eq!(*v.shape(), (16, 784));
    }

    /// Shapes change by ops whose result type says the new shape.
    #[test]
    fn shapes() {
        let dev: Cpu = Default::default();
        let b = 2;
        let x = dev.tensor_from_vec((0..b * 784).map(|i| i as f32).collect(), (b, 784));
        let bias: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(vec![1.0; b], (b,));
        // ANCHOR: shapes
        // x.view(b, 1, 28, 28)
        let img = x.reshape_like(&(b, 1, 28, 28));
        // img.permute(0, 2, 3, 1)
        let hwc = img.clone().permute::<_, Axes4<0, 2, 3, 1>>();
        // img + bias[:, None, None, None]: broadcasting is explicit, naming the new axes
        let shifted = img.clone() + bias.broadcast_like::<_, Axes3<1, 2, 3>>(img.shape());
        // torch.cat([img, img], dim=1)
        let two = (img.clone(), img.clone()).concat_along(Axis::<1>);
        // img.sum(dim=(1, 2, 3)), img.mean()
        let per_image: Tensor<(usize,), f32, Cpu> = img.clone().sum::<_, Axes3<1, 2, 3>>();
        let mean: Tensor<(), f32, Cpu> = img.mean();
        // ANCHOR_END: shapes
        assert_eq!(*hwc.shape(), (2, 28, 28, 1));
        assert_eq!(shifted.as_vec()[0], 1.0);
        assert_eq!(*two.shape(), (2, 2, 28, 28));
        let n = (b * 784) as f32;
        assert!((mean.array() - (n - 1.0) / 2.0).abs() < 1e-2);
        assert!((per_image.as_vec()[0] - 783.0 * 784.0 / 2.0).abs() < 1.0);
    }

    /// Gradients: a tape rides along with the tensor; `backward` returns them.
    #[test]
    fn gradients() {
        let dev: Cpu = Default::default();
        // ANCHOR: gradients
        // x = torch.tensor([1., 2., 3.], requires_grad=True)
        let x: Tensor<Rank1<3>, f32, Cpu> = dev.tensor([1.0, 2.0, 3.0]);
        // y = (x * x).sum(); y.backward()
        let y = (x.leaky_trace().square()).sum();
        let grads = y.backward();
        // x.grad
        let dx: [f32; 3] = grads.get(&x).array();
        // using x twice: PyTorch tracks it; here one use carries the tape, the other an empty
        // one (`retaped`), and their gradients add up on x
        let x_t = x.leaky_trace();
        let y2 = (x_t.retaped::<OwnedTape<f32, Cpu>>() * 2.0 + x_t.square()).sum();
        let dx2: [f32; 3] = y2.backward().get(&x).array();
        // with torch.no_grad(): a tensor without a tape records nothing
        let plain = x.clone().square();
        // ANCHOR_END: gradients
        assert_eq!(dx, [2.0, 4.0, 6.0]);
        assert_eq!(dx2, [4.0, 6.0, 8.0]);
        assert_eq!(plain.array(), [1.0, 4.0, 9.0]);
    }

    /// A model, a loss and an optimiser: one training step, as chapter 6's loop writes it.
    #[test]
    fn training_step() {
        // ANCHOR: training
        // model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
        type Mlp = (Linear<2, 64>, ReLU, Linear<64, 2>);
        let dev: Cpu = Cpu::seed_from_u64(0);
        let mut model = dev.build_module::<Mlp, f32>();
        // opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        let mut opt = Adam::new(
            &model,
            AdamConfig {
                lr: 1e-2,
                ..Default::default()
            },
        );
        // the .grad buffers PyTorch keeps on each parameter are one value here
        let mut grads = model.alloc_grads();
        let x: Tensor<Rank2<8, 2>, f32, Cpu> = dev.sample_normal();
        let target = x.clone() * 2.0;
        let mut losses = Vec::new();
        for _ in 0..50 {
            // loss = F.mse_loss(model(x), target)
            let loss = mse_loss(model.forward(x.clone().traced(grads)), target.clone());
            losses.push(loss.array());
            // loss.backward()
            grads = loss.backward();
            // opt.step()
            opt.update(&mut model, &grads).unwrap();
            // opt.zero_grad()
            model.zero_grads(&mut grads);
        }
        // ANCHOR_END: training
        assert!(
            losses[49] < 0.2 * losses[0],
            "the loss should fall: {} → {}",
            losses[0],
            losses[49]
        );
    }
}

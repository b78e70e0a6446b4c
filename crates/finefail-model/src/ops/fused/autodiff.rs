//! The autodiff side of [`FusedOps`]: for `Autodiff<Flex>`, each op runs the flex forward on the
//! inner tensors, keeps what its backward needs, and registers a hand-written backward that feeds
//! the kernels the saved state and the incoming gradient.

use super::flex::{
    attention_forward, head_cross_entropy_forward, mask_of, rms_norm_forward, rope_backward,
    rope_forward, swiglu_forward,
};
use super::flex_io::{contiguous, dims, readable4, strided4, swapped12, tensor, values};
use super::kernels::{attention, head_cross_entropy, rms_norm, swiglu};
use super::FusedOps;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};

type Ad<C> = Autodiff<Flex, C>;

#[derive(Debug)]
struct RmsNormBackward;

impl Backward<Flex, 2> for RmsNormBackward {
    /// (x, γ, r)
    type State = (FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx, ng] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, gamma, r) = ops.state;
        let (dx, dg) = rms_norm::backward(
            values(&x),
            values(&gamma),
            values(&r),
            values(&dy),
            ng.is_some(),
        );
        if let Some(n) = nx {
            grads.register::<Flex>(n.id, tensor(dx, &dims(&x)));
        }
        if let (Some(n), Some(dg)) = (ng, dg) {
            grads.register::<Flex>(n.id, tensor(dg, &dims(&gamma)));
        }
    }
}

#[derive(Debug)]
struct SwigluBackward;

impl Backward<Flex, 2> for SwigluBackward {
    /// (g, u)
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [ng, nu] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let (g, u) = ops.state;
        let (dg, du) = swiglu::backward(values(&g), values(&u), values(&dy));
        let shape = dims(&g);
        if let Some(n) = ng {
            grads.register::<Flex>(n.id, tensor(dg, &shape));
        }
        if let Some(n) = nu {
            grads.register::<Flex>(n.id, tensor(du, &shape));
        }
    }
}

#[derive(Debug)]
struct RopeBackward;

impl Backward<Flex, 1> for RopeBackward {
    /// (cos, sin)
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nx] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (cos, sin) = ops.state;
        if let Some(n) = nx {
            grads.register::<Flex>(n.id, rope_backward(&dy, &cos, &sin));
        }
    }
}

#[derive(Debug)]
struct AttentionBackward;

/// What the attention backward keeps: q, k, v (views of tensors alive anyway), the mask, the
/// forward's log-sum-exp and the scale.
#[derive(Debug, Clone)]
struct AttentionState {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    mask: Option<FlexTensor>,
    lse: FlexTensor,
    scale: f64,
}

impl Backward<Flex, 3> for AttentionBackward {
    type State = AttentionState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nq, nk, nv] = ops.parents;
        let s = ops.state;
        let d_o = readable4(&grads.consume::<Flex>(&ops.node));
        let (qv, kv, vv) = (strided4(&s.q), strided4(&s.k), strided4(&s.v));
        let (dq, dk, dv) = attention::backward(
            &qv,
            &kv,
            &vv,
            mask_of(&s.mask),
            s.scale as f32,
            values(&s.lse),
            &strided4(&d_o),
        );
        let [b, h, t, hd] = qv.shape;
        let [_, kvh, tk, _] = kv.shape;
        if let Some(n) = nq {
            grads.register::<Flex>(n.id, swapped12(dq, [b, t, h, hd]));
        }
        if let Some(n) = nk {
            grads.register::<Flex>(n.id, swapped12(dk, [b, tk, kvh, hd]));
        }
        if let Some(n) = nv {
            grads.register::<Flex>(n.id, swapped12(dv, [b, tk, kvh, hd]));
        }
    }
}

#[derive(Debug)]
struct HeadCrossEntropyBackward;

impl Backward<Flex, 1> for HeadCrossEntropyBackward {
    /// ∂loss_i/∂h_i, `[n, d]`.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nh] = ops.parents;
        let g = contiguous(&grads.consume::<Flex>(&ops.node));
        let dh = ops.state;
        let shape = dims(&dh);
        if let Some(n) = nh {
            let out = head_cross_entropy::backward(values(&dh), shape[1], values(&g));
            grads.register::<Flex>(n.id, tensor(out, &shape));
        }
    }
}

fn attention_autodiff<C: CheckpointStrategy>(
    q: FloatTensor<Ad<C>>,
    k: FloatTensor<Ad<C>>,
    v: FloatTensor<Ad<C>>,
    mask: Option<FloatTensor<Ad<C>>>,
    scale: f64,
) -> FloatTensor<Ad<C>> {
    let nodes = [q.node(), k.node(), v.node()];
    let (q, k, v) = (
        readable4(&q.into_primitive()),
        readable4(&k.into_primitive()),
        readable4(&v.into_primitive()),
    );
    let mask = mask.map(|m| contiguous(&m.into_primitive()));
    let (o, lse) = attention_forward(&q, &k, &v, &mask, scale);
    match AttentionBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            AttentionState {
                q,
                k,
                v,
                mask,
                lse,
                scale,
            },
            o,
        ),
        OpsKind::UnTracked(prep) => prep.finish(o),
    }
}

impl<C: CheckpointStrategy> FusedOps for Ad<C> {
    fn rms_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        let nodes = [x.node(), gamma.node()];
        let (x, gamma) = (x.into_primitive(), gamma.into_primitive());
        let (y, x, r) = rms_norm_forward(&x, &gamma, eps);
        match RmsNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, contiguous(&gamma), r), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn swiglu(g: FloatTensor<Self>, u: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [g.node(), u.node()];
        let (y, g, u) = swiglu_forward(&g.into_primitive(), &u.into_primitive());
        match SwigluBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((g, u), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        let y = rope_forward(&x.into_primitive(), &cos, &sin);
        match RopeBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((cos, sin), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        attention_autodiff::<C>(q, k, v, None, scale)
    }

    fn attention_masked(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        attention_autodiff::<C>(q, k, v, Some(mask), scale)
    }

    fn head_cross_entropy(
        h: FloatTensor<Self>,
        w: FloatTensor<Self>,
        targets: Vec<i64>,
    ) -> FloatTensor<Self> {
        let nodes = [h.node()];
        let prep = HeadCrossEntropyBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let (h, w) = (h.into_primitive(), w.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let (losses, dh) = head_cross_entropy_forward(&h, &w, &targets, true);
                prep.finish(dh.expect("gradient requested"), losses)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(head_cross_entropy_forward(&h, &w, &targets, false).0)
            }
        }
    }

    /// Never routed here (the tensor-level function uses it only without autodiff); a plain
    /// differentiable product keeps it correct if it ever is.
    fn linear_rows(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::FloatTensorOps;
        Self::float_matmul(x, w)
    }
}

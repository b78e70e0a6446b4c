//! The fused ops as a burn backend extension: implemented for `Flex` (forward only) and for
//! `Autodiff<Flex>` (forward plus a hand-written backward per op). Other backends never reach this
//! trait: the tensor-level functions in `super` route them to the plain-ops path.

use super::flex_io::{contiguous, dims, mat2, readable4, strided4, swapped12, tensor, values};
use super::kernels::{attention, cross_entropy, rms_norm, rope, rows, swiglu};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Flex};

/// Fused CPU ops (see the module docs of `super` for the semantics of each).
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// RMSNorm of the last dimension.
    fn fused_rms_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self>;
    /// `silu(g) ⊙ u`.
    fn fused_swiglu(g: FloatTensor<Self>, u: FloatTensor<Self>) -> FloatTensor<Self>;
    /// Rotary embedding of `[b, h, t, hd]` with `[cb, 1, t, hd]` tables.
    fn fused_rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// Causal GQA attention core.
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
    /// Causal GQA attention core with an additive `[mb, 1, t, tk]` mask.
    fn fused_attention_masked(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self>;
    /// Per-row cross-entropy of `h · w` against `targets` (`[n]`), `w` frozen.
    fn fused_cross_entropy(
        h: FloatTensor<Self>,
        w: FloatTensor<Self>,
        targets: Vec<i64>,
    ) -> FloatTensor<Self>;
    /// `x · w` for a few rows of `x` `[n, in]` (inference).
    fn fused_linear_rows(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self>;
}

// ---------------------------------------------------------------------------------------------
// Forward passes on Flex tensors, shared by both implementations.
// ---------------------------------------------------------------------------------------------

fn rms_fwd(x: &FlexTensor, gamma: &FlexTensor, eps: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (x, gamma) = (contiguous(x), contiguous(gamma));
    let (y, r) = rms_norm::forward(values(&x), values(&gamma), eps);
    let n = r.len();
    (tensor(y, &dims(&x)), x, tensor(r, &[n]))
}

fn swiglu_fwd(g: &FlexTensor, u: &FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (g, u) = (contiguous(g), contiguous(u));
    let y = swiglu::forward(values(&g), values(&u));
    (tensor(y, &dims(&g)), g, u)
}

fn tables(cos: &FlexTensor, sin: &FlexTensor) -> (FlexTensor, FlexTensor, usize) {
    let cb = dims(cos)[0];
    (contiguous(cos), contiguous(sin), cb)
}

fn rope_apply(x: &FlexTensor, cos: &FlexTensor, sin: &FlexTensor, backward: bool) -> FlexTensor {
    let x = readable4(x);
    let view = strided4(&x);
    let (cos, sin, cb) = tables(cos, sin);
    let out = if backward {
        rope::backward(&view, values(&cos), values(&sin), cb)
    } else {
        rope::forward(&view, values(&cos), values(&sin), cb)
    };
    let [b, h, t, hd] = view.shape;
    swapped12(out, [b, t, h, hd])
}

fn mask_of(mask: &Option<FlexTensor>) -> Option<attention::Mask<'_>> {
    mask.as_ref().map(|m| attention::Mask {
        values: values(m),
        batches: dims(m)[0],
    })
}

fn attn_fwd(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    mask: &Option<FlexTensor>,
    scale: f64,
) -> (FlexTensor, FlexTensor) {
    let (q, k, v) = (readable4(q), readable4(k), readable4(v));
    let (qv, kv, vv) = (strided4(&q), strided4(&k), strided4(&v));
    let (o, lse) = attention::forward(&qv, &kv, &vv, mask_of(mask), scale as f32);
    let [b, h, t, hd] = qv.shape;
    (swapped12(o, [b, t, h, hd]), tensor(lse, &[b, h, t]))
}

fn ce_fwd(
    h: &FlexTensor,
    w: &FlexTensor,
    targets: &[i64],
    want_grad: bool,
) -> (FlexTensor, Option<FlexTensor>) {
    let h = contiguous(h);
    let hd = dims(&h);
    let d = hd[1];
    let (losses, dh) = cross_entropy::forward(values(&h), d, mat2(w), targets, want_grad);
    (tensor(losses, &[targets.len()]), dh.map(|g| tensor(g, &hd)))
}

impl FusedOps for Flex {
    fn fused_rms_norm(x: FlexTensor, gamma: FlexTensor, eps: f64) -> FlexTensor {
        rms_fwd(&x, &gamma, eps).0
    }
    fn fused_swiglu(g: FlexTensor, u: FlexTensor) -> FlexTensor {
        swiglu_fwd(&g, &u).0
    }
    fn fused_rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_apply(&x, &cos, &sin, false)
    }
    fn fused_attention(q: FlexTensor, k: FlexTensor, v: FlexTensor, scale: f64) -> FlexTensor {
        attn_fwd(&q, &k, &v, &None, scale).0
    }
    fn fused_attention_masked(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        mask: FlexTensor,
        scale: f64,
    ) -> FlexTensor {
        attn_fwd(&q, &k, &v, &Some(contiguous(&mask)), scale).0
    }
    fn fused_cross_entropy(h: FlexTensor, w: FlexTensor, targets: Vec<i64>) -> FlexTensor {
        ce_fwd(&h, &w, &targets, false).0
    }
    fn fused_linear_rows(x: FlexTensor, w: FlexTensor) -> FlexTensor {
        let x = contiguous(&x);
        let n = dims(&x)[0];
        let s = w.layout().strides();
        let w = if s[0] == 1 || s[1] == 1 {
            w
        } else {
            contiguous(&w)
        };
        let wm = mat2(&w);
        let out = wm.cols;
        tensor(rows::forward(values(&x), n, wm), &[n, out])
    }
}

// ---------------------------------------------------------------------------------------------
// Autodiff: forward on the inner Flex tensors, state for the backward, hand-written backward.
// ---------------------------------------------------------------------------------------------

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
            grads.register::<Flex>(n.id, rope_apply(&dy, &cos, &sin, true));
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
struct CrossEntropyBackward;

impl Backward<Flex, 1> for CrossEntropyBackward {
    /// ∂loss_i/∂h_i, `[n, d]`.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [nh] = ops.parents;
        let g = contiguous(&grads.consume::<Flex>(&ops.node));
        let dh = ops.state;
        let shape = dims(&dh);
        if let Some(n) = nh {
            let out = cross_entropy::backward(values(&dh), shape[1], values(&g));
            grads.register::<Flex>(n.id, tensor(out, &shape));
        }
    }
}

fn attention_ad<C: CheckpointStrategy>(
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
    let (o, lse) = attn_fwd(&q, &k, &v, &mask, scale);
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
    fn fused_rms_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), gamma.node()];
        let (x, gamma) = (x.into_primitive(), gamma.into_primitive());
        let (y, x, r) = rms_fwd(&x, &gamma, eps);
        match RmsNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x, contiguous(&gamma), r), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_swiglu(g: FloatTensor<Self>, u: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [g.node(), u.node()];
        let (y, g, u) = swiglu_fwd(&g.into_primitive(), &u.into_primitive());
        match SwigluBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((g, u), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        let y = rope_apply(&x.into_primitive(), &cos, &sin, false);
        match RopeBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((cos, sin), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        attention_ad::<C>(q, k, v, None, scale)
    }

    fn fused_attention_masked(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        attention_ad::<C>(q, k, v, Some(mask), scale)
    }

    fn fused_cross_entropy(
        h: FloatTensor<Self>,
        w: FloatTensor<Self>,
        targets: Vec<i64>,
    ) -> FloatTensor<Self> {
        let nodes = [h.node()];
        let prep = CrossEntropyBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let (h, w) = (h.into_primitive(), w.into_primitive());
        match prep {
            OpsKind::Tracked(prep) => {
                let (losses, dh) = ce_fwd(&h, &w, &targets, true);
                prep.finish(dh.expect("gradient requested"), losses)
            }
            OpsKind::UnTracked(prep) => prep.finish(ce_fwd(&h, &w, &targets, false).0),
        }
    }

    /// Never routed here (the tensor-level function uses it only without autodiff); a plain
    /// differentiable product keeps it correct if it ever is.
    fn fused_linear_rows(x: FloatTensor<Self>, w: FloatTensor<Self>) -> FloatTensor<Self> {
        use burn::backend::ops::FloatTensorOps;
        Self::float_matmul(x, w)
    }
}

//! Moving between burn-flex tensors and the kernels' slices: contiguous `f32` storage in, fresh
//! contiguous (or transposed-view) tensors out.

use super::kernels::mat::MatRef;
use super::kernels::Strided4;
use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};

/// `t` itself when it is a dense row-major f32 tensor, otherwise a contiguous copy.
pub fn contiguous(t: &FlexTensor) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "fused kernels run on f32");
    if t.as_slice::<f32>().is_some() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The values of a tensor made by [`contiguous`].
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// The shape as a vector.
pub fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// `t` itself when its strides are non-negative with a contiguous last dimension (any 4-D view the
/// decoder makes), otherwise a contiguous copy; read it with [`strided4`].
pub fn readable4(t: &FlexTensor) -> FlexTensor {
    assert_eq!(t.dtype(), DType::F32, "fused kernels run on f32");
    let l = t.layout();
    assert_eq!(l.num_dims(), 4, "a 4-D tensor");
    let ok = l.strides().iter().all(|&s| s >= 0) && (l.strides()[3] == 1 || l.shape()[3] <= 1);
    if ok {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// A strided view of a tensor made by [`readable4`].
pub fn strided4(t: &FlexTensor) -> Strided4<'_> {
    let l = t.layout();
    let s = l.strides();
    let shape = l.shape();
    Strided4::new(
        t.storage::<f32>(),
        l.start_offset(),
        [shape[0], shape[1], shape[2], shape[3]],
        [s[0] as usize, s[1] as usize, s[2] as usize, 1],
    )
}

/// A 2-D view with the tensor's own strides (e.g. the tied head, a transposed view of E).
pub fn mat2(t: &FlexTensor) -> MatRef {
    assert_eq!(t.dtype(), DType::F32, "fused kernels run on f32");
    let l = t.layout();
    assert_eq!(l.num_dims(), 2, "a 2-D tensor");
    let data = t.storage::<f32>();
    MatRef {
        ptr: data[l.start_offset()..].as_ptr(),
        rows: l.shape()[0],
        cols: l.shape()[1],
        rs: l.strides()[0],
        cs: l.strides()[1],
    }
}

/// A contiguous tensor of `values` shaped `shape`.
pub fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    assert_eq!(
        values.len(),
        shape.iter().product::<usize>(),
        "values for {shape:?}"
    );
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// A logical `[a, c, b, d]` tensor over values stored physically `[a, b, c, d]` (the kernels' head
/// layout: `[b, t, h, hd]` seen as `[b, h, t, hd]`).
pub fn swapped12(values: Vec<f32>, physical: [usize; 4]) -> FlexTensor {
    tensor(values, &physical).transpose(1, 2)
}

//! The fused CPU kernels on plain `f32` slices: forward and hand-written backward of each op. They
//! know nothing of burn; `super::flex` and `super::autodiff` feed them tensor storage.

pub mod attention;
pub mod head_cross_entropy;
pub mod linear_rows;
pub mod mat;
pub mod rms_norm;
pub mod rope;
pub mod swiglu;

use mat::MatRef;

/// A read-only 4-D strided view whose last dimension is contiguous (stride 1): how a head-split
/// projection (`[b, t, h, hd]` seen as `[b, h, t, hd]`) or a KV cache is laid out.
#[derive(Clone, Copy)]
pub struct Strided4<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub shape: [usize; 4],
    pub strides: [usize; 4],
}

impl<'a> Strided4<'a> {
    /// A view with explicit strides; panics when it would read outside `data`.
    pub fn new(data: &'a [f32], offset: usize, shape: [usize; 4], strides: [usize; 4]) -> Self {
        assert_eq!(strides[3], 1, "the last dimension must be contiguous");
        if shape.iter().all(|&s| s > 0) {
            let last: usize = (0..4).map(|i| (shape[i] - 1) * strides[i]).sum();
            assert!(offset + last < data.len(), "strided view out of bounds");
        }
        Self {
            data,
            offset,
            shape,
            strides,
        }
    }

    /// The last-dimension row at `(i, j, k)`.
    pub fn row(&self, i: usize, j: usize, k: usize) -> &'a [f32] {
        let at = self.offset + i * self.strides[0] + j * self.strides[1] + k * self.strides[2];
        &self.data[at..at + self.shape[3]]
    }

    /// The `shape[2] × shape[3]` matrix at `(i, j)`.
    pub fn mat(&self, i: usize, j: usize) -> MatRef {
        let at = self.offset + i * self.strides[0] + j * self.strides[1];
        MatRef {
            ptr: self.data[at..].as_ptr(),
            rows: self.shape[2],
            cols: self.shape[3],
            rs: self.strides[2] as isize,
            cs: 1,
        }
    }
}

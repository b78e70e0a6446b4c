//! Strided matrix views and the one matrix product every fused kernel uses.
//!
//! The fused kernels read tensors where they lie (a head of `[b, t, h, hd]` is a `t × hd` matrix with
//! row stride `h·hd`), so products take strides instead of copies. `gemm` is the crate burn-flex
//! itself multiplies with; each kernel task calls it single-threaded and parallelises over heads or
//! row blocks itself.

/// A read-only strided matrix: element `(i, j)` at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub struct MatRef {
    pub ptr: *const f32,
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

/// A writable strided matrix.
#[derive(Clone, Copy)]
pub struct MatMut {
    pub ptr: *mut f32,
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

// SAFETY: views are handed to parallel tasks that touch disjoint regions (each kernel documents its
// partition); the data outlives the scope the tasks run in.
unsafe impl Send for MatRef {}
unsafe impl Sync for MatRef {}
unsafe impl Send for MatMut {}
unsafe impl Sync for MatMut {}

impl MatRef {
    /// A row-major view of `rows × cols` values starting at `offset` with row stride `rs`.
    pub fn rows_of(data: &[f32], offset: usize, rows: usize, cols: usize, rs: usize) -> Self {
        assert!(rows == 0 || offset + (rows - 1) * rs + cols <= data.len());
        Self {
            ptr: data[offset..].as_ptr(),
            rows,
            cols,
            rs: rs as isize,
            cs: 1,
        }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            ptr: self.ptr,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Rows `start..start + n`.
    pub fn row_range(self, start: usize, n: usize) -> Self {
        assert!(start + n <= self.rows);
        Self {
            // SAFETY: in bounds by the assertion and the view's construction.
            ptr: unsafe { self.ptr.offset(start as isize * self.rs) },
            rows: n,
            ..self
        }
    }
}

impl MatMut {
    /// A row-major writable view of `rows × cols` values at `offset` with row stride `rs`.
    pub fn rows_of(data: &mut [f32], offset: usize, rows: usize, cols: usize, rs: usize) -> Self {
        assert!(rows == 0 || offset + (rows - 1) * rs + cols <= data.len());
        Self {
            ptr: data[offset..].as_mut_ptr(),
            rows,
            cols,
            rs: rs as isize,
            cs: 1,
        }
    }

    /// Rows `start..start + n`.
    pub fn row_range(self, start: usize, n: usize) -> Self {
        assert!(start + n <= self.rows);
        Self {
            // SAFETY: in bounds by the assertion and the view's construction.
            ptr: unsafe { self.ptr.offset(start as isize * self.rs) },
            rows: n,
            ..self
        }
    }
}

/// `dst = scale · a · b` (or `dst += scale · a · b` when `accumulate`), single-threaded unless
/// `threads > 1`.
pub fn matmul(dst: MatMut, a: MatRef, b: MatRef, scale: f32, accumulate: bool, threads: usize) {
    assert_eq!(a.cols, b.rows, "inner dimensions");
    assert_eq!((dst.rows, dst.cols), (a.rows, b.cols), "output shape");
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if !accumulate {
            for i in 0..dst.rows {
                for j in 0..dst.cols {
                    // SAFETY: (i, j) is inside the destination view.
                    unsafe { *dst.ptr.offset(i as isize * dst.rs + j as isize * dst.cs) = 0.0 };
                }
            }
        }
        return;
    }
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the views describe valid, in-bounds memory (checked at construction) and the
    // destination does not alias the inputs.
    unsafe {
        gemm::gemm(
            dst.rows, dst.cols, a.cols, dst.ptr, dst.cs, dst.rs, accumulate, a.ptr, a.cs, a.rs,
            b.ptr, b.cs, b.rs, 1.0, scale, false, false, false, par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]; through a transposed view too.
    #[test]
    fn products_with_strides() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let mut c = [0.0f32; 4];
        let av = MatRef::rows_of(&a, 0, 2, 2, 2);
        let bv = MatRef::rows_of(&b, 0, 2, 2, 2);
        matmul(MatMut::rows_of(&mut c, 0, 2, 2, 2), av, bv, 1.0, false, 1);
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // aᵀ · b = [[1,3],[2,4]] · b = [[26,30],[38,44]], accumulated on top, scaled by 0.5
        matmul(
            MatMut::rows_of(&mut c, 0, 2, 2, 2),
            av.t(),
            bv,
            0.5,
            true,
            1,
        );
        assert_eq!(c, [32.0, 37.0, 62.0, 72.0]);
    }
}

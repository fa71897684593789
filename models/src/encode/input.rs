//! One encoded hold episode as the models take it: a sparse `steps × width` matrix.

/// One encoded hold episode: a `steps × width` matrix, row-major (step-major), kept sparse.
///
/// A step of our encoder sets about 20 of its 162 columns and most episodes are mostly left
/// padding, so the dense matrix (9.7 KB) is nine parts zeros; a scan holds 100,000s of these
/// and a dense copy each cost it a second in allocation and page faults. The dense form is
/// made only for a batch, by [`write_time_major`](Self::write_time_major) and friends.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeInput {
    steps: usize,
    width: usize,
    /// The non-zero cells as (row-major index, value), in increasing index order.
    cells: Vec<(u32, f32)>,
}

impl EpisodeInput {
    /// From a dense row-major matrix of `steps × width` values (zeros are dropped).
    ///
    /// # Panics
    /// If `values` does not hold `steps × width` values, or the matrix has 2^32 cells or more.
    pub fn from_dense(steps: usize, width: usize, values: &[f32]) -> EpisodeInput {
        assert_eq!(values.len(), steps * width, "a {steps} × {width} matrix");
        assert!(
            values.len() <= u32::MAX as usize,
            "cell indices are stored as u32"
        );
        let cells = values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, &v)| (i as u32, v))
            .collect();
        EpisodeInput {
            steps,
            width,
            cells,
        }
    }

    /// From cells already in increasing index order, all inside the matrix.
    pub(super) fn from_sorted_cells(
        steps: usize,
        width: usize,
        cells: Vec<(u32, f32)>,
    ) -> EpisodeInput {
        debug_assert!(cells.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(cells.last().is_none_or(|c| (c.0 as usize) < steps * width));
        EpisodeInput {
            steps,
            width,
            cells,
        }
    }

    /// `(steps, width)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.steps, self.width)
    }

    /// The non-zero cells, `(step × width + column, value)`, in increasing index order.
    pub fn cells(&self) -> &[(u32, f32)] {
        &self.cells
    }

    /// The dense row-major matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut values = vec![0f32; self.steps * self.width];
        self.write_dense(&mut values);
        values
    }

    /// Writes the cells into `out`, a zeroed dense row-major matrix of `steps × width`.
    pub fn write_dense(&self, out: &mut [f32]) {
        for &(i, v) in &self.cells {
            out[i as usize] = v;
        }
    }

    /// Leading all-zero rows (the encoder's left padding), at most `steps - 1`: the last row
    /// always counts as a step.
    pub fn padding_rows(&self) -> usize {
        let first_set = self
            .cells
            .first()
            .map_or(self.steps, |&(i, _)| i as usize / self.width.max(1));
        first_set.min(self.steps.saturating_sub(1))
    }

    /// Writes rows `from..steps` into `out`, a zeroed time-major batch `[(steps - from) · batch,
    /// width]`, as sequence `slot` of `batch`: row `s` goes to out's row `(s - from) · batch +
    /// slot`.
    pub fn write_time_major(&self, from: usize, slot: usize, batch: usize, out: &mut [f32]) {
        let w = self.width.max(1);
        let start = self
            .cells
            .partition_point(|&(i, _)| (i as usize) < from * w);
        // Cells are in index order, so the row advances monotonically: no division per cell
        // (dense inputs, as in bench/lstm.sh, have thousands of cells per episode).
        let (mut row, mut row_start) = (from, from * w);
        for &(i, v) in &self.cells[start..] {
            let i = i as usize;
            while i >= row_start + w {
                row += 1;
                row_start += w;
            }
            out[((row - from) * batch + slot) * w + (i - row_start)] = v;
        }
    }
}

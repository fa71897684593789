//! DAGMan workflow generation for training sweeps (not yet built; see issue 6).

//! Reference oneM2M AE (work in progress).

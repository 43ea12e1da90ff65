//! Node runtime (in progress).

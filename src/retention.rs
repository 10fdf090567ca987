//! Retention: which segments of a partition may be deleted.

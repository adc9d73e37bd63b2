//! HNSW over dense `u32` slots (arrives with the "Vector index" issue).
//! Knows nothing of keys, disks or threads.

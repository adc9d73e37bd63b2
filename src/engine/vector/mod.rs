//! Vector-set calls, one concern per file: input checks, adds, one element's calls, what a
//! set is, search, semantic invalidation.

mod add;
mod batch;
pub use batch::MAX_SEARCH_THREADS;
mod check;
mod digest;
mod element;
mod info;
mod invalidate;
mod links;
pub use links::ElementLinks;
mod search;

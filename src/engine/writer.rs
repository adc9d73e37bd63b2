//! How a write is acknowledged: each write call appends its records through an explicit
//! [`Appends`] (what it logged and has not waited for), and its caller waits for that once.
//!
//! `Engine`'s write calls wait at once, per the sync policy. A [`Writer`] (from
//! [`Engine::deferring_durability`] or [`Engine::atomically`]) makes the same calls without
//! waiting: their acknowledgement is one [`Durability`] for all of them, for the highest LSN
//! they logged (a server pipeline of N durable writes awaits one group commit).

use super::api::Engine;
use super::dump::{Renamed, RestoreOptions, Restored};
use super::durable::Durability;
use super::filter::Filter;
use super::types::*;
use crate::error::Result;
use crate::store::Appends;

/// The write calls of an engine, made without waiting for durability: what they log is
/// remembered in the writer, and acknowledged by the [`Durability`] of the call that handed
/// it out ([`Engine::deferring_durability`]), or inside a transaction by its end
/// ([`Engine::atomically`]). Reads go through [`Writer::engine`].
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    engine: &'a Engine,
    to: &'a Appends,
}

impl<'a> Writer<'a> {
    /// The engine this writes to (for reads).
    pub fn engine(&self) -> &'a Engine {
        self.engine
    }

    /// This writer's writes made through `engine`, a value of the same engine for another
    /// database ([`Engine::select`]): acknowledged with this writer's (a pipeline that
    /// changes database midway still awaits one [`Durability`]). `InvalidArgument` when
    /// `engine` is another engine.
    pub fn with_engine<'b>(&'b self, engine: &'b Engine) -> Result<Writer<'b>> {
        if !std::sync::Arc::ptr_eq(&engine.store, &self.engine.store) {
            return Err(crate::Error::invalid(
                "engine",
                "a database of the writer's own engine",
            ));
        }
        Ok(Writer {
            engine,
            to: self.to,
        })
    }

    /// Runs `f` so that the writes it makes through the writer it is handed are logged as
    /// one WAL record (MULTI/EXEC): after a crash all of them are recovered or none. Writes
    /// are applied as `f` makes them and logged when it ends, so the caller keeps other
    /// writers off the keys `f` touches meanwhile (the server holds its transaction gate
    /// exclusively). Inside a group, `f` joins it. An error: the log refused the group, whose
    /// writes then live in memory only (the log is failed-stop until reopened). The group is
    /// acknowledged with this writer's other writes.
    pub fn atomically<R>(&self, f: impl FnOnce(&Writer<'_>) -> R) -> Result<R> {
        let engine = self.engine;
        engine
            .store
            .grouped(self.to, true, |to| f(&Writer { engine, to }))
    }
}

impl Engine {
    /// Runs `f` with a [`Writer`]: writes made through it are logged and applied as usual,
    /// but instead of each call waiting for the log's acknowledgement, the wait for all of
    /// them is returned as a [`Durability`] future. The caller must await it before
    /// acknowledging any of those writes (an async server awaits it before sending the
    /// replies; no thread blocks per write). If it fails, the writes must be reported as
    /// failed, as the blocking calls would have.
    pub fn deferring_durability<R>(&self, f: impl FnOnce(&Writer<'_>) -> R) -> (R, Durability) {
        let to = Appends::new();
        let r = f(&Writer {
            engine: self,
            to: &to,
        });
        (r, self.durability(to.lsn()))
    }

    /// Runs `f` so that the writes it makes through the [`Writer`] it is handed are logged as
    /// one WAL record (see [`Writer::atomically`]), then waits for it per the sync policy.
    #[cfg(test)]
    pub(crate) fn atomically<R>(&self, f: impl FnOnce(&Writer<'_>) -> R) -> Result<R> {
        self.acked(|to| Writer { engine: self, to }.atomically(f))
    }

    /// Runs a write body with fresh [`Appends`], then waits per the sync policy for what it
    /// logged (with no lock held): the blocking form of every write call.
    fn acked<R>(&self, body: impl FnOnce(&Appends) -> Result<R>) -> Result<R> {
        let to = Appends::new();
        let r = body(&to)?;
        self.wait_durable(to.lsn())?;
        Ok(r)
    }
}

/// Each write call twice from one body (`Engine::<name>_in`): on [`Engine`], waiting per the
/// sync policy before it returns, and on [`Writer`], not waiting.
macro_rules! write_calls {
    ($( $(#[$doc:meta])* fn $name:ident / $body:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        impl Engine {
            $(
                $(#[$doc])*
                ///
                /// Returns once the write is acknowledged per the sync policy.
                pub fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    self.acked(|to| self.$body(to, $($arg),*))
                }
            )*
        }
        impl Writer<'_> {
            $(
                #[doc = concat!("[`Engine::", stringify!($name), "`], acknowledged by the \
                    writer's [`Durability`] instead of waiting.")]
                pub fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    self.engine.$body(self.to, $($arg),*)
                }
            )*
        }
    };
}

write_calls! {
    /// Redis's HSET (and HMSET): sets fields of the hash at `key`, creating it when missing
    /// (a key whose TTL passed counts as missing); the key keeps its TTL. Returns how many
    /// fields are new. `Err(WrongType)` when the key holds another type.
    fn hset / hset_in(key: &[u8], pairs: &[(&[u8], &[u8])]) -> usize;

    /// Redis's HSETNX: sets a field only when it does not exist; true when it was set.
    fn hsetnx / hsetnx_in(key: &[u8], field: &[u8], value: &[u8]) -> bool;

    /// Redis's HDEL: removes fields (the key goes with its last one); returns how many
    /// existed.
    fn hdel / hdel_in(key: &[u8], fields: &[&[u8]]) -> usize;

    /// Redis's HINCRBY: adds `delta` to the base-10 integer a field holds (0 when missing)
    /// and returns the result. Fails with `InvalidArgument` naming `value` when the field is
    /// not an integer, `delta` when the sum would overflow; nothing changes then.
    fn hincr_by / hincr_by_in(key: &[u8], field: &[u8], delta: i64) -> i64;

    /// Redis's HINCRBYFLOAT: adds the number `delta` (its text, as Redis reads it) to the
    /// float a field holds (0 when missing) and returns the stored text (decimal, exact to 17
    /// places). Fails with `InvalidArgument` naming `increment` when `delta` is not a finite
    /// float, `value` when the field is not a float, `delta` when the sum is not finite.
    fn hincr_by_float / hincr_by_float_in(key: &[u8], field: &[u8], delta: &[u8]) -> String;

    /// Writes a blob under `key` (replacing a vector set there, as Redis's SET does).
    fn set / set_in(key: &[u8], value: &[u8], opts: SetOptions) -> SetOutcome;

    /// Reads a blob and, atomically with the read, changes its expiry or deletes it
    /// (Redis's GETEX and GETDEL: a sliding TTL refreshed on every hit is one call).
    /// `Err(WrongType)` for a vector set; `None` (nothing changed) when the key is missing.
    fn get_then / get_then_in(key: &[u8], then: GetThen) -> Option<Vec<u8>>;

    /// Redis's INCRBY (INCR, DECR, DECRBY): adds `delta` to the base-10 integer a blob holds
    /// (0 when the key is missing) and returns the result; the key keeps its TTL. Fails with
    /// `InvalidArgument` naming `value` when the blob is not an integer in i64's range, or
    /// `delta` when the sum would overflow; nothing is changed then.
    fn incr_by / incr_by_in(key: &[u8], delta: i64) -> i64;

    /// Redis's APPEND: appends `tail` to a blob (creating it when missing) and returns the
    /// new length; the key keeps its TTL.
    fn append / append_in(key: &[u8], tail: &[u8]) -> usize;

    /// Writes many blobs with the default expiry; all validated before any is written.
    fn mset / mset_in(pairs: &[(&[u8], &[u8])]) -> ();

    /// Deletes keys (blobs or whole vector sets); returns how many existed.
    fn del / del_in(keys: &[&[u8]]) -> usize;

    /// Sets the expiry of a key (relative or absolute; `Never` persists); false when the key
    /// does not exist. An expiry in the past deletes the key.
    fn expire / expire_in(key: &[u8], expiry: Expiry) -> bool;

    /// As [`Engine::expire`], only when `cond` holds for the key's current expiry, checked
    /// and applied atomically; false when the key is missing or the condition fails.
    fn expire_if / expire_if_in(key: &[u8], expiry: Expiry, cond: ExpireIf) -> bool;

    /// Removes a key's expiry; true when it had one.
    fn persist / persist_in(key: &[u8]) -> bool;

    /// Removes every key of every database (Redis's FLUSHALL; atomically: every shard is
    /// locked while the flush is logged).
    fn flush / flush_in() -> ();

    /// Removes every key of this value's database (Redis's FLUSHDB).
    fn flush_db / flush_db_in() -> ();

    /// Redis's SWAPDB: databases `a` and `b` exchange their keys, at once for every client
    /// (the keys stay where they are: the two databases exchange the keyspaces they name).
    /// `InvalidArgument` naming `db` when either is out of range.
    fn swap_db / swap_db_in(a: u32, b: u32) -> ();

    /// Redis's MOVE: moves `key` from this value's database to database `db`, keeping its
    /// value and TTL; false (nothing changed) when it is missing here or exists there.
    /// `InvalidArgument` naming `db` when out of range or this value's own database.
    fn move_key / move_key_in(key: &[u8], db: u32) -> bool;

    /// Redis's RESTORE: writes the value of a DUMP payload ([`Engine::dump`]) under `key`,
    /// as one logged group; `Restored::BusyKey` when the key exists without `replace`,
    /// `Restored::Refused` (nothing changed) for a payload that fails Redis's checks.
    fn restore / restore_in(key: &[u8], payload: &[u8], opts: RestoreOptions) -> Restored;

    /// Redis's COPY: writes a copy of `key`'s value and TTL under `dst` (in database `db`,
    /// this value's own when `None`), replacing an existing `dst` only with `replace`; false
    /// when `key` is missing or `dst` exists. One logged group. A vector set is copied as
    /// it is (storage, metric, projection, attributes, per-element TTLs).
    fn copy_key / copy_key_in(key: &[u8], dst: &[u8], db: Option<u32>, replace: bool) -> bool;

    /// Redis's RENAME (`nx`: RENAMENX): `key`'s value and TTL move to `dst`, replacing it
    /// (RENAMENX: only when `dst` does not exist). One logged group.
    fn rename / rename_in(key: &[u8], dst: &[u8], nx: bool) -> Renamed;

    /// Adds or updates one element; creates the set on first add. True when the element is
    /// new.
    fn vadd / vadd_in(key: &[u8], opts: &VectorSetOptions, add: ElementAdd<'_>) -> bool;

    /// Adds many elements at once; all validated before any is applied. Returns how many
    /// were new. With [`crate::EngineConfig::vector_dimension`] set, every vector must have
    /// that dimension.
    fn vadd_many / vadd_many_in(
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>]
    ) -> usize;

    /// Removes an element; true when it existed. An emptied set is deleted (as Redis).
    fn vrem / vrem_in(key: &[u8], element: &[u8]) -> bool;

    /// Sets (`Some(text)`, stored as given: FILTER reads it as a JSON object; an empty string
    /// clears) or clears (`None`) attributes; false when the element does not exist.
    fn vset_attr / vset_attr_in(key: &[u8], element: &[u8], json: Option<&str>) -> bool;

    /// Sets the expiry of one element (relative, absolute, or `Never`); false when it does
    /// not exist. An expiry in the past removes the element.
    fn vexpire / vexpire_in(key: &[u8], element: &[u8], expiry: Expiry) -> bool;

    /// Removes one element's expiry; true when it had one.
    fn vpersist / vpersist_in(key: &[u8], element: &[u8]) -> bool;

    /// Removes, atomically with respect to other writes to the set, every element whose
    /// score against `query` is `>= threshold` (metric units). Names come back only when
    /// `return_removed`.
    fn invalidate_similar / invalidate_similar_in(
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool
    ) -> Invalidated;

    /// As [`Engine::invalidate_similar`], removing only elements whose attributes also pass
    /// `filter` (when given): e.g. every cached embedding near a query that came from one
    /// source.
    fn invalidate_similar_where / invalidate_similar_where_in(
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool,
        filter: Option<&Filter>
    ) -> Invalidated;
}

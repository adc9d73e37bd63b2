//! The on-disk format of WAL segments, version 1.
//!
//! A WAL is a directory of *segment files*. Live segments are named
//! `wal-<first_lsn as 20 decimal digits>.seg`; recycled ones waiting for reuse are named
//! `free-<counter as 20 decimal digits>.seg` and are never read; `*.tmp` files are
//! half-created segments and are deleted on open. Every integer is little-endian.
//!
//! # Segment header (64 bytes, at offset 0)
//!
//! | offset | size | field        | meaning                                                    |
//! |-------:|-----:|--------------|------------------------------------------------------------|
//! |      0 |    8 | `magic`      | `b"SUTRAWAL"`                                              |
//! |      8 |    4 | `version`    | format version, [`FORMAT_VERSION`] (= 1)                   |
//! |     12 |    4 | `reserved`   | zero                                                       |
//! |     16 |    8 | `seed`       | random, drawn anew each time the file is (re)initialised   |
//! |     24 |    8 | `first_lsn`  | LSN of the first record in this segment (≥ 1)              |
//! |     32 |    8 | `capacity`   | size the file was pre-allocated to, in bytes               |
//! |     40 |   20 | `reserved`   | zero                                                       |
//! |     60 |    4 | `header_crc` | crc32c of bytes 0..60                                      |
//!
//! # Record (from offset 64, each record starts on an 8-byte boundary)
//!
//! | offset | size  | field     | meaning                                                   |
//! |-------:|------:|-----------|-----------------------------------------------------------|
//! |      0 |     4 | `len`     | payload length in bytes                                   |
//! |      4 |     4 | `crc`     | crc32c of `seed ‖ len ‖ lsn ‖ kind ‖ payload` (see below) |
//! |      8 |     8 | `lsn`     | log sequence number                                       |
//! |     16 |     1 | `kind`    | opaque to the WAL (the engine's record type)              |
//! |     17 | `len` | `payload` | opaque bytes                                              |
//! | 17+len |  0..7 | padding   | zero bytes up to the next multiple of 8                   |
//!
//! `crc` is computed over the 8 bytes of the segment's `seed`, then record bytes 0..4 and
//! 8..17, then the payload. Mixing the seed in means that a record left over from an earlier
//! life of a recycled file never checks out under the file's new seed, so stale bytes are
//! never replayed.
//!
//! # Invariants
//! - Within a segment, record LSNs are consecutive: the first is `first_lsn`, each next one
//!   is the previous plus one. Across segments, the next segment's `first_lsn` is the last
//!   LSN of the previous segment plus one (a missing segment is damage).
//! - A record never spans two segments; the writer starts a new segment when the next record
//!   does not fit in the rest of the current one.
//! - The log ends at the first offset where the bytes do not decode to a record that fits in
//!   the file, carries the expected LSN, and checks out under the segment's seed. Bytes past
//!   the end are zero (pre-allocated space) or stale (an earlier life of a recycled file).
//!
//! # What each step survives (the disk is assumed to honour `fdatasync` and to persist a
//! rename once the directory is fsynced; a sector write may tear)
//! - *Torn record write* (crash or power loss mid-write): the record fails its CRC; recovery
//!   stops before it, zeroes the tail from there and reports the bytes it discarded. Such a
//!   record was never acknowledged under `always`; under `interval`/`never`, acknowledged
//!   records live in the page cache and survive a process kill, not a power loss.
//! - *New segment*: created as `*.tmp`, pre-allocated, header written, fdatasynced, renamed to
//!   `wal-*.seg`, directory fsynced; a crash at any step leaves either no segment or a valid
//!   empty one. A recycled file gets its new header written and fdatasynced while still named
//!   `free-*`, then is renamed: it is never live with its old seed.
//! - *Rollover*: the old segment is fdatasynced before the first write to the new one, so a
//!   durable record never follows a lost one.
//! - *Recycling* (`truncate_before`): segments are renamed oldest first, so a crash leaves the
//!   live set a suffix of the log.
//! - *Damage below the snapshot point* (records a snapshot holds): segments wholly below
//!   `replay_from_lsn` are not read; in the segment that holds it, a record below it that
//!   does not check out is skipped and reading goes on at the next record that does, so it
//!   costs nothing.
//! - *Damage in the middle* (bit rot: valid records after a bad one, damage in a segment
//!   later ones follow — sealed segments were fdatasynced before the next one was written,
//!   so that is never a crash artefact —, a bad segment header, a segment file shorter than
//!   its pre-allocated capacity): by default ([`super::WalRecovery::Refuse`]) the open fails
//!   naming the file and offset and changes nothing; with
//!   [`super::WalRecovery::TruncateAtDamage`] recovery stops at the first bad record and
//!   everything after it, in this segment and in later ones, is reported and discarded
//!   (zeroed or recycled), so it can never come back on a later open.
//! - *Not detectable*: damage that makes the log's last records look exactly like its end
//!   (their headers zeroed, or a bit flipped in their LSN) is cut as the end of the log: a
//!   torn write looks the same. Only the last records can be lost that way. And after a
//!   power loss (not a process crash), pages written after the last fdatasync may have
//!   reached the disk out of order: valid records after an unwritten one in the last segment
//!   then look like damage in the middle, and the open refuses; what is cut with
//!   `TruncateAtDamage` there was never acknowledged under `always`.

/// `b"SUTRAWAL"`, the first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"SUTRAWAL";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header; the first record starts here.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Size of a record header (`len`, `crc`, `lsn`, `kind`), before the payload.
pub const RECORD_HEADER_BYTES: usize = 17;
/// Records start on multiples of this.
pub const RECORD_ALIGN: usize = 8;

/// The parsed header of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Random, fresh for each life of the file.
    pub seed: u64,
    /// LSN of the first record in the segment.
    pub first_lsn: u64,
    /// Bytes the file was pre-allocated to.
    pub capacity: u64,
}

/// Why a segment header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The file is shorter than a header.
    Short,
    /// The magic bytes are wrong.
    Magic,
    /// The header checksum does not match.
    Checksum,
    /// A version this code does not know.
    Version(u32),
    /// `first_lsn` is 0.
    ZeroLsn,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short => f.write_str("file shorter than the 64-byte segment header"),
            Self::Magic => f.write_str("bad magic"),
            Self::Checksum => f.write_str("header checksum mismatch"),
            Self::Version(v) => write!(f, "unknown format version {v}"),
            Self::ZeroLsn => f.write_str("first_lsn is 0"),
        }
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl SegmentHeader {
    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut b = [0u8; SEGMENT_HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.seed.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_lsn.to_le_bytes());
        b[32..40].copy_from_slice(&self.capacity.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses and checks the header at the start of `file`.
    pub fn decode(file: &[u8]) -> Result<Self, HeaderError> {
        if file.len() < SEGMENT_HEADER_BYTES {
            return Err(HeaderError::Short);
        }
        let b = &file[..SEGMENT_HEADER_BYTES];
        if b[0..8] != MAGIC {
            return Err(HeaderError::Magic);
        }
        if crc32c::crc32c(&b[0..60]) != le_u32(b, 60) {
            return Err(HeaderError::Checksum);
        }
        let version = le_u32(b, 8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let first_lsn = le_u64(b, 24);
        if first_lsn == 0 {
            return Err(HeaderError::ZeroLsn);
        }
        Ok(Self {
            seed: le_u64(b, 16),
            first_lsn,
            capacity: le_u64(b, 32),
        })
    }
}

/// Bytes a record with a `payload_len`-byte payload takes on disk, padding included.
pub fn record_size(payload_len: usize) -> usize {
    (RECORD_HEADER_BYTES + payload_len).div_ceil(RECORD_ALIGN) * RECORD_ALIGN
}

/// Appends a record to `out` with its `crc` field zero; [`seal_record`] fills it in once the
/// segment (and so the seed) is known. `out.len()` must be a multiple of [`RECORD_ALIGN`]
/// and `payload.len()` must fit in a `u32` (the caller checks).
pub fn encode_record_unsealed(out: &mut Vec<u8>, lsn: u64, kind: u8, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&lsn.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    out.resize(start + record_size(payload.len()), 0);
}

/// The checksum of a record under `seed`; `rec` starts at the record and holds at least
/// its header and payload.
pub fn record_crc(seed: u64, rec: &[u8], payload_len: usize) -> u32 {
    let crc = crc32c::crc32c(&seed.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &rec[0..4]);
    crc32c::crc32c_append(
        crc,
        &rec[8..RECORD_HEADER_BYTES + payload_len.min(rec.len() - RECORD_HEADER_BYTES)],
    )
}

/// Fills in the `crc` field of the encoded record at the start of `rec` for `seed`; returns
/// the record's size on disk. `rec` must start with a record made by
/// [`encode_record_unsealed`].
pub fn seal_record(seed: u64, rec: &mut [u8]) -> usize {
    let len = le_u32(rec, 0) as usize;
    let crc = record_crc(seed, rec, len);
    rec[4..8].copy_from_slice(&crc.to_le_bytes());
    record_size(len)
}

/// A record as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Its LSN.
    pub lsn: u64,
    /// Its kind byte.
    pub kind: u8,
    /// Its payload.
    pub payload: &'a [u8],
    /// Bytes it takes on disk, padding included.
    pub size: usize,
}

/// Why the bytes at an offset are not the next record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Fewer bytes than a record header are left.
    Short,
    /// `len` runs past the end of the file.
    LenOutOfBounds,
    /// The LSN is not the expected one.
    Lsn(u64),
    /// The checksum does not match under the segment's seed.
    Checksum,
}

/// Decodes the record at `at` in `file` (a whole segment) for `seed`, expecting `lsn`
/// (`None`: any LSN). Never panics; every length is checked against `file.len()`.
pub fn decode_record(
    file: &[u8],
    at: usize,
    seed: u64,
    expect_lsn: Option<u64>,
) -> Result<RecordView<'_>, RecordError> {
    let rest = file.get(at..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_BYTES {
        return Err(RecordError::Short);
    }
    let len = le_u32(rest, 0) as usize;
    let lsn = le_u64(rest, 8);
    if let Some(e) = expect_lsn {
        if lsn != e {
            return Err(RecordError::Lsn(lsn));
        }
    }
    if len > rest.len() - RECORD_HEADER_BYTES {
        return Err(RecordError::LenOutOfBounds);
    }
    if record_crc(seed, rest, len) != le_u32(rest, 4) {
        return Err(RecordError::Checksum);
    }
    Ok(RecordView {
        lsn,
        kind: rest[16],
        payload: &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len],
        // May exceed the file when the padding was cut off; callers clamp.
        size: record_size(len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_each_damage() {
        let h = SegmentHeader {
            seed: 0x0123_4567_89ab_cdef,
            first_lsn: 42,
            capacity: 1 << 20,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(SegmentHeader::decode(&b[..63]), Err(HeaderError::Short));
        let mut m = b;
        m[0] ^= 1;
        assert_eq!(SegmentHeader::decode(&m), Err(HeaderError::Magic));
        let mut c = b;
        c[30] ^= 1;
        assert_eq!(SegmentHeader::decode(&c), Err(HeaderError::Checksum));
    }

    #[test]
    fn record_round_trips_and_is_aligned() {
        let mut buf = vec![0u8; SEGMENT_HEADER_BYTES];
        encode_record_unsealed(&mut buf, 7, 3, b"hello");
        assert_eq!(buf.len() % RECORD_ALIGN, 0);
        let size = seal_record(99, &mut buf[SEGMENT_HEADER_BYTES..]);
        assert_eq!(size, 24);
        let r = decode_record(&buf, SEGMENT_HEADER_BYTES, 99, Some(7)).unwrap();
        assert_eq!(
            (r.lsn, r.kind, r.payload, r.size),
            (7, 3, &b"hello"[..], 24)
        );
    }

    #[test]
    fn record_under_another_seed_does_not_check_out() {
        let mut buf = Vec::new();
        encode_record_unsealed(&mut buf, 1, 0, b"stale");
        seal_record(1, &mut buf);
        assert_eq!(
            decode_record(&buf, 0, 2, Some(1)),
            Err(RecordError::Checksum)
        );
    }

    #[test]
    fn lengths_past_the_end_are_rejected_without_panicking() {
        let mut buf = Vec::new();
        encode_record_unsealed(&mut buf, 1, 0, b"abc");
        seal_record(5, &mut buf);
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_record(&buf, 0, 5, Some(1)),
            Err(RecordError::LenOutOfBounds)
        );
        assert_eq!(decode_record(&buf, 1000, 5, None), Err(RecordError::Short));
    }
}

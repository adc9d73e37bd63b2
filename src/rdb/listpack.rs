//! The packed encodings Redis saves small hashes in: listpack (Redis 7, `listpack.c`) and
//! ziplist (Redis 6, `ziplist.c`). Each is read into its entries (integers as their
//! decimal text); a hash's entries alternate field, value.

use super::{bad, Error};

/// A hash's (field, value) pairs.
pub(super) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Pairs (field, value) from a flat list of entries.
pub(super) fn pairs(entries: &[Vec<u8>]) -> Result<Pairs, Error> {
    if !entries.len().is_multiple_of(2) {
        return Err(bad("a packed hash with an odd number of entries"));
    }
    Ok(entries
        .chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

fn get(buf: &[u8], at: usize, n: usize) -> Result<&[u8], Error> {
    at.checked_add(n)
        .and_then(|end| buf.get(at..end))
        .ok_or_else(|| bad("packed entry past its end"))
}

fn int_le(b: &[u8]) -> i64 {
    // Sign-extend a little-endian integer of 1 to 8 bytes.
    let mut x = [0u8; 8];
    x[..b.len()].copy_from_slice(b);
    let v = i64::from_le_bytes(x);
    let shift = 64 - 8 * b.len() as u32;
    (v << shift) >> shift
}

/// A listpack's entries: `total_bytes:u32 count:u16 entry… 0xFF`, each entry its encoding,
/// data and back-length.
pub(super) fn listpack(lp: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let head = get(lp, 0, 6)?;
    let total = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if total != lp.len() {
        return Err(bad("listpack size does not match its header"));
    }
    let mut out = Vec::new();
    let mut p = 6;
    loop {
        let b = *lp
            .get(p)
            .ok_or_else(|| bad("listpack without its end byte"))?;
        if b == 0xFF {
            if p + 1 != lp.len() {
                return Err(bad("bytes after a listpack's end"));
            }
            break;
        }
        let (entry, enc_len): (Vec<u8>, usize) = if b & 0x80 == 0 {
            ((b & 0x7f).to_string().into_bytes(), 1)
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (get(lp, p + 1, n)?.to_vec(), 1 + n)
        } else if b & 0xE0 == 0xC0 {
            let raw =
                (u16::from(b & 0x1f) << 8) | u16::from(*get(lp, p + 1, 1)?.first().unwrap_or(&0));
            // 13-bit two's complement.
            let v = ((raw << 3) as i16) >> 3;
            (v.to_string().into_bytes(), 2)
        } else if b & 0xF0 == 0xE0 {
            let n = (usize::from(b & 0x0f) << 8) | usize::from(get(lp, p + 1, 1)?[0]);
            (get(lp, p + 2, n)?.to_vec(), 2 + n)
        } else {
            match b {
                0xF0 => {
                    let l = get(lp, p + 1, 4)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    (get(lp, p + 5, n)?.to_vec(), 5 + n)
                }
                0xF1 => (int_le(get(lp, p + 1, 2)?).to_string().into_bytes(), 3),
                0xF2 => (int_le(get(lp, p + 1, 3)?).to_string().into_bytes(), 4),
                0xF3 => (int_le(get(lp, p + 1, 4)?).to_string().into_bytes(), 5),
                0xF4 => (int_le(get(lp, p + 1, 8)?).to_string().into_bytes(), 9),
                _ => return Err(bad(format!("unknown listpack encoding {b:#x}"))),
            }
        };
        let back = match enc_len {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        get(lp, p, enc_len + back)?;
        out.push(entry);
        p += enc_len + back;
    }
    let count = u16::from_le_bytes([head[4], head[5]]);
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(bad("listpack count does not match its entries"));
    }
    Ok(out)
}

/// A ziplist's entries: `zlbytes:u32 zltail:u32 zllen:u16 entry… 0xFF`, each entry its
/// previous entry's length, its encoding and data.
pub(super) fn ziplist(zl: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let head = get(zl, 0, 10)?;
    let total = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if total != zl.len() {
        return Err(bad("ziplist size does not match its header"));
    }
    let mut out = Vec::new();
    let mut p = 10;
    loop {
        let b = *zl
            .get(p)
            .ok_or_else(|| bad("ziplist without its end byte"))?;
        if b == 0xFF {
            if p + 1 != zl.len() {
                return Err(bad("bytes after a ziplist's end"));
            }
            break;
        }
        // Previous entry length: 1 byte, or 0xFE and 4 bytes.
        p += if b == 0xFE { 5 } else { 1 };
        let e = *zl.get(p).ok_or_else(|| bad("ziplist entry past its end"))?;
        let (entry, len) = match e >> 6 {
            0 => {
                let n = usize::from(e & 0x3f);
                (get(zl, p + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(e & 0x3f) << 8) | usize::from(get(zl, p + 1, 1)?[0]);
                (get(zl, p + 2, n)?.to_vec(), 2 + n)
            }
            2 => {
                let l = get(zl, p + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (get(zl, p + 5, n)?.to_vec(), 5 + n)
            }
            _ => match e {
                0xC0 => (int_le(get(zl, p + 1, 2)?).to_string().into_bytes(), 3),
                0xD0 => (int_le(get(zl, p + 1, 4)?).to_string().into_bytes(), 5),
                0xE0 => (int_le(get(zl, p + 1, 8)?).to_string().into_bytes(), 9),
                0xF0 => (int_le(get(zl, p + 1, 3)?).to_string().into_bytes(), 4),
                0xFE => (int_le(get(zl, p + 1, 1)?).to_string().into_bytes(), 2),
                0xF1..=0xFD => ((i64::from(e & 0x0f) - 1).to_string().into_bytes(), 1),
                _ => return Err(bad(format!("unknown ziplist encoding {e:#x}"))),
            },
        };
        out.push(entry);
        p += len;
    }
    let count = u16::from_le_bytes([head[8], head[9]]);
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(bad("ziplist count does not match its entries"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lp(entries: &[&[u8]]) -> Vec<u8> {
        // Strings of up to 63 bytes and 7-bit integers, as a listpack holds them.
        let mut body = Vec::new();
        for e in entries {
            let enc: Vec<u8> = match std::str::from_utf8(e)
                .ok()
                .and_then(|s| s.parse::<u8>().ok())
            {
                Some(v) if v < 128 && v.to_string().as_bytes() == *e => vec![v],
                _ => {
                    let mut x = vec![0x80 | e.len() as u8];
                    x.extend_from_slice(e);
                    x
                }
            };
            body.extend_from_slice(&enc);
            body.push(enc.len() as u8);
        }
        let total = 6 + body.len() + 1;
        let mut out = (total as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    #[test]
    fn a_listpack_reads_strings_and_small_integers() {
        let got = listpack(&lp(&[b"name", b"7", b"x", b"hello"])).unwrap();
        assert_eq!(
            got,
            vec![
                b"name".to_vec(),
                b"7".to_vec(),
                b"x".to_vec(),
                b"hello".to_vec()
            ]
        );
        assert!(listpack(&lp(&[b"a"])[..8]).is_err());
    }

    #[test]
    fn wide_integers_keep_their_sign() {
        // 13-bit -1 and int16 -300 and int24 100000.
        let mut body = vec![0xDF, 0xFF, 2, 0xF1];
        body.extend_from_slice(&(-300i16).to_le_bytes());
        body.push(3);
        body.push(0xF2);
        body.extend_from_slice(&100000i32.to_le_bytes()[..3]);
        body.push(4);
        let mut p = ((6 + body.len() + 1) as u32).to_le_bytes().to_vec();
        p.extend_from_slice(&3u16.to_le_bytes());
        p.extend_from_slice(&body);
        p.push(0xFF);
        assert_eq!(
            listpack(&p).unwrap(),
            vec![b"-1".to_vec(), b"-300".to_vec(), b"100000".to_vec()]
        );
    }

    #[test]
    fn a_ziplist_reads_strings_and_immediate_integers() {
        // "f" (6-bit string), 5 (immediate 1111 0110).
        let body = [0u8, 0x01, b'f', 3, 0xF6];
        let mut z = ((10 + body.len() + 1) as u32).to_le_bytes().to_vec();
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&2u16.to_le_bytes());
        z.extend_from_slice(&body);
        z.push(0xFF);
        assert_eq!(ziplist(&z).unwrap(), vec![b"f".to_vec(), b"5".to_vec()]);
    }
}

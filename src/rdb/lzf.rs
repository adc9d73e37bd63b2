//! LZF decompression (liblzf's `lzf_decompress`, which Redis's `lzf_d.c` is), for strings
//! Redis saved compressed. Written here rather than taken from the `lzf` crate, which its
//! author marks deprecated; every read and back-reference is bounds-checked.

use super::{bad, Error};

/// Decompresses `data` into exactly `out_len` bytes, or refuses it.
pub(super) fn decompress(data: &[u8], out_len: usize) -> Result<Vec<u8>, Error> {
    // A payload is at most a few hundred MiB; an LZF length beyond what the data could
    // expand to (at most 33× a run of back-references, 264 bytes per 2 input bytes) is a
    // damaged length, refused before allocating.
    if out_len > data.len().saturating_mul(132).saturating_add(64) {
        return Err(bad("LZF length larger than its data can expand to"));
    }
    let mut out = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < data.len() {
        let ctrl = usize::from(data[i]);
        i += 1;
        if ctrl < 32 {
            // A literal run of ctrl + 1 bytes.
            let n = ctrl + 1;
            let run = data
                .get(i..i + n)
                .ok_or_else(|| bad("LZF literal past the data"))?;
            if out.len() + n > out_len {
                return Err(bad("LZF output longer than declared"));
            }
            out.extend_from_slice(run);
            i += n;
        } else {
            // A back-reference: length (ctrl >> 5) + 2, or 7 + next byte + 2.
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*data.get(i).ok_or_else(|| bad("LZF truncated"))?);
                i += 1;
            }
            len += 2;
            let low = usize::from(*data.get(i).ok_or_else(|| bad("LZF truncated"))?);
            i += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            if back > out.len() {
                return Err(bad("LZF back-reference before the start"));
            }
            if out.len() + len > out_len {
                return Err(bad("LZF output longer than declared"));
            }
            let start = out.len() - back;
            // Byte by byte: the reference may overlap what it produces.
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(bad("LZF output shorter than declared"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::decompress;

    #[test]
    fn literals_and_overlapping_back_references_decompress() {
        // "abc" literal, then a back-reference of length 6 at distance 3: "abcabcabc".
        let data = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&data, 9).unwrap(), b"abcabcabc");
    }

    #[test]
    fn damaged_streams_are_refused() {
        assert!(decompress(&[5, b'a'], 6).is_err());
        assert!(decompress(&[(1 << 5), 9], 3).is_err());
        assert!(decompress(&[0, b'a'], 2).is_err());
        assert!(decompress(&[0, b'a'], 1 << 30).is_err());
    }
}

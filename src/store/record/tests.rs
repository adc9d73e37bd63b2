//! Round trips and refusals of every record kind.

use super::*;

fn round_trip(r: Record<'_>) {
    let mut buf = Vec::new();
    r.encode(&mut buf);
    assert_eq!(decode(r.kind(), &buf).unwrap(), r);
    // Every truncation is refused, never a panic.
    for cut in 0..buf.len() {
        assert!(decode(r.kind(), &buf[..cut]).is_err() || cut == buf.len());
    }
}

#[test]
fn vadd_count_reads_the_set_and_the_element_count_of_a_vadd_only() {
    let add = |name| AddRec {
        name,
        vector: Cow::Owned(vec![1.0, 2.0]),
        attrs: None,
        expires_at: 0,
    };
    let params = SetParams {
        dim: 2,
        metric: Metric::L2,
        storage: StorageMode::Q8,
        m: 16,
        ef_construction: 200,
        projection: 0,
    };
    for db in [0, 3] {
        let r = Record::VAdd {
            db,
            key: b"set",
            params,
            adds: vec![add(b"a"), add(b"b"), add(b"c")],
        };
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(vadd_count(r.kind(), &buf), Some((db, &b"set"[..], 3)));
        // Cut anywhere before the count: no answer, never a panic.
        // Each element: name (4 + 1), 2 × f32, attribute tag, expiry.
        let head = buf.len() - 3 * (4 + 1 + 2 * 4 + 1 + 8);
        for cut in 0..head {
            assert_eq!(vadd_count(r.kind(), &buf[..cut]), None, "cut {cut}");
        }
    }
    let blob = Record::SetBlob {
        db: 0,
        key: b"k",
        value: b"v",
        expires_at: 0,
    };
    let mut buf = Vec::new();
    blob.encode(&mut buf);
    assert_eq!(vadd_count(blob.kind(), &buf), None);
}

#[test]
fn every_record_round_trips_and_every_truncation_is_refused() {
    round_trip(Record::SetBlob {
        db: 0,
        key: b"k",
        value: b"value",
        expires_at: 42,
    });
    round_trip(Record::DelKey { db: 0, key: b"k" });
    round_trip(Record::ExpireKey {
        db: 0,
        key: b"k",
        at: 7,
    });
    round_trip(Record::VAdd {
        db: 0,
        key: b"m",
        params: SetParams {
            dim: 3,
            metric: Metric::L2,
            storage: StorageMode::Q8,
            m: 16,
            ef_construction: 200,
            projection: 0,
        },
        adds: vec![
            AddRec {
                name: b"a",
                vector: Cow::Owned(vec![1.0, -2.5, 3.25]),
                attrs: Some(Some("{\"x\":1}")),
                expires_at: 0,
            },
            AddRec {
                name: b"b",
                vector: Cow::Owned(vec![0.0, 1.0, f32::MIN_POSITIVE]),
                attrs: Some(None),
                expires_at: 9,
            },
        ],
    });
    round_trip(Record::VAdd {
        db: 0,
        key: b"r",
        params: SetParams {
            dim: 2,
            metric: Metric::Cosine,
            storage: StorageMode::Bin,
            m: 16,
            ef_construction: 200,
            projection: 5,
        },
        adds: vec![AddRec {
            name: b"a",
            vector: Cow::Owned(vec![1.0, -2.5]),
            attrs: None,
            expires_at: 0,
        }],
    });
    round_trip(Record::VRem {
        db: 0,
        key: b"m",
        name: b"a",
    });
    round_trip(Record::VExpire {
        db: 0,
        key: b"m",
        name: b"a",
        at: 5,
    });
    round_trip(Record::VSetAttr {
        db: 0,
        key: b"m",
        name: b"a",
        attrs: Some("{}"),
    });
    round_trip(Record::VSetAttr {
        db: 0,
        key: b"m",
        name: b"a",
        attrs: None,
    });
    round_trip(Record::Flush { db: None });
    round_trip(Record::Flush { db: Some(0) });
    round_trip(Record::Flush { db: Some(15) });
    round_trip(Record::SetBlob {
        db: 9,
        key: b"k",
        value: b"v",
        expires_at: 0,
    });
    round_trip(Record::VRem {
        db: 3,
        key: b"m",
        name: b"a",
    });
    round_trip(Record::Move {
        db: 0,
        key: b"k",
        to: 4,
    });
    round_trip(Record::DbMap {
        a: 1,
        to_a: 2,
        b: 2,
        to_b: 1,
    });
    round_trip(Record::HSet {
        db: 0,
        key: b"h",
        fresh: Some(77),
        pairs: vec![(&b"f"[..], &b"v"[..]), (&b""[..], &b"empty field"[..])],
    });
    round_trip(Record::HSet {
        db: 5,
        key: b"h",
        fresh: None,
        pairs: vec![(&b"f"[..], &b"v"[..])],
    });
    round_trip(Record::HDel {
        db: 0,
        key: b"h",
        fields: vec![&b"f"[..], &b""[..]],
    });
    round_trip(Record::HDel {
        db: 15,
        key: b"h",
        fields: vec![&b"f"[..]],
    });
}

#[test]
fn a_record_in_database_0_is_written_as_before_databases_existed() {
    let mut buf = Vec::new();
    let r = Record::DelKey { db: 0, key: b"k" };
    r.encode(&mut buf);
    assert_eq!((r.kind(), &buf[..]), (2, &[1, 0, 0, 0, b'k'][..]));
    let r = Record::DelKey { db: 2, key: b"k" };
    buf.clear();
    r.encode(&mut buf);
    assert_eq!(
        (r.kind(), &buf[..]),
        (10, &[2, 0, 0, 0, 2, 1, 0, 0, 0, b'k'][..])
    );
    // A frame around a record without a database, or a frame in a frame, is refused.
    assert!(decode(10, &[1, 0, 0, 0, 9]).is_err());
    assert!(decode(10, &[1, 0, 0, 0, 10, 1, 0, 0, 0, 8]).is_err());

    // A hash record outside database 0 is framed by kind 10 around kind 13 or 14.
    let r = Record::HDel {
        db: 2,
        key: b"h",
        fields: vec![&b"f"[..]],
    };
    buf.clear();
    r.encode(&mut buf);
    assert_eq!(r.kind(), 10);
    assert_eq!(&buf[..6], &[2, 0, 0, 0, 14, 1][..]);
    assert_eq!(decode(10, &buf).unwrap(), r);
}

#[test]
fn unknown_kinds_and_garbage_are_errors() {
    assert!(decode(99, b"").is_err());
    assert!(decode(4, &[0xff; 64]).is_err());
    assert!(decode(
        1,
        &[1, 0, 0, 0, b'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]
    )
    .is_err());
}

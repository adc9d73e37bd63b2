//! The analytics query language: a small, deterministic grammar over English phrasings (the
//! seed's "Show cache hit rate for financial data in the last hour", "Which financial
//! concepts are queried most often?", "Show embedding cache performance"). No language
//! model: a phrase is read word by word, or refused with [`GRAMMAR`].

/// The grammar, as refused phrases are answered with it.
pub const GRAMMAR: &str = "\
query       := hit-rate | hot | performance
hit-rate    := [show | what is] [the] [embedding] [cache] hit rate [(for | of | on) TOPIC [data | concepts | embeddings]] [WINDOW]
hot         := which [TOPIC] (concepts | embeddings | entries) (are | were) (queried | looked up | requested | accessed) most [often | frequently] [WINDOW]
             | (top [N] | hottest | most queried) [TOPIC] (concepts | embeddings | entries) [WINDOW]
performance := [show] [the] [embedding] cache (performance | stats | statistics) [WINDOW]
WINDOW      := (in | over | for | during) [the] (last | past) [N] (second | minute | hour | day | week)[s] | today
TOPIC       := one or more words: a vector set's name (or a part of it between ':' '-' '_' '/'),
               else an attribute value (.topic, .category, .source, .domain)
Case and a final '?' or '.' are ignored; the window defaults to the last hour.";

/// What a phrase asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Hit rate, optionally for a topic.
    HitRate,
    /// The most-queried concepts (`top` of them).
    Hot {
        /// How many (default 10).
        top: usize,
    },
    /// Lookups, hit rate, latency, writes, evictions.
    Performance,
}

/// A parsed phrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// What it asks.
    pub ask: Ask,
    /// The topic words, joined by one space; `None` for the whole shard.
    pub topic: Option<String>,
    /// The window in seconds (default 3600).
    pub window_s: u64,
    /// The window as the phrase said it ("the last hour").
    pub window_text: String,
}

fn unit_seconds(w: &str) -> Option<u64> {
    Some(match w.trim_end_matches('s') {
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" | "hr" => 3_600,
        "day" => 86_400,
        "week" => 604_800,
        _ => return None,
    })
}

fn number(w: &str) -> Option<u64> {
    if let Ok(n) = w.replace(',', "").parse::<u64>() {
        return (n > 0).then_some(n);
    }
    let words = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    words
        .iter()
        .position(|&x| x == w)
        .map(|i| i as u64 + 1)
        .or((w == "a" || w == "an").then_some(1))
}

/// Removes a trailing WINDOW from `t`; returns (seconds, text) or `Err` when a window starts
/// but does not parse.
fn take_window(t: &mut Vec<String>) -> Result<(u64, String), ()> {
    if t.last().is_some_and(|w| w == "today") {
        t.pop();
        return Ok((86_400, "today".into()));
    }
    let Some(lp) = t.iter().rposition(|w| w == "last" || w == "past") else {
        return Ok((3_600, "the last hour".into()));
    };
    let rest: Vec<String> = t[lp + 1..].to_vec();
    let (n, unit) = match rest.as_slice() {
        [u] => (1, u.as_str()),
        [n, u] => (number(n).ok_or(())?, u.as_str()),
        _ => return Err(()),
    };
    let secs = unit_seconds(unit).ok_or(())?;
    let mut start = lp;
    if start > 0 && t[start - 1] == "the" {
        start -= 1;
    }
    if start > 0 && ["in", "over", "for", "during"].contains(&t[start - 1].as_str()) {
        start -= 1;
    } else {
        return Err(());
    }
    let text = if n == 1 {
        format!("the last {}", unit.trim_end_matches('s'))
    } else {
        format!("the last {n} {unit}")
    };
    t.truncate(start);
    Ok((n.checked_mul(secs).ok_or(())?, text))
}

fn strip_prefix(t: &[String], words: &[&str]) -> Option<usize> {
    (t.len() >= words.len() && t.iter().zip(words).all(|(a, b)| a == b)).then_some(words.len())
}

fn topic_of(words: &[String]) -> Result<Option<String>, ()> {
    if words.is_empty() {
        return Ok(None);
    }
    if words
        .iter()
        .any(|w| w.is_empty() || ["for", "of", "on", "the", "and", "in"].contains(&w.as_str()))
    {
        return Err(());
    }
    Ok(Some(words.join(" ")))
}

const NOUNS: [&str; 6] = [
    "concepts",
    "embeddings",
    "entries",
    "concept",
    "embedding",
    "data",
];

/// Parses a phrase; `Err(())` when it is not in [`GRAMMAR`] (the caller answers with it).
#[allow(clippy::result_unit_err)]
pub fn parse(text: &str) -> Result<Parsed, ()> {
    let lower = text.trim().trim_end_matches(['?', '.', '!']).to_lowercase();
    let mut t: Vec<String> = lower
        .split_whitespace()
        .map(|w| w.trim_matches([',', ';', '"', '\'']).to_string())
        .filter(|w| !w.is_empty())
        .collect();
    if t.is_empty() {
        return Err(());
    }
    let (window_s, window_text) = take_window(&mut t)?;
    let mut i = 0;
    for lead in [
        &["what", "is"][..],
        &["show"][..],
        &["the"][..],
        &["embedding"][..],
        &["cache"][..],
    ] {
        i += strip_prefix(&t[i..], lead).unwrap_or(0);
    }
    let rest = &t[i..];
    // hit rate
    let hr = strip_prefix(rest, &["hit", "rate"]).or_else(|| strip_prefix(rest, &["hit-rate"]));
    if let Some(n) = hr {
        let after = &rest[n..];
        let topic = match after.split_first() {
            None => None,
            Some((p, words)) if ["for", "of", "on"].contains(&p.as_str()) => {
                let words = match words.split_last() {
                    Some((last, init)) if NOUNS.contains(&last.as_str()) && !init.is_empty() => {
                        init
                    }
                    _ => words,
                };
                Some(topic_of(words)?.ok_or(())?)
            }
            _ => return Err(()),
        };
        return Ok(Parsed {
            ask: Ask::HitRate,
            topic,
            window_s,
            window_text,
        });
    }
    // performance
    if i > 0 && t[..i].iter().any(|w| w == "cache") && rest.len() == 1 {
        if ["performance", "stats", "statistics"].contains(&rest[0].as_str()) {
            return Ok(Parsed {
                ask: Ask::Performance,
                topic: None,
                window_s,
                window_text,
            });
        }
        return Err(());
    }
    // hot: "which TOPIC concepts are queried most often"
    if t.first().is_some_and(|w| w == "which") {
        let noun = t
            .iter()
            .position(|w| NOUNS[..3].contains(&w.as_str()))
            .ok_or(())?;
        let tail: Vec<&str> = t[noun + 1..].iter().map(String::as_str).collect();
        let ok = matches!(
            tail.as_slice(),
            [
                "are" | "were",
                "queried" | "requested" | "accessed",
                "most",
                ..
            ] | ["are" | "were", "looked", "up", "most", ..]
        );
        let end_ok = matches!(
            tail.last(),
            Some(&"most") | Some(&"often") | Some(&"frequently")
        ) && tail.iter().filter(|w| **w == "most").count() == 1
            && tail.len() <= 5;
        if !ok || !end_ok {
            return Err(());
        }
        return Ok(Parsed {
            ask: Ask::Hot { top: 10 },
            topic: topic_of(&t[1..noun])?,
            window_s,
            window_text,
        });
    }
    // hot: "top N TOPIC concepts", "hottest TOPIC concepts", "most queried TOPIC concepts"
    let (lead, top) = if let Some(n) = strip_prefix(&t, &["top"]) {
        match t.get(1).and_then(|w| number(w)) {
            Some(k) => (n + 1, k as usize),
            None => (n, 10),
        }
    } else if let Some(n) = strip_prefix(&t, &["hottest"]) {
        (n, 10)
    } else if let Some(n) = strip_prefix(&t, &["most", "queried"]) {
        (n, 10)
    } else {
        return Err(());
    };
    let Some((last, topic)) = t[lead..].split_last() else {
        return Err(());
    };
    if !NOUNS[..3].contains(&last.as_str()) || top > 10_000 {
        return Err(());
    }
    Ok(Parsed {
        ask: Ask::Hot { top },
        topic: topic_of(topic)?,
        window_s,
        window_text,
    })
}

/// `1234567` as `1,234,567` (the seed's sentence form).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Parsed {
        parse(s).unwrap_or_else(|()| panic!("refused: {s}"))
    }

    #[test]
    fn the_seed_phrasings_parse() {
        let a = p("Show cache hit rate for financial data in the last hour");
        assert_eq!(
            (a.ask, a.topic.as_deref(), a.window_s),
            (Ask::HitRate, Some("financial"), 3600)
        );
        let b = p("Which financial concepts are queried most often?");
        assert_eq!(
            (b.ask, b.topic.as_deref()),
            (Ask::Hot { top: 10 }, Some("financial"))
        );
        let c = p("Show embedding cache performance");
        assert_eq!((c.ask, c.topic), (Ask::Performance, None));
    }

    #[test]
    fn every_form_of_the_grammar_parses() {
        let cases: &[(&str, Ask, Option<&str>, u64)] = &[
            ("cache hit rate", Ask::HitRate, None, 3600),
            (
                "What is the hit rate of news embeddings over the past 7 days?",
                Ask::HitRate,
                Some("news"),
                7 * 86_400,
            ),
            (
                "hit rate for emb:minilm in the last 10 minutes",
                Ask::HitRate,
                Some("emb:minilm"),
                600,
            ),
            ("show the cache hit rate today", Ask::HitRate, None, 86_400),
            (
                "show cache hit rate for financial data in the last two hours",
                Ask::HitRate,
                Some("financial"),
                7200,
            ),
            (
                "top 5 financial concepts",
                Ask::Hot { top: 5 },
                Some("financial"),
                3600,
            ),
            (
                "hottest concepts in the last day",
                Ask::Hot { top: 10 },
                None,
                86_400,
            ),
            ("most queried embeddings", Ask::Hot { top: 10 }, None, 3600),
            (
                "which concepts were looked up most",
                Ask::Hot { top: 10 },
                None,
                3600,
            ),
            (
                "Which sports news entries are accessed most frequently in the last week?",
                Ask::Hot { top: 10 },
                Some("sports news"),
                604_800,
            ),
            ("cache stats", Ask::Performance, None, 3600),
            (
                "show embedding cache performance over the last 30 minutes",
                Ask::Performance,
                None,
                1800,
            ),
        ];
        for (s, ask, topic, w) in cases {
            let got = p(s);
            assert_eq!(
                (&got.ask, got.topic.as_deref(), got.window_s),
                (ask, *topic, *w),
                "{s}"
            );
        }
    }

    #[test]
    fn phrases_outside_the_grammar_are_refused() {
        for s in [
            "",
            "?",
            "delete everything",
            "show me the money",
            "hit rate for",
            "hit rate for financial data in the last fortnight",
            "hit rate in the last 0 hours",
            "hit rate financial",
            "which concepts are queried least often",
            "which concepts",
            "top financial",
            "cache performance and more",
            "show cache hit rate for the data",
        ] {
            assert!(parse(s).is_err(), "accepted: {s}");
        }
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(441), "441");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}

//! MQTT topic names and topic filters (MQTT 3.1.1 4.7): validity, matching — including the
//! rule that a filter starting with a wildcard does not match `$` topics (4.7.2) — and filter
//! inclusion. The one matcher of the project: the gatekeeper's policy and faults, the engine's
//! subscription checks and the SUT readiness probe all use it.

/// A valid MQTT topic name: non-empty, no wildcards (MQTT 3.1.1 4.7.1, 4.7.3).
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// A valid MQTT topic filter: non-empty; `#` only as the whole last level; `+` only as a whole
/// level (MQTT 3.1.1 4.7.1).
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, l)| match *l {
        "#" => i == last,
        "+" => true,
        l => !l.contains(['+', '#']),
    })
}

fn is_wildcard(level: &str) -> bool {
    level == "+" || level == "#"
}

/// Whether topic name `topic` matches `filter` (MQTT 3.1.1 4.7), including the rule that a
/// filter starting with a wildcard does not match topics starting with `$` (4.7.2).
pub fn topic_matches(topic: &str, filter: &str) -> bool {
    if !valid_filter(filter) {
        return false;
    }
    let t: Vec<&str> = topic.split('/').collect();
    let f: Vec<&str> = filter.split('/').collect();
    let dollar = topic.starts_with('$');
    for (i, fl) in f.iter().enumerate() {
        match *fl {
            "#" => return !(i == 0 && dollar),
            "+" => {
                if i >= t.len() || (i == 0 && dollar) {
                    return false;
                }
            }
            lit => {
                if t.get(i) != Some(&lit) {
                    return false;
                }
            }
        }
    }
    t.len() == f.len()
}

/// Whether every topic matched by filter `sub` is also matched by filter `sup`.
///
/// Level by level: a `#` in `sup` covers everything from there on (including its parent level,
/// as `a/#` matches `a`); a `+` in `sup` covers a `+` or a literal in `sub`; a literal only
/// covers the same literal. A `#` or `+` in `sub` facing a literal, or `sub` being longer or
/// shorter than a `sup` without `#`, means `sub` reaches topics `sup` does not. The `$` rule of
/// 4.7.2 applies: a wildcard first level of `sup` does not cover a `$`-literal first level.
pub fn filter_is_subset(sub: &str, sup: &str) -> bool {
    if !valid_filter(sub) || !valid_filter(sup) {
        return false;
    }
    let a: Vec<&str> = sub.split('/').collect();
    let b: Vec<&str> = sup.split('/').collect();
    let dollar_first = a
        .first()
        .is_some_and(|l| !is_wildcard(l) && l.starts_with('$'));
    for i in 0.. {
        match (a.get(i), b.get(i)) {
            (_, Some(&"#")) => return !(i == 0 && dollar_first),
            (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            // `#` in `sub` reaches topics ending right here (as `a/#` matches `a`), which only a
            // `#` in `sup` covers — except at the first level, where no topic ends, so `+/#`
            // covers `#` too.
            (Some(&"#"), Some(&"+")) if i == 0 => return b.len() == 2 && b[1] == "#",
            (Some(&"#"), Some(_)) => return false,
            (Some(&"+"), Some(&bl)) => {
                if bl != "+" {
                    return false;
                }
            }
            (Some(&al), Some(&bl)) => {
                if bl == "+" {
                    if i == 0 && dollar_first {
                        return false;
                    }
                } else if al != bl {
                    return false;
                }
            }
        }
    }
    // `0..` is unbounded; the loop always returns.
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_validity() {
        for ok in [
            "a",
            "a/b",
            "+",
            "#",
            "a/+/c",
            "a/#",
            "/oneM2M/req/+/x",
            "+/+",
            "a//b",
            "/",
        ] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a+/b", "#/a", "a/b+", "a/+b"] {
            assert!(!valid_filter(bad), "{bad}");
        }
        assert!(valid_topic("/oneM2M/req/a/b/json"));
        assert!(!valid_topic("a/+"));
        assert!(!valid_topic(""));
    }

    #[test]
    fn topic_matching() {
        assert!(topic_matches("a/b", "a/b"));
        assert!(topic_matches("a/b", "a/+"));
        assert!(topic_matches("a/b", "+/+"));
        assert!(topic_matches("a/b", "#"));
        assert!(topic_matches("a", "a/#"));
        assert!(topic_matches("a/b/c", "a/#"));
        assert!(topic_matches("/oneM2M/req/x/y/json", "/oneM2M/req/+/y/#"));
        assert!(topic_matches("/oneM2M/req/x/y", "/oneM2M/req/+/y/#"));
        assert!(!topic_matches("a/b/c", "a/+"));
        assert!(!topic_matches("a", "a/+"));
        assert!(!topic_matches("b/a", "a/#"));
        assert!(!topic_matches("/oneM2M/req/x/z", "/oneM2M/req/+/y"));
        assert!(
            topic_matches("/a", "+/a"),
            "the empty first level matches +"
        );
        assert!(!topic_matches("$SYS/x", "#"));
        assert!(!topic_matches("$SYS/x", "+/x"));
        assert!(topic_matches("$SYS/x", "$SYS/#"));
    }

    #[test]
    fn filter_subset() {
        let yes = [
            ("a/b", "a/b"),
            ("a/b", "a/+"),
            ("a/+", "a/+"),
            ("a/+", "a/#"),
            ("a/#", "a/#"),
            ("a", "a/#"),
            ("a/b/c/#", "a/#"),
            ("a/+/c", "a/+/#"),
            ("#", "#"),
            ("#", "+/#"),
            ("+/#", "#"),
            ("+/x", "#"),
            ("+", "+"),
            ("/oneM2M/req/+/cse", "/oneM2M/req/+/cse/#"),
            ("/oneM2M/req/+/cse/#", "/oneM2M/req/+/cse/#"),
            ("/oneM2M/req/+/cse/json", "/oneM2M/req/+/cse/#"),
            ("/oneM2M/req/ae1/cse", "/oneM2M/req/+/cse/#"),
            ("$SYS/a", "$SYS/#"),
        ];
        for (a, b) in yes {
            assert!(filter_is_subset(a, b), "{a} ⊆ {b}");
        }
        let no = [
            ("a/+", "a/b"),
            ("a/#", "a/+"),
            ("a/#", "a/+/#"),
            ("a/#", "a"),
            ("a/b/c", "a/+"),
            ("a", "a/+"),
            ("#", "a/#"),
            ("#", "+/+/#"),
            ("#", "+"),
            ("+", "a"),
            ("+/b", "a/+"),
            ("b/#", "a/#"),
            ("/oneM2M/req/+/+", "/oneM2M/req/+/cse/#"),
            ("/oneM2M/req/#", "/oneM2M/req/+/cse/#"),
            ("/oneM2M/resp/ae/#", "/oneM2M/resp/ae/cse/#"),
            ("$SYS/a", "#"),
            ("$SYS/a", "+/a"),
            ("a/#/b", "#"),
            ("a", "a/#/b"),
        ];
        for (a, b) in no {
            assert!(!filter_is_subset(a, b), "{a} ⊄ {b}");
        }
    }

    /// Subset must agree with matching: if sub ⊆ sup, every sample topic matched by sub is
    /// matched by sup; if not, some sample topic shows the difference.
    #[test]
    fn filter_subset_agrees_with_matching_on_samples() {
        let filters = [
            "a", "a/b", "a/+", "a/#", "+", "+/b", "#", "a/+/c", "+/+", "a/b/#", "+/#", "b", "a/b/c",
        ];
        let topics = [
            "a", "b", "a/b", "a/c", "b/b", "a/b/c", "a/x/c", "a/b/c/d", "x", "x/y/z", "a/", "/a",
            "/",
        ];
        for sub in filters {
            for sup in filters {
                let by_samples = topics
                    .iter()
                    .all(|t| !topic_matches(t, sub) || topic_matches(t, sup));
                if filter_is_subset(sub, sup) {
                    assert!(by_samples, "{sub} ⊆ {sup} but a sample disagrees");
                } else {
                    assert!(!by_samples, "{sub} ⊄ {sup} yet no sample shows it");
                }
            }
        }
    }

    #[test]
    fn onem2m_request_filters() {
        assert!(topic_matches(
            "/oneM2M/req/Cae/id-in/json",
            "/oneM2M/req/+/id-in/#"
        ));
        assert!(topic_matches(
            "/oneM2M/req/Cae/id-in",
            "/oneM2M/req/+/id-in/#"
        ));
        assert!(!topic_matches(
            "/oneM2M/req/Cae/id-in/json",
            "/oneM2M/req/+/id-in"
        ));
        assert!(!topic_matches("/oneM2M/req/id-in", "/oneM2M/req/+/id-in"));
    }
}

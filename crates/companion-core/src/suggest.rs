//! "Did you mean" suggestions for mistyped names.

/// Returns the candidate closest to `input`, if one is close enough to be a likely typo.
///
/// Closeness is the Levenshtein distance, case-insensitive, allowing about one edit per three
/// characters (at least one), so `linaer` finds `linear` but `slack` finds nothing.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let needle = input.to_lowercase();
    let budget = (needle.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(&needle, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two strings, by characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_but_not_strangers() {
        let names = ["linear", "github", "notion"];
        assert_eq!(did_you_mean("linaer", names), Some("linear"));
        assert_eq!(did_you_mean("GitHub", names), Some("github"));
        assert_eq!(did_you_mean("slack", names), None);
        assert_eq!(did_you_mean("x", names), None);
        assert_eq!(did_you_mean("anything", []), None);
    }

    #[test]
    fn distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}

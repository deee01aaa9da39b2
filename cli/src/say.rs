//! How the CLI words what it reports: counts with their noun in the right number.

/// `n` and its noun: `1 file`, `2 files`, `0 files`.
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn nouns_agree_with_their_counts() {
        assert_eq!(count(0, "file", "files"), "0 files");
        assert_eq!(count(1, "file", "files"), "1 file");
        assert_eq!(count(2, "file", "files"), "2 files");
        assert_eq!(count(1, "index", "indexes"), "1 index");
        assert_eq!(
            count(1, "index fingerprint", "index fingerprints"),
            "1 index fingerprint"
        );
    }
}

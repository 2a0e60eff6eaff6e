//! [`Glob`]: the shell-style wildcard patterns of the `pattern=` query parameter (link titles, attribute
//! names, domain names), matched in O(name × pattern) time at worst.
//!
//! Syntax, as Python's `fnmatch`: `*` (any run of characters), `?` (any one character), `[abc]`, `[a-z]`
//! and `[!x]` / `[^x]` (negated) classes; a `]` right after the opening `[` (or `[!`) is a member, and a `[`
//! without a closing `]` is a literal `[`. Every other character matches itself.
//!
//! A recursive matcher backtracks into every earlier `*` and takes exponential time on a pattern such as
//! `*a*a*a*a*a*ab`; here the pattern is compiled once and matched greedily, going back only to the last `*`
//! seen. That is enough because every other token matches exactly one character: a later `*` can absorb
//! whatever an earlier one would have.

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters, also empty.
    Star,
    /// `?`: any one character.
    Any,
    /// A character matching itself.
    Char(char),
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        /// `[!...]` or `[^...]`.
        negated: bool,
        /// Members as inclusive ranges (`a` is `a..=a`).
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// True when this one-character token matches `c` (never called for `Star`).
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Star | Token::Any => true,
            Token::Char(p) => *p == c,
            Token::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated,
        }
    }
}

/// A compiled `pattern=` glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`. Every string is a valid pattern (a lone `[` is a literal).
    pub fn new(pattern: &str) -> Glob {
        let p: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < p.len() {
            let token = match p[i] {
                '*' => Token::Star,
                '?' => Token::Any,
                '[' => match parse_class(&p[i..]) {
                    Some((class, len)) => {
                        i += len;
                        tokens.push(class);
                        continue;
                    }
                    None => Token::Char('['),
                },
                c => Token::Char(c),
            };
            // Runs of `*` mean the same as one.
            if !(token == Token::Star && tokens.last() == Some(&Token::Star)) {
                tokens.push(token);
            }
            i += 1;
        }
        Glob { tokens }
    }

    /// True when the whole of `name` matches the pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.matches_counting(name, &mut 0)
    }

    /// [`Glob::matches`], adding the number of loop steps taken to `steps` (for the tests of its cost).
    fn matches_counting(&self, name: &str, steps: &mut usize) -> bool {
        let name: Vec<char> = name.chars().collect();
        let t = &self.tokens;
        let (mut p, mut n) = (0, 0);
        // After the last `*` seen: the token after it, and where in `name` that token was last tried.
        let mut resume: Option<(usize, usize)> = None;
        while n < name.len() {
            *steps += 1;
            match t.get(p) {
                Some(Token::Star) => {
                    resume = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                Some(tok) if tok.matches(name[n]) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            // Mismatch: let the last `*` absorb one more character, or fail when there was none.
            match resume {
                Some((after_star, tried)) => {
                    resume = Some((after_star, tried + 1));
                    p = after_star;
                    n = tried + 1;
                }
                None => return false,
            }
        }
        t[p..].iter().all(|tok| *tok == Token::Star)
    }
}

/// Parses the class at the start of `p` (which begins with `[`): the token and how many characters it
/// spans, or `None` when no `]` closes it.
fn parse_class(p: &[char]) -> Option<(Token, usize)> {
    let mut i = 1;
    let negated = matches!(p.get(1), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            ranges.push((p[i], p[i + 2]));
            i += 3;
        } else {
            ranges.push((p[i], p[i]));
            i += 1;
        }
    }
    None
}

/// True when `name` matches `pattern` (compiles the pattern each call; use [`Glob`] to match many names).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    Glob::new(pattern).matches(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_classes() {
        assert!(glob_match("*.h5", "a.h5"));
        assert!(!glob_match("*.h5", "a.h5x"));
        assert!(glob_match("s?ft", "soft"));
        assert!(!glob_match("s?ft", "sft"));
        assert!(glob_match("[a-c]*", "beta"));
        assert!(!glob_match("[!a-c]*", "beta"));
        assert!(glob_match("[^a-c]*", "delta"));
        assert!(glob_match("x[", "x["));
        assert!(glob_match("*", ""));
        assert!(!glob_match("", "a"));
        assert!(glob_match("", ""));
        assert!(glob_match("attr*", "attr1"));
        assert!(glob_match("a?tr[0-9]", "attr1"));
        assert!(!glob_match("b*", "attr1"));
        assert!(!glob_match("a", "ab"));
        assert!(glob_match("[ac]", "c"));
        assert!(!glob_match("[ac]", "b"));
        assert!(glob_match("[ab]*", "b.h5"));
    }

    #[test]
    fn class_edge_cases() {
        // `]` first in a class is a member; `-` last is a member.
        assert!(glob_match("[]a]", "]"));
        assert!(glob_match("[!]]", "x"));
        assert!(!glob_match("[!]]", "]"));
        assert!(glob_match("[a-]", "-"));
        // An unclosed class is a literal `[`.
        assert!(glob_match("[ab", "[ab"));
        assert!(!glob_match("[ab", "a"));
        // Non-ASCII names are matched by character.
        assert!(glob_match("?ber", "über"));
        assert!(glob_match("*é", "café"));
    }

    #[test]
    fn stars_backtrack_to_the_last_star_only() {
        assert!(glob_match("*a*b", "xxaxxb"));
        assert!(glob_match("a*b*c", "abbbc"));
        assert!(glob_match("a*b*c", "abcbc"));
        assert!(!glob_match("a*b*c", "abcb"));
        assert!(glob_match("**a**", "bab"));
        assert!(glob_match("*?", "x"));
        assert!(!glob_match("*?", ""));
        assert!(glob_match("*aab", "aaab"));
    }

    #[test]
    fn hostile_pattern_costs_at_most_name_times_pattern() {
        let pattern = format!("{}b", "*a".repeat(30));
        let glob = Glob::new(&pattern);
        let name_len = 41;
        let mut steps = 0;
        let mut matched = 0;
        for i in 0..10_000 {
            // 41 characters, mostly `a`, none ending in `b`: every name fails, after trying hard.
            let name: String = (0..name_len).map(|k| if (i + k) % 17 == 0 { 'c' } else { 'a' }).collect();
            let mut s = 0;
            matched += usize::from(glob.matches_counting(&name, &mut s));
            assert!(s <= (name_len + 1) * (pattern.len() + 1), "{s} steps for {name}");
            steps += s;
        }
        assert_eq!(matched, 0);
        assert!(steps > 0);
        // And a name that does match.
        assert!(glob.matches(&format!("{}b", "a".repeat(40))));
    }
}

//! The fuzzy `/` filter (fuzzy-matcher's skim algorithm) over the rows of the focused list.
//!
//! Owns the matching only: given the row texts of a list (cached by the caller in
//! [`FilterState::haystack`](crate::app::state::FilterState) so a keystroke never rebuilds them)
//! and a query, it returns the matching rows best first with the matched char positions for
//! highlighting. When the new query extends the previous one, only the previous matches can
//! still match (a subsequence of the longer query is a subsequence of the shorter one), so
//! [`Matcher::refine`] re-scores just those — this is what keeps a keystroke over 100k rows within
//! a frame. Called by `update` and by `benches/tui_filter.rs`; depends on nothing but
//! fuzzy-matcher (no state, no UI crates).

use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;

/// A matching row: its index in the unfiltered list and the matched char positions in its text.
pub type Match = (usize, Vec<usize>);

/// The skim matcher with smart case (a query with an upper-case letter matches case-sensitively).
pub struct Matcher {
    inner: SkimMatcherV2,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher::new()
    }
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Matcher(skim v2, smart case)")
    }
}

impl Matcher {
    pub fn new() -> Matcher {
        Matcher {
            inner: SkimMatcherV2::default().smart_case(),
        }
    }

    /// Every row matching `query`, best score first, ties in row order. An empty (or all-blank)
    /// query matches every row in order with nothing highlighted.
    pub fn filter(&self, rows: &[String], query: &str) -> Vec<Match> {
        let query = query.trim();
        if query.is_empty() {
            return (0..rows.len()).map(|i| (i, Vec::new())).collect();
        }
        self.score(rows, query, 0..rows.len())
    }

    /// Like [`filter`](Self::filter), but only `previous` (the matches of `previous_query`) are
    /// re-scored when `query` extends `previous_query`; otherwise a full pass.
    pub fn refine(
        &self,
        rows: &[String],
        previous_query: &str,
        previous: &[Match],
        query: &str,
    ) -> Vec<Match> {
        if extends(previous_query, query) {
            let q = query.trim();
            if q.is_empty() {
                return self.filter(rows, query);
            }
            self.score(rows, q, previous.iter().map(|(row, _)| *row))
        } else {
            self.filter(rows, query)
        }
    }

    fn score(
        &self,
        rows: &[String],
        query: &str,
        candidates: impl Iterator<Item = usize>,
    ) -> Vec<Match> {
        let mut scored: Vec<(i64, usize, Vec<usize>)> = candidates
            .filter_map(|row| {
                let text = rows.get(row)?;
                self.inner
                    .fuzzy_indices(text, query)
                    .map(|(score, positions)| (score, row, positions))
            })
            .collect();
        // Best score first; equal scores keep the list's order (the row index breaks ties, so the
        // result doesn't depend on the order candidates came in).
        scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, row, pos)| (row, pos)).collect()
    }
}

/// `query` only narrows `previous`: the previous query was not blank (a blank one matched every
/// row unscored, nothing to reuse) and the new one starts with it. Smart case is fine: an added
/// upper-case letter makes matching case-sensitive, which also only narrows.
fn extends(previous: &str, query: &str) -> bool {
    let p = previous.trim();
    !p.is_empty() && query.trim_start().starts_with(p)
}

/// One-shot convenience over a fresh [`Matcher`]: every row matching `query`, best first.
pub fn filter(rows: &[String], query: &str) -> Vec<Match> {
    Matcher::new().filter(rows, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn empty_query_keeps_every_row_in_order() {
        let r = rows(&["b", "a", "c"]);
        assert_eq!(filter(&r, ""), vec![(0, vec![]), (1, vec![]), (2, vec![])]);
        assert_eq!(filter(&r, "   ").len(), 3);
    }

    #[test]
    fn matches_are_best_first_with_positions() {
        let r = rows(&["Tomorrow Never Knows", "Morning Glory", "Lemon", "Moran"]);
        let m = filter(&r, "morn");
        let found: Vec<usize> = m.iter().map(|(i, _)| *i).collect();
        // "Morning Glory" matches "morn" contiguously at the start: best.
        assert_eq!(found[0], 1);
        assert!(!found.contains(&2), "Lemon has no m-o-r-n subsequence");
        assert_eq!(m[0].1, vec![0, 1, 2, 3]);
        // Positions are char indices into the row's text.
        for (row, pos) in &m {
            let chars: Vec<char> = r[*row].to_lowercase().chars().collect();
            let picked: String = pos.iter().map(|&p| chars[p]).collect();
            assert_eq!(picked, "morn");
        }
    }

    #[test]
    fn ties_keep_row_order() {
        let r = rows(&["abc", "xyz", "abc", "abc"]);
        let m = filter(&r, "abc");
        assert_eq!(m.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 2, 3]);
    }

    #[test]
    fn smart_case() {
        let r = rows(&["Daft Punk", "daft punk"]);
        assert_eq!(filter(&r, "daft").len(), 2);
        assert_eq!(
            filter(&r, "Daft").iter().map(|m| m.0).collect::<Vec<_>>(),
            vec![0]
        );
    }

    #[test]
    fn refine_equals_a_full_pass() {
        let r: Vec<String> = (0..500)
            .map(|i| format!("track {i} morning {} mor{}", i % 7, i % 13))
            .chain(["Morning has broken".to_string(), "more".to_string()])
            .collect();
        let m = Matcher::new();
        let mut prev_q = String::new();
        let mut prev = m.filter(&r, "");
        for q in ["m", "mo", "mor", "morn", "morni", "mor", "x", "xyz"] {
            let refined = m.refine(&r, &prev_q, &prev, q);
            assert_eq!(refined, m.filter(&r, q), "query {q:?} after {prev_q:?}");
            prev_q = q.to_string();
            prev = refined;
        }
    }

    #[test]
    fn non_ascii_rows_do_not_panic_and_positions_are_chars() {
        let r = rows(&["Sigur Rós — Hoppípolla", "Björk"]);
        let m = filter(&r, "hop");
        assert_eq!(m.len(), 1);
        let chars: Vec<char> = r[0].chars().collect();
        assert!(m[0].1.iter().all(|&p| p < chars.len()));
    }
}

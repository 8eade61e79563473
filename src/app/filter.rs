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
            // In row order: the row texts are then read front to back (in match order they
            // are scattered over memory, and cache misses cost more than this sort).
            let mut candidates: Vec<usize> = previous.iter().map(|(row, _)| *row).collect();
            candidates.sort_unstable();
            self.score(rows, q, candidates.into_iter())
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
        // (score, row) packed in one u64 that sorts best first, ties by row: sorting plain
        // integers is several times faster than sorting (score, row, positions) tuples.
        let key = |score: i64, row: usize| -> u64 {
            let s = score.clamp(i32::MIN as i64 + 1, i32::MAX as i64) as i32;
            ((i32::MAX as i64 - s as i64) as u64) << 32 | row as u64
        };
        let mut keys: Vec<u64> = match Pattern::new(query) {
            Some(pattern) => candidates
                .filter_map(|row| Some(key(pattern.score(rows.get(row)?)?, row)))
                .collect(),
            None => candidates
                .filter_map(|row| Some(key(self.inner.fuzzy_match(rows.get(row)?, query)?, row)))
                .collect(),
        };
        keys.sort_unstable();
        let row_of = |k: u64| (k & 0xffff_ffff) as usize;
        // What a screen shows gets skim's full alignment (its best score and positions), and is
        // ordered by it. The linear pre-ranking only decides which rows make this top.
        let top = EXACT_TOP.min(keys.len());
        let mut head: Vec<(i64, usize, Vec<usize>)> = keys[..top]
            .iter()
            .map(|&k| {
                let row = row_of(k);
                let (score, positions) = rows
                    .get(row)
                    .and_then(|text| self.inner.fuzzy_indices(text, query))
                    .unwrap_or((i64::MIN, Vec::new()));
                (score, row, positions)
            })
            .collect();
        head.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<Match> = Vec::with_capacity(keys.len());
        out.extend(head.into_iter().map(|(_, row, pos)| (row, pos)));
        out.extend(keys[top..].iter().map(|&k| (row_of(k), Vec::new())));
        out
    }

    /// Fills in the highlight positions of `matches[range]` that are still empty. Only the top
    /// [`EXACT_TOP`] matches come with positions (a position list per row for 100k rows is most
    /// of a keystroke's allocations); callers fill the window around the selection as it moves.
    pub fn fill_positions(
        &self,
        rows: &[String],
        query: &str,
        matches: &mut [Match],
        range: std::ops::Range<usize>,
    ) {
        let query = query.trim();
        if query.is_empty() {
            return;
        }
        let end = range.end.min(matches.len());
        let start = range.start.min(end);
        for (row, positions) in &mut matches[start..end] {
            if positions.is_empty() {
                if let Some((_, p)) = rows
                    .get(*row)
                    .and_then(|text| self.inner.fuzzy_indices(text, query))
                {
                    *positions = p;
                }
            }
        }
    }
}

/// Matches ranked with skim's full (quadratic) alignment: enough for a tall screen plus the
/// rows a few PageDowns reach.
pub const EXACT_TOP: usize = 256;

/// An ASCII query prepared for the linear pass. Skim's full alignment costs microseconds per
/// row, too much for 100k rows in a frame; this pass is a byte scan in the spirit of skim's own
/// `simple_match` (fzf's v1): the leftmost match's end, the tightest window ending there, and
/// skim's scoring rules (match score, case-mismatch penalty, head/camel/break bonuses,
/// consecutive bonus, affine gap penalty) along it.
struct Pattern {
    /// Lower-cased unless case-sensitive.
    folded: Vec<u8>,
    /// As typed (for the case-mismatch penalty).
    typed: Vec<u8>,
    case_sensitive: bool,
}

const SCORE_MATCH: i64 = 16;
const GAP_START: i64 = -3;
const GAP_EXTENSION: i64 = -1;
const BONUS_HEAD: i64 = SCORE_MATCH / 2;
const BONUS_BREAK: i64 = SCORE_MATCH / 2 + GAP_EXTENSION;
const BONUS_CAMEL: i64 = SCORE_MATCH / 2 + 2 * GAP_EXTENSION;
const BONUS_CONSECUTIVE: i64 = -(GAP_START + GAP_EXTENSION);
const PENALTY_CASE_MISMATCH: i64 = GAP_EXTENSION * 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ByteType {
    Empty,
    Upper,
    Lower,
    Number,
    HardSep,
    SoftSep,
}

fn byte_type(b: u8) -> ByteType {
    match b {
        b' ' | b'/' | b'\\' | b'|' | b'(' | b')' | b'[' | b']' | b'{' | b'}' => ByteType::HardSep,
        b'!'..=b'\'' | b'*'..=b'.' | b':'..=b'@' | b'^'..=b'`' | b'~' => ByteType::SoftSep,
        b'0'..=b'9' => ByteType::Number,
        b'A'..=b'Z' => ByteType::Upper,
        // Lower-case letters and every byte of a non-ASCII char count as letters.
        _ => ByteType::Lower,
    }
}

fn in_place_bonus(prev: ByteType, cur: ByteType) -> i64 {
    match (prev, cur) {
        (ByteType::Empty, _) | (ByteType::HardSep, _) => BONUS_HEAD,
        (ByteType::SoftSep, _) => BONUS_BREAK,
        (ByteType::Lower, ByteType::Upper) | (ByteType::Number, ByteType::Upper) => BONUS_CAMEL,
        _ => 0,
    }
}

impl Pattern {
    /// `None` for a query with non-ASCII chars (those rows go through skim itself).
    fn new(query: &str) -> Option<Pattern> {
        if !query.is_ascii() || query.is_empty() {
            return None;
        }
        let case_sensitive = query.bytes().any(|b| b.is_ascii_uppercase());
        let typed = query.as_bytes().to_vec();
        let folded = if case_sensitive {
            typed.clone()
        } else {
            query.to_ascii_lowercase().into_bytes()
        };
        Some(Pattern {
            folded,
            typed,
            case_sensitive,
        })
    }

    #[inline]
    fn fold(&self, b: u8) -> u8 {
        if self.case_sensitive {
            b
        } else {
            b.to_ascii_lowercase()
        }
    }

    /// The score of `text`, or `None` when the query isn't a subsequence of it.
    fn score(&self, text: &str) -> Option<i64> {
        let t = text.as_bytes();
        let p = &self.folded;
        // The leftmost match's end.
        let mut j = 0;
        let mut first = 0;
        let mut end = None;
        for (i, &b) in t.iter().enumerate() {
            if self.fold(b) == p[j] {
                if j == 0 {
                    first = i;
                }
                j += 1;
                if j == p.len() {
                    end = Some(i);
                    break;
                }
            }
        }
        let end = end?;
        // The tightest window ending there.
        let mut k = p.len();
        let mut start = first;
        for i in (first..=end).rev() {
            if self.fold(t[i]) == p[k - 1] {
                k -= 1;
                if k == 0 {
                    start = i;
                    break;
                }
            }
        }
        // Skim's scoring along the window.
        let mut score = 0i64;
        let mut in_gap = false;
        let mut prev_bonus = 0i64;
        let mut prev_type = if start == 0 {
            ByteType::Empty
        } else {
            byte_type(t[start - 1])
        };
        let mut j = 0;
        for &b in &t[start..=end] {
            if j == p.len() {
                break;
            }
            let cur_type = byte_type(b);
            let bonus = in_place_bonus(prev_type, cur_type);
            if self.fold(b) == p[j] {
                score += SCORE_MATCH;
                if !self.case_sensitive && b != self.typed[j] {
                    score += PENALTY_CASE_MISMATCH;
                }
                let consecutive = prev_bonus.max(bonus.max(BONUS_CONSECUTIVE));
                prev_bonus = consecutive;
                if !in_gap {
                    score += consecutive;
                }
                in_gap = false;
                j += 1;
            } else {
                if !in_gap {
                    score += GAP_START;
                }
                score += GAP_EXTENSION;
                in_gap = true;
                prev_bonus = 0;
            }
            prev_type = cur_type;
        }
        Some(score)
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
    fn linear_pass_matches_the_same_rows_as_skim() {
        let skim = SkimMatcherV2::default().smart_case();
        let rows = rows(&[
            "Morning Glory · Oasis",
            "tomorrow never knows",
            "MORE",
            "m-o-r-n",
            "Sigur Rós · Hoppípolla",
            "Björk · Army of Me",
            "",
            "zzz",
            "HTTP/2 (live) [remaster]",
        ]);
        for q in [
            "m", "mo", "Mor", "morn", "MORE", "rs", "ós", "army", "h2", "p", "(l", "x",
        ] {
            for (i, text) in rows.iter().enumerate() {
                let fast = Pattern::new(q).and_then(|p| p.score(text));
                let slow = skim.fuzzy_indices(text, q);
                if Pattern::new(q).is_some() {
                    assert_eq!(fast.is_some(), slow.is_some(), "{q:?} in row {i} {text:?}");
                }
            }
        }
    }

    #[test]
    fn the_top_is_ranked_by_skim_itself() {
        let skim = SkimMatcherV2::default().smart_case();
        let r = rows(&["a_b_c_abc", "xabc", "abc", "a b c", "aXbXc"]);
        let m = filter(&r, "abc");
        let mut want: Vec<(i64, usize)> = r
            .iter()
            .enumerate()
            .filter_map(|(i, t)| skim.fuzzy_match(t, "abc").map(|s| (s, i)))
            .collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(
            m.iter().map(|x| x.0).collect::<Vec<_>>(),
            want.iter().map(|x| x.1).collect::<Vec<_>>()
        );
        for (row, pos) in &m {
            assert_eq!(
                Some(pos.clone()),
                skim.fuzzy_indices(&r[*row], "abc").map(|x| x.1)
            );
        }
    }

    #[test]
    fn positions_beyond_the_top_are_filled_on_demand() {
        let r: Vec<String> = (0..EXACT_TOP + 50)
            .map(|i| format!("row {i} abc"))
            .collect();
        let m = Matcher::new();
        let mut found = m.filter(&r, "abc");
        assert_eq!(found.len(), r.len());
        assert!(found[..EXACT_TOP].iter().all(|(_, p)| p.len() == 3));
        assert!(found[EXACT_TOP..].iter().all(|(_, p)| p.is_empty()));
        m.fill_positions(&r, "abc", &mut found, EXACT_TOP..EXACT_TOP + 10);
        assert!(found[EXACT_TOP..EXACT_TOP + 10]
            .iter()
            .all(|(_, p)| p.len() == 3));
        assert!(found[EXACT_TOP + 10].1.is_empty());
        // Out-of-range windows are clamped.
        m.fill_positions(&r, "abc", &mut found, r.len() + 5..r.len() + 9);
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

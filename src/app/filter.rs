//! The fuzzy `/` filter (fuzzy-matcher's skim algorithm) over the rows of the focused list.

//! `tonearm daemon`: the Connect receiver without the TUI (being written).

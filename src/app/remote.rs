//! Remote Connect commands → the same actions keys produce.

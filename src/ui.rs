//! Rendering (ratatui): `draw(frame, &State, &Theme, now) -> HitMap`. Reads the state, never
//! changes it; reports where lists, panes and the progress bar were drawn for mouse hit-testing.

//! The event loop: terminal set-up and restore (also on panic), a biased `select!` over
//! terminal events, service events and watches, and a tick armed only while something moves;
//! drain, update, run effects, draw if dirty.

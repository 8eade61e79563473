//! Unit tests of the Web API: paging math, cursor paging, search, writes and snapshot ids,
//! and the 401/404/400/429 answers, over a real simulator on 127.0.0.1.

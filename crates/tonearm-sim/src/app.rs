//! The state every HTTP handler of the simulator gets ([`App`]): what apresolve hands out and
//! the shared state. Its own file so that the handlers and the router that lists them both
//! depend on it instead of on each other.

use std::sync::Arc;

use crate::state::Shared;

/// What apresolve hands out.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    pub accesspoint: Vec<String>,
    pub dealer: Vec<String>,
    pub spclient: Vec<String>,
}

/// The state every handler gets.
#[derive(Clone)]
pub(crate) struct App {
    pub endpoints: Arc<Endpoints>,
    /// What `GET /_sim/endpoints` answers.
    pub client_endpoints: Arc<crate::SimEndpoints>,
    pub shared: Arc<Shared>,
}

//! Spotify's HTTP services for the client: tokens (client-token, login5 with hashcash), spclient
//! (metadata, storage-resolve). Never imports UI modules, the player or the simulator.

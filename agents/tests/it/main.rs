//! The agent's integration tests: crash injection over every update path, properties of random
//! sessions, and the scripted sessions' transcripts.

mod common;
mod crash;
mod props;
mod sessions;

//! The agent's integration tests: crash injection over every update path, properties of random
//! sessions, the scripted sessions' transcripts, and policy updates on a device that trusts a key.

mod common;
mod crash;
mod props;
mod sessions;
mod trust;

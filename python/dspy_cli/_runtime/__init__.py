"""Python helpers the Rust engine calls. Private: not part of the public API."""

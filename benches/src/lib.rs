//! Benchmarks live in `benches/`; this library is empty on purpose.
//!
//! * `codec` — oneM2M topic parsing and primitive encode/decode (JSON, CBOR, XML).
//! * `gatekeeper` — the gatekeeper's per-frame hot path: cutting MQTT frames off a byte stream,
//!   decoding them, turning them into trace records, and recording them.

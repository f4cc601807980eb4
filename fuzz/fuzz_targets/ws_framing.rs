//! `ws_framing`: see `switchboard_fuzz::ws` (fuzz/src/ws.rs) for the input layout and what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchboard_fuzz::alloc_meter::assert_no_leak(|| switchboard_fuzz::ws::check(
    data
)));

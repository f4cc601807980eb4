//! `decode_server_msgpack`: see `switchboard_fuzz::check_server_frame` (fuzz/src/frames.rs) for what is checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::check_server_frame;
use switchboard_protocol::codec::Encoding;

fuzz_target!(|data: &[u8]| switchboard_fuzz::alloc_meter::assert_no_leak(|| check_server_frame(
    data,
    Encoding::MsgPack
)));

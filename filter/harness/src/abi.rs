//! The imports Envoy offers a proxy-wasm module: the `env.proxy_*` hostcalls of ABI 0.2.1 with
//! cpp-host's signatures, and the short WASI list cpp-host implements. A module importing anything
//! else fails to load, as in Envoy ("Failed to load Wasm module due to a missing import").

use wasmtime::{Caller, Linker, Memory};

use crate::pairs;
use crate::state::{HostState, LocalReply, Phase, RootCallback, StreamCallback};
use crate::status::Status;

/// Which WASI list the host offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasiProfile {
    /// Envoy builds from 2022-08 to 2024-12: the strict list a portable filter must stay within.
    Envoy2022To2024,
    /// Newer cpp-host, which adds `fd_fdstat_set_flags`, `sched_yield` and `poll_oneoff`.
    Current,
}

/// WASI functions every supported Envoy offers.
const WASI_BASE: &[&str] = &[
    "fd_write",
    "fd_read",
    "fd_seek",
    "fd_close",
    "fd_fdstat_get",
    "environ_get",
    "environ_sizes_get",
    "args_get",
    "args_sizes_get",
    "clock_time_get",
    "random_get",
    "proc_exit",
    "path_open",
    "fd_prestat_get",
    "fd_prestat_dir_name",
];
const WASI_NEWER: &[&str] = &["fd_fdstat_set_flags", "sched_yield", "poll_oneoff"];
const WASI_MODULES: &[&str] = &["wasi_snapshot_preview1", "wasi_unstable"];

/// Hostcalls cpp-host allows while `_initialize`/`main` runs (`setRestrictedCallback`).
const ALLOWED_DURING_INIT: &[&str] = &[
    "proxy_log",
    "fd_write",
    "args_sizes_get",
    "args_get",
    "environ_sizes_get",
    "environ_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "clock_time_get",
    "random_get",
];

/// Whether the host offers `module.name` under this profile.
pub fn offers(profile: WasiProfile, module: &str, name: &str) -> bool {
    if module == "env" {
        return ENV_FUNCTIONS.contains(&name);
    }
    WASI_MODULES.contains(&module)
        && (WASI_BASE.contains(&name)
            || (profile == WasiProfile::Current && WASI_NEWER.contains(&name)))
}

/// `env` functions of ABI 0.2.1 that cpp-host registers.
const ENV_FUNCTIONS: &[&str] = &[
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_header_map_size",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
    "proxy_get_status",
    "proxy_set_effective_context",
    "proxy_call_foreign_function",
    "proxy_done",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
];

type Ctx<'a> = Caller<'a, HostState>;
type HostResult<T> = wasmtime::Result<T>;

/// Registers every import on `linker`.
pub(crate) fn define(linker: &mut Linker<HostState>, profile: WasiProfile) -> HostResult<()> {
    define_env(linker)?;
    for module in WASI_MODULES {
        define_wasi(linker, module, profile)?;
    }
    Ok(())
}

fn restricted(c: &Ctx<'_>, name: &str) -> HostResult<()> {
    if c.data().phase == Phase::Initialize && !ALLOWED_DURING_INIT.contains(&name) {
        wasmtime::bail!("restricted_callback: {name} called during _initialize");
    }
    Ok(())
}

fn memory(c: &mut Ctx<'_>) -> Result<Memory, Status> {
    c.data()
        .exports
        .as_ref()
        .and_then(|e| e.memory)
        .ok_or(Status::InvalidMemoryAccess)
}

fn read(c: &mut Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, Status> {
    let mem = memory(c)?;
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or(Status::InvalidMemoryAccess)?;
    mem.data(&*c)
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or(Status::InvalidMemoryAccess)
}

fn write(c: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> Result<(), Status> {
    let mem = memory(c)?;
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(bytes.len())
        .ok_or(Status::InvalidMemoryAccess)?;
    mem.data_mut(&mut *c)
        .get_mut(start..end)
        .ok_or(Status::InvalidMemoryAccess)?
        .copy_from_slice(bytes);
    Ok(())
}

fn write_u32(c: &mut Ctx<'_>, ptr: i32, v: u32) -> Result<(), Status> {
    write(c, ptr, &v.to_le_bytes())
}

/// `copyToPointerSize`: allocates in the guest (`malloc`, else `proxy_on_memory_allocate`), copies,
/// and stores the pointer and size. An empty value is a null pointer and size 0.
fn give(
    c: &mut Ctx<'_>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> HostResult<Result<(), Status>> {
    let mut ptr = 0u32;
    if !bytes.is_empty() {
        let alloc = c.data().exports.as_ref().and_then(|e| e.alloc.clone());
        let Some(alloc) = alloc else {
            return Ok(Err(Status::InvalidMemoryAccess));
        };
        let size =
            i32::try_from(bytes.len()).map_err(|_| wasmtime::format_err!("value too large"))?;
        let p = alloc.call(&mut *c, size)?;
        if p == 0 {
            return Ok(Err(Status::InvalidMemoryAccess));
        }
        if let Err(s) = write(c, p, bytes) {
            return Ok(Err(s));
        }
        ptr = p as u32;
    }
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Ok(write_u32(c, ptr_ptr, ptr).and_then(|()| write_u32(c, size_ptr, len)))
}

fn code(r: Result<(), Status>) -> i32 {
    match r {
        Ok(()) => Status::Ok.code(),
        Err(s) => s.code(),
    }
}

/// The header map a hostcall may touch now; Envoy attaches request headers only during
/// `on_request_headers` (or while it keeps the stream stopped) and again, read-only, in `on_log`.
fn header_map(
    state: &mut HostState,
    map_type: i32,
    write: bool,
) -> Result<&mut crate::HeaderMap, Status> {
    let detached = state.detach_request_headers;
    let Some((cb, s)) = state.current_stream() else {
        return Err(Status::BadArgument);
    };
    let attached = match map_type {
        0 if detached => false,
        0 => match cb {
            StreamCallback::RequestHeaders => true,
            StreamCallback::RequestBody => s.request_held,
            StreamCallback::Log => !write,
            _ => false,
        },
        2 => match cb {
            StreamCallback::ResponseHeaders => true,
            StreamCallback::ResponseBody => s.response_held,
            StreamCallback::Log => !write,
            _ => false,
        },
        _ => false,
    };
    if !attached {
        return Err(Status::BadArgument);
    }
    Ok(if map_type == 0 {
        &mut s.request_headers
    } else {
        &mut s.response_headers
    })
}

fn define_env(l: &mut Linker<HostState>) -> HostResult<()> {
    l.func_wrap(
        "env",
        "proxy_log",
        |mut c: Ctx<'_>, level: i32, ptr: i32, len: i32| -> HostResult<i32> {
            restricted(&c, "proxy_log")?;
            let msg = match read(&mut c, ptr, len) {
                Ok(m) => m,
                Err(s) => return Ok(s.code()),
            };
            c.data_mut().logs.push(crate::LogRecord {
                level: level as u32,
                message: String::from_utf8_lossy(&msg).into_owned(),
            });
            Ok(0)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut c: Ctx<'_>, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_log_level")?;
            let level = c.data().log_level;
            Ok(code(write_u32(&mut c, ret, level)))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: Ctx<'_>, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_current_time_nanoseconds")?;
            c.data_mut().clock_ns += 1_000;
            let now = c.data().clock_ns;
            Ok(code(write(&mut c, ret, &now.to_le_bytes())))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |c: Ctx<'_>, _ms: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_tick_period_milliseconds")?;
            Ok(match c.data().phase {
                Phase::Root(_) => 0,
                _ => Status::BadArgument.code(),
            })
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Ctx<'_>,
         kind: i32,
         start: i32,
         max: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult<i32> {
            restricted(&c, "proxy_get_buffer_bytes")?;
            let st = c.data_mut();
            let buf: Option<Vec<u8>> = match (kind, st.phase) {
                (7, Phase::Root(RootCallback::Configure)) => Some(st.plugin_config.clone()),
                (6, Phase::Root(RootCallback::VmStart)) => Some(st.vm_config.clone()),
                (0, _) => match st.current_stream() {
                    Some((StreamCallback::RequestBody, s)) => Some(s.request_body.clone()),
                    _ => None,
                },
                (1, _) => match st.current_stream() {
                    Some((StreamCallback::ResponseBody, s)) => Some(s.response_body.clone()),
                    _ => None,
                },
                _ => None,
            };
            let Some(buf) = buf else {
                return Ok(Status::NotFound.code());
            };
            let start = start as u32 as usize;
            let Some(tail) = buf.get(start..) else {
                return Ok(Status::BadArgument.code());
            };
            let n = tail.len().min(max as u32 as usize);
            let slice = tail.get(..n).unwrap_or_default().to_vec();
            Ok(code(give(&mut c, &slice, ptr_ptr, size_ptr)?))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Ctx<'_>, kind: i32, start: i32, size: i32, ptr: i32, len: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_buffer_bytes")?;
            let data = match read(&mut c, ptr, len) {
                Ok(d) => d,
                Err(s) => return Ok(s.code()),
            };
            let Some((cb, s)) = c.data_mut().current_stream() else {
                return Ok(Status::BadArgument.code());
            };
            let body = match (kind, cb) {
                (0, StreamCallback::RequestBody) => &mut s.request_body,
                (1, StreamCallback::ResponseBody) => &mut s.response_body,
                _ => return Ok(Status::BadArgument.code()),
            };
            let start = (start as u32 as usize).min(body.len());
            let end = start.saturating_add(size as u32 as usize).min(body.len());
            body.splice(start..end, data);
            Ok(0)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Ctx<'_>, map_type: i32, ptr_ptr: i32, size_ptr: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_header_map_pairs")?;
            let encoded = match header_map(c.data_mut(), map_type, false) {
                Ok(m) => pairs::encode(m.entries()),
                Err(s) => return Ok(s.code()),
            };
            Ok(code(give(&mut c, &encoded, ptr_ptr, size_ptr)?))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Ctx<'_>, map_type: i32, ptr: i32, len: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_header_map_pairs")?;
            let data = match read(&mut c, ptr, len) {
                Ok(d) => d,
                Err(s) => return Ok(s.code()),
            };
            // cpp-host: a malformed or oversized buffer is an empty map.
            let pairs = pairs::decode(&data).unwrap_or_default();
            Ok(code(
                header_map(c.data_mut(), map_type, true).map(|m| m.replace_all(&pairs)),
            ))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_size",
        |mut c: Ctx<'_>, map_type: i32, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_header_map_size")?;
            let size = match header_map(c.data_mut(), map_type, false) {
                Ok(m) => pairs::encode(m.entries()).len(),
                Err(s) => return Ok(s.code()),
            };
            Ok(code(write_u32(
                &mut c,
                ret,
                u32::try_from(size).unwrap_or(u32::MAX),
            )))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: Ctx<'_>,
         map_type: i32,
         kp: i32,
         kl: i32,
         ptr_ptr: i32,
         size_ptr: i32|
         -> HostResult<i32> {
            restricted(&c, "proxy_get_header_map_value")?;
            let key = match read(&mut c, kp, kl) {
                Ok(k) => k,
                Err(s) => return Ok(s.code()),
            };
            let value = match header_map(c.data_mut(), map_type, false) {
                Ok(m) => m.get(&key).map(<[u8]>::to_vec),
                Err(s) => return Ok(s.code()),
            };
            match value {
                Some(v) => Ok(code(give(&mut c, &v, ptr_ptr, size_ptr)?)),
                None => Ok(Status::NotFound.code()),
            }
        },
    )?;
    for (name, op) in [
        ("proxy_add_header_map_value", HeaderOp::Add),
        ("proxy_replace_header_map_value", HeaderOp::Replace),
    ] {
        l.func_wrap(
            "env",
            name,
            move |mut c: Ctx<'_>,
                  map_type: i32,
                  kp: i32,
                  kl: i32,
                  vp: i32,
                  vl: i32|
                  -> HostResult<i32> {
                restricted(&c, name)?;
                let (key, value) = match (read(&mut c, kp, kl), read(&mut c, vp, vl)) {
                    (Ok(k), Ok(v)) => (k, v),
                    _ => return Ok(Status::InvalidMemoryAccess.code()),
                };
                Ok(code(header_map(c.data_mut(), map_type, true).map(
                    |m| match op {
                        HeaderOp::Add => m.add(&key, &value),
                        HeaderOp::Replace => m.replace(&key, &value),
                    },
                )))
            },
        )?;
    }
    l.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Ctx<'_>, map_type: i32, kp: i32, kl: i32| -> HostResult<i32> {
            restricted(&c, "proxy_remove_header_map_value")?;
            let key = match read(&mut c, kp, kl) {
                Ok(k) => k,
                Err(s) => return Ok(s.code()),
            };
            Ok(code(
                header_map(c.data_mut(), map_type, true).map(|m| m.remove(&key)),
            ))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Ctx<'_>, pp: i32, pl: i32, ptr_ptr: i32, size_ptr: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_property")?;
            let path = match read(&mut c, pp, pl) {
                Ok(p) => p,
                Err(s) => return Ok(s.code()),
            };
            match crate::properties::get(c.data_mut(), &path) {
                Ok(v) => Ok(code(give(&mut c, &v, ptr_ptr, size_ptr)?)),
                Err(s) => Ok(s.code()),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: Ctx<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_property")?;
            let (path, value) = match (read(&mut c, pp, pl), read(&mut c, vp, vl)) {
                (Ok(p), Ok(v)) => (p, v),
                _ => return Ok(Status::InvalidMemoryAccess.code()),
            };
            Ok(code(crate::properties::set(c.data_mut(), &path, value)))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Ctx<'_>,
         kp: i32,
         kl: i32,
         ptr_ptr: i32,
         size_ptr: i32,
         cas_ptr: i32|
         -> HostResult<i32> {
            restricted(&c, "proxy_get_shared_data")?;
            let key = match read(&mut c, kp, kl) {
                Ok(k) => k,
                Err(s) => return Ok(s.code()),
            };
            let Some((value, cas)) = c.data().shared_data.get(&key).cloned() else {
                return Ok(Status::NotFound.code());
            };
            if let Err(s) = give(&mut c, &value, ptr_ptr, size_ptr)? {
                return Ok(s.code());
            }
            Ok(code(write_u32(&mut c, cas_ptr, cas)))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Ctx<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_shared_data")?;
            let (key, value) = match (read(&mut c, kp, kl), read(&mut c, vp, vl)) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return Ok(Status::InvalidMemoryAccess.code()),
            };
            let entry = c
                .data_mut()
                .shared_data
                .entry(key)
                .or_insert((Vec::new(), 0));
            if cas != 0 && entry.1 != cas as u32 {
                return Ok(Status::CasMismatch.code());
            }
            *entry = (value, entry.1.wrapping_add(1).max(1));
            Ok(0)
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Ctx<'_>, np: i32, nl: i32, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_register_shared_queue")?;
            let name = match read(&mut c, np, nl) {
                Ok(n) => n,
                Err(s) => return Ok(s.code()),
            };
            let queues = &mut c.data_mut().queues;
            let id = match queues.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    queues.push((name, Default::default()));
                    queues.len() - 1
                }
            };
            Ok(code(write_u32(
                &mut c,
                ret,
                u32::try_from(id).unwrap_or(u32::MAX),
            )))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Ctx<'_>, _vp: i32, _vl: i32, np: i32, nl: i32, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_resolve_shared_queue")?;
            let name = match read(&mut c, np, nl) {
                Ok(n) => n,
                Err(s) => return Ok(s.code()),
            };
            match c.data().queues.iter().position(|(n, _)| *n == name) {
                Some(i) => Ok(code(write_u32(
                    &mut c,
                    ret,
                    u32::try_from(i).unwrap_or(u32::MAX),
                ))),
                None => Ok(Status::NotFound.code()),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Ctx<'_>, id: i32, ptr_ptr: i32, size_ptr: i32| -> HostResult<i32> {
            restricted(&c, "proxy_dequeue_shared_queue")?;
            let Some((_, q)) = c.data_mut().queues.get_mut(id as u32 as usize) else {
                return Ok(Status::NotFound.code());
            };
            match q.pop_front() {
                Some(v) => Ok(code(give(&mut c, &v, ptr_ptr, size_ptr)?)),
                None => Ok(Status::Empty.code()),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Ctx<'_>, id: i32, vp: i32, vl: i32| -> HostResult<i32> {
            restricted(&c, "proxy_enqueue_shared_queue")?;
            let value = match read(&mut c, vp, vl) {
                Ok(v) => v,
                Err(s) => return Ok(s.code()),
            };
            match c.data_mut().queues.get_mut(id as u32 as usize) {
                Some((_, q)) => {
                    q.push_back(value);
                    Ok(0)
                }
                None => Ok(Status::NotFound.code()),
            }
        },
    )?;
    for name in ["proxy_continue_stream", "proxy_close_stream"] {
        l.func_wrap(
            "env",
            name,
            move |mut c: Ctx<'_>, kind: i32| -> HostResult<i32> {
                restricted(&c, name)?;
                let Some((_, s)) = c.data_mut().current_stream() else {
                    return Ok(Status::BadArgument.code());
                };
                match kind {
                    0 => s.request_held = false,
                    1 => s.response_held = false,
                    _ => return Ok(Status::BadArgument.code()),
                }
                Ok(0)
            },
        )?;
    }
    l.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Ctx<'_>,
         status: i32,
         dp: i32,
         dl: i32,
         bp: i32,
         bl: i32,
         hp: i32,
         hl: i32,
         _grpc: i32|
         -> HostResult<i32> {
            restricted(&c, "proxy_send_local_response")?;
            let (details, body, headers) = match (
                read(&mut c, dp, dl),
                read(&mut c, bp, bl),
                read(&mut c, hp, hl),
            ) {
                (Ok(d), Ok(b), Ok(h)) => (d, b, h),
                _ => return Ok(Status::InvalidMemoryAccess.code()),
            };
            let Some((_, s)) = c.data_mut().current_stream() else {
                return Ok(Status::BadArgument.code());
            };
            // Deferred: Envoy sends it when the current callback returns.
            s.local_reply = Some(LocalReply {
                status: status as u32,
                details,
                body,
                headers: pairs::decode(&headers).unwrap_or_default(),
            });
            Ok(0)
        },
    )?;
    // Calls the harness has nothing behind: a fixed status after the start-up check, with the arity the
    // ABI declares (the types must match the module's imports exactly or instantiation fails).
    macro_rules! stub {
        ($name:literal, $status:ident, $($arg:ident)*) => {
            l.func_wrap("env", $name, |c: Ctx<'_>, $(_: $arg),*| -> HostResult<i32> {
                restricted(&c, $name)?;
                Ok(Status::$status.code())
            })?;
        };
    }
    // No upstream clusters exist in the harness: Envoy answers an unknown cluster with BadArgument.
    stub!("proxy_http_call", BadArgument, i32 i32 i32 i32 i32 i32 i32 i32 i32 i32);
    stub!("proxy_grpc_call", BadArgument, i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32);
    stub!("proxy_grpc_stream", BadArgument, i32 i32 i32 i32 i32 i32 i32 i32 i32);
    stub!("proxy_grpc_send", NotFound, i32 i32 i32 i32);
    stub!("proxy_grpc_cancel", NotFound, i32);
    stub!("proxy_grpc_close", NotFound, i32);
    stub!("proxy_get_status", NotFound, i32 i32 i32);
    l.func_wrap(
        "env",
        "proxy_set_effective_context",
        |mut c: Ctx<'_>, id: i32| -> HostResult<i32> {
            restricted(&c, "proxy_set_effective_context")?;
            let id = id as u32;
            let st = c.data_mut();
            if id == st.root_id || st.streams.contains_key(&id) {
                st.effective_context = (id != st.root_id).then_some(id);
                Ok(0)
            } else {
                Ok(Status::BadArgument.code())
            }
        },
    )?;
    stub!("proxy_call_foreign_function", NotFound, i32 i32 i32 i32 i32 i32);
    stub!("proxy_done", NotFound,);
    l.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Ctx<'_>, kind: i32, np: i32, nl: i32, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_define_metric")?;
            let name = match read(&mut c, np, nl) {
                Ok(n) => String::from_utf8_lossy(&n).into_owned(),
                Err(s) => return Ok(s.code()),
            };
            match c.data_mut().metrics.define(kind, &name) {
                Ok(id) => Ok(code(write_u32(&mut c, ret, id))),
                Err(s) => Ok(s.code()),
            }
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Ctx<'_>, id: i32, offset: i64| -> HostResult<i32> {
            restricted(&c, "proxy_increment_metric")?;
            Ok(code(c.data_mut().metrics.increment(id as u32, offset)))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Ctx<'_>, id: i32, value: i64| -> HostResult<i32> {
            restricted(&c, "proxy_record_metric")?;
            Ok(code(c.data_mut().metrics.record(id as u32, value as u64)))
        },
    )?;
    l.func_wrap(
        "env",
        "proxy_get_metric",
        |mut c: Ctx<'_>, id: i32, ret: i32| -> HostResult<i32> {
            restricted(&c, "proxy_get_metric")?;
            match c.data_mut().metrics.read(id as u32) {
                Ok(v) => Ok(code(write(&mut c, ret, &v.to_le_bytes()))),
                Err(s) => Ok(s.code()),
            }
        },
    )?;
    Ok(())
}

#[derive(Clone, Copy)]
enum HeaderOp {
    Add,
    Replace,
}

/// WASI errno values used below.
const ERRNO_BADF: i32 = 8;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOENT: i32 = 44;
const ERRNO_NOSYS: i32 = 52;

fn define_wasi(l: &mut Linker<HostState>, m: &'static str, profile: WasiProfile) -> HostResult<()> {
    l.func_wrap(
        m,
        "fd_write",
        |mut c: Ctx<'_>, fd: i32, iovs: i32, n: i32, written: i32| -> HostResult<i32> {
            restricted(&c, "fd_write")?;
            let level = match fd {
                1 => 2,
                2 => 4,
                _ => return Ok(ERRNO_BADF),
            };
            let mut out = Vec::new();
            for i in 0..n.max(0) {
                let Ok(iov) = read(&mut c, iovs.wrapping_add(i.wrapping_mul(8)), 8) else {
                    return Ok(ERRNO_INVAL);
                };
                let word = |at: usize| {
                    iov.get(at..at + 4)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map_or(0, i32::from_le_bytes)
                };
                match read(&mut c, word(0), word(4)) {
                    Ok(data) => out.extend_from_slice(&data),
                    Err(_) => return Ok(ERRNO_INVAL),
                }
            }
            let len = u32::try_from(out.len()).unwrap_or(u32::MAX);
            let text = String::from_utf8_lossy(&out);
            c.data_mut().logs.push(crate::LogRecord {
                level,
                message: text.trim_end_matches('\n').to_owned(),
            });
            Ok(write_u32(&mut c, written, len).map_or(ERRNO_INVAL, |()| 0))
        },
    )?;
    l.func_wrap(
        m,
        "fd_read",
        |c: Ctx<'_>, _: i32, _: i32, _: i32, _: i32| -> HostResult<i32> {
            restricted(&c, "fd_read")?;
            Ok(ERRNO_NOSYS)
        },
    )?;
    l.func_wrap(
        m,
        "fd_seek",
        |c: Ctx<'_>, _: i32, _: i64, _: i32, _: i32| -> HostResult<i32> {
            restricted(&c, "fd_seek")?;
            Ok(ERRNO_NOSYS)
        },
    )?;
    l.func_wrap(m, "fd_close", |c: Ctx<'_>, _: i32| -> HostResult<i32> {
        restricted(&c, "fd_close")?;
        Ok(ERRNO_NOSYS)
    })?;
    l.func_wrap(
        m,
        "fd_fdstat_get",
        |mut c: Ctx<'_>, fd: i32, buf: i32| -> HostResult<i32> {
            restricted(&c, "fd_fdstat_get")?;
            if !(1..=2).contains(&fd) {
                return Ok(ERRNO_BADF);
            }
            // filetype CHARACTER_DEVICE, no flags, rights: fd_write only.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8] = 64;
            Ok(write(&mut c, buf, &stat).map_or(ERRNO_INVAL, |()| 0))
        },
    )?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        l.func_wrap(
            m,
            name,
            move |mut c: Ctx<'_>, count: i32, size: i32| -> HostResult<i32> {
                restricted(&c, name)?;
                Ok(write_u32(&mut c, count, 0)
                    .and_then(|()| write_u32(&mut c, size, 0))
                    .map_or(ERRNO_INVAL, |()| 0))
            },
        )?;
    }
    for name in ["environ_get", "args_get"] {
        l.func_wrap(
            m,
            name,
            move |c: Ctx<'_>, _: i32, _: i32| -> HostResult<i32> {
                restricted(&c, name)?;
                Ok(0)
            },
        )?;
    }
    l.func_wrap(
        m,
        "clock_time_get",
        |mut c: Ctx<'_>, id: i32, _precision: i64, ret: i32| -> HostResult<i32> {
            restricted(&c, "clock_time_get")?;
            if !(0..=1).contains(&id) {
                return Ok(ERRNO_INVAL);
            }
            c.data_mut().clock_ns += 1_000;
            let now = c.data().clock_ns;
            Ok(write(&mut c, ret, &now.to_le_bytes()).map_or(ERRNO_INVAL, |()| 0))
        },
    )?;
    l.func_wrap(
        m,
        "random_get",
        |mut c: Ctx<'_>, buf: i32, len: i32| -> HostResult<i32> {
            restricted(&c, "random_get")?;
            let mut bytes = Vec::with_capacity(len.max(0) as usize);
            while bytes.len() < len.max(0) as usize {
                bytes.extend_from_slice(&c.data_mut().next_random().to_le_bytes());
            }
            bytes.truncate(len.max(0) as usize);
            Ok(write(&mut c, buf, &bytes).map_or(ERRNO_INVAL, |()| 0))
        },
    )?;
    l.func_wrap(
        m,
        "proc_exit",
        |_c: Ctx<'_>, status: i32| -> HostResult<()> {
            wasmtime::bail!("proc_exit({status}): the module exited")
        },
    )?;
    l.func_wrap(
        m,
        "path_open",
        |c: Ctx<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i64,
         _: i64,
         _: i32,
         _: i32|
         -> HostResult<i32> {
            restricted(&c, "path_open")?;
            Ok(ERRNO_NOENT)
        },
    )?;
    l.func_wrap(
        m,
        "fd_prestat_get",
        |c: Ctx<'_>, _: i32, _: i32| -> HostResult<i32> {
            restricted(&c, "fd_prestat_get")?;
            Ok(ERRNO_BADF)
        },
    )?;
    l.func_wrap(
        m,
        "fd_prestat_dir_name",
        |c: Ctx<'_>, _: i32, _: i32, _: i32| -> HostResult<i32> {
            restricted(&c, "fd_prestat_dir_name")?;
            Ok(ERRNO_BADF)
        },
    )?;
    if profile == WasiProfile::Current {
        l.func_wrap(
            m,
            "fd_fdstat_set_flags",
            |c: Ctx<'_>, _: i32, _: i32| -> HostResult<i32> {
                restricted(&c, "fd_fdstat_set_flags")?;
                Ok(ERRNO_NOSYS)
            },
        )?;
        l.func_wrap(m, "sched_yield", |c: Ctx<'_>| -> HostResult<i32> {
            restricted(&c, "sched_yield")?;
            Ok(0)
        })?;
        l.func_wrap(
            m,
            "poll_oneoff",
            |c: Ctx<'_>, _: i32, _: i32, _: i32, _: i32| -> HostResult<i32> {
                restricted(&c, "poll_oneoff")?;
                Ok(ERRNO_NOSYS)
            },
        )?;
    }
    Ok(())
}

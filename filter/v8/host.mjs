// A small proxy-wasm host on V8 (Node's WebAssembly), replaying filter/scenarios/*.json through the real
// trueip filter module and asserting the same results the wasmtime harness asserts. Istio runs Wasm
// plugins on V8, so this shows the filter behaves identically on Istio's engine.
//
// It models what the scenarios need from Envoy, the same way filter/harness does: ordered header maps
// with lower-cased keys, coalesced X-Forwarded-For, Envoy's XFF append and source.address per connection
// manager mode, typed properties, deferred local replies through the filter's response callbacks,
// set_property -> filter state, metrics, and only Envoy's WASI list (any other import fails the load).
// Like Envoy's V8 it caps linear memory (1 GiB: the module's memory gets that maximum, so memory.grow
// past it fails inside the VM), and like the wasmtime harness it bounds CPU: each scenario runs in a
// worker thread that is terminated when it overruns its budget, and the stream is then answered as a
// trapped VM under FAIL_CLOSE (503). `--self-test` proves both bounds with two tiny probe modules.
//
// Usage: node filter/v8/host.mjs path/to/trueip_filter.wasm filter/scenarios/*.json
//        node filter/v8/host.mjs --self-test
import { readFileSync } from 'node:fs';
import {
  Worker, MessageChannel, receiveMessageOnPort, isMainThread, workerData,
} from 'node:worker_threads';

const OK = 0, NOT_FOUND = 1, BAD_ARGUMENT = 2;
const ENV = new Set(['proxy_log', 'proxy_get_log_level', 'proxy_get_current_time_nanoseconds',
  'proxy_set_tick_period_milliseconds', 'proxy_get_buffer_bytes', 'proxy_set_buffer_bytes',
  'proxy_get_header_map_pairs', 'proxy_set_header_map_pairs', 'proxy_get_header_map_value',
  'proxy_add_header_map_value', 'proxy_replace_header_map_value', 'proxy_remove_header_map_value',
  'proxy_get_header_map_size', 'proxy_get_property', 'proxy_set_property', 'proxy_get_shared_data',
  'proxy_set_shared_data', 'proxy_register_shared_queue', 'proxy_resolve_shared_queue',
  'proxy_dequeue_shared_queue', 'proxy_enqueue_shared_queue', 'proxy_continue_stream', 'proxy_close_stream',
  'proxy_send_local_response', 'proxy_http_call', 'proxy_grpc_call', 'proxy_grpc_stream', 'proxy_grpc_send',
  'proxy_grpc_cancel', 'proxy_grpc_close', 'proxy_get_status', 'proxy_set_effective_context',
  'proxy_call_foreign_function', 'proxy_done', 'proxy_define_metric', 'proxy_increment_metric',
  'proxy_record_metric', 'proxy_get_metric']);
const WASI = new Set(['fd_write', 'fd_read', 'fd_seek', 'fd_close', 'fd_fdstat_get', 'environ_get',
  'environ_sizes_get', 'args_get', 'args_sizes_get', 'clock_time_get', 'random_get', 'proc_exit', 'path_open',
  'fd_prestat_get', 'fd_prestat_dir_name']);
const INLINE = new Set([':authority', ':method', ':path', ':scheme', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host', 'user-agent', 'x-request-id', 'via', 'content-type', 'content-length', 'referer']);

// Envoy's V8 memory cap, in 64 KiB pages, and the CPU budget of one replayed stream (wall time of a
// worker that does nothing else; generous, because the machine may be busy: it bounds runaway loops,
// it does not measure speed).
const MEMORY_CAP_PAGES = (1 << 30) / 65536;
const CPU_BUDGET_MS = 10_000;

const enc = new TextEncoder();
const bytes = (s) => (s instanceof Uint8Array ? s : enc.encode(s));
const latin1 = (b) => Buffer.from(b).toString('latin1');
const eq = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
// Scenario strings write raw bytes as \xNN.
const raw = (s) => {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') { out.push(parseInt(s.slice(i + 2, i + 4), 16)); i += 3; }
    else out.push(...enc.encode(s[i]));
  }
  return new Uint8Array(out);
};

class HeaderMap {
  constructor(request) { this.request = request; this.entries = []; }
  key(k) { const l = latin1(bytes(k)).toLowerCase(); return this.request && l === 'host' ? ':authority' : l; }
  get(k) { const key = this.key(k); const e = this.entries.find(([n]) => n === key); return e ? e[1] : null; }
  add(k, v) {
    const key = this.key(k); v = bytes(v);
    const e = this.entries.find(([n]) => n === key);
    if (e && this.request && INLINE.has(key)) { e[1] = new Uint8Array([...e[1], ...(e[1].length ? [44] : []), ...v]); return; }
    if (key.startsWith(':')) {
      const at = this.entries.findIndex(([n]) => !n.startsWith(':'));
      this.entries.splice(at < 0 ? this.entries.length : at, 0, [key, v]);
    } else this.entries.push([key, v]);
  }
  remove(k) { const key = this.key(k); this.entries = this.entries.filter(([n]) => n !== key); }
  replace(k, v) { this.remove(k); this.add(k, v); }
}

// Whether Envoy treats a remote address as internal (internal_address_config). Unset in Envoy 1.33
// and later: nothing is. 'rfc1918': RFC 1918, loopback and IPv6 ULA (the unset default before 1.33).
function isInternal(config, ip) {
  if (config === undefined) return false;
  if (config !== 'rfc1918') throw new Error(`unknown internal_address_config ${config}`);
  if (ip.includes(':')) return ip === '::1' || /^f[cd]/i.test(ip);
  const [a, b] = ip.split('.').map(Number);
  return a === 10 || a === 127 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168);
}

function encodePairs(entries) {
  const parts = entries.map(([k, v]) => [bytes(k), v]);
  const size = 4 + parts.length * 8 + parts.reduce((s, [k, v]) => s + k.length + v.length + 2, 0);
  const out = new Uint8Array(size); const dv = new DataView(out.buffer);
  dv.setUint32(0, parts.length, true);
  let o = 4;
  for (const [k, v] of parts) { dv.setUint32(o, k.length, true); dv.setUint32(o + 4, v.length, true); o += 8; }
  for (const [k, v] of parts) { out.set(k, o); o += k.length + 1; out.set(v, o); o += v.length + 1; }
  return out;
}

function decodePairs(buf) {
  if (buf.length < 4 || buf.length > (1 << 20)) return [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getUint32(0, true);
  if (n > 1024 || 4 + n * 8 > buf.length) return [];
  let o = 4 + n * 8; const out = [];
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(4 + i * 8, true), vl = dv.getUint32(8 + i * 8, true);
    if (o + kl + vl + 2 > buf.length) return [];
    out.push([latin1(buf.subarray(o, o + kl)), buf.slice(o + kl + 1, o + kl + 1 + vl)]);
    o += kl + vl + 2;
  }
  return out;
}

class Vm {
  constructor(module, pluginConfig) {
    for (const imp of WebAssembly.Module.imports(module)) {
      const ok = imp.module === 'env' ? ENV.has(imp.name)
        : (imp.module === 'wasi_snapshot_preview1' || imp.module === 'wasi_unstable') && WASI.has(imp.name);
      if (!ok) throw new Error(`Failed to load Wasm module due to a missing import: ${imp.module}.${imp.name}`);
    }
    this.config = bytes(pluginConfig); this.logs = []; this.metrics = new Map(); this.ids = new Map();
    this.phase = 'init'; this.stream = null; this.nextMetric = 0;
    const env = {}, wasi = {};
    for (const name of ENV) env[name] = (...a) => (this[name] ? this[name](...a) : BAD_ARGUMENT);
    for (const name of WASI) wasi[name] = (...a) => this.wasi(name, a);
    this.instance = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi, wasi_unstable: wasi });
    this.x = this.instance.exports;
    this.x._initialize?.();
    this.phase = 'root';
    this.x.proxy_on_context_create(1, 0);
    if (!this.x.proxy_on_vm_start(1, 0)) throw new Error('on_vm_start returned false');
    this.phase = 'configure';
    this.started = this.x.proxy_on_configure(1, this.config.length) !== 0;
    this.phase = 'idle'; this.nextId = 2;
  }
  mem() { return new Uint8Array(this.x.memory.buffer); }
  read(p, n) { return this.mem().slice(p >>> 0, (p >>> 0) + (n >>> 0)); }
  u32(p, v) { new DataView(this.x.memory.buffer).setUint32(p >>> 0, v >>> 0, true); }
  give(data, pp, sp) {
    let p = 0;
    if (data.length) { p = (this.x.malloc ?? this.x.proxy_on_memory_allocate)(data.length); this.mem().set(data, p); }
    this.u32(pp, p); this.u32(sp, data.length); return OK;
  }
  map(type, write) {
    const s = this.stream; if (!s) return null;
    if (type === 0 && (this.phase === 'request_headers' || (this.phase === 'log' && !write))) return s.request;
    if (type === 2 && (this.phase === 'response_headers' || (this.phase === 'log' && !write))) return s.response;
    return null;
  }
  wasi(name, a) {
    if (name === 'proc_exit') throw new Error(`proc_exit(${a[0]})`);
    if (name === 'fd_write') {
      const [fd, iovs, n, written] = a; const dv = new DataView(this.x.memory.buffer); let text = '', total = 0;
      for (let i = 0; i < n; i++) { const p = dv.getUint32(iovs + i * 8, true), l = dv.getUint32(iovs + i * 8 + 4, true); text += latin1(this.read(p, l)); total += l; }
      this.logs.push([fd === 2 ? 4 : 2, text]); this.u32(written, total); return 0;
    }
    if (name === 'environ_sizes_get' || name === 'args_sizes_get') { this.u32(a[0], 0); this.u32(a[1], 0); return 0; }
    if (name === 'environ_get' || name === 'args_get') return 0;
    if (name === 'fd_prestat_get') return 8;
    return 52;
  }
  proxy_log(level, p, n) { this.logs.push([level, latin1(this.read(p, n))]); return OK; }
  proxy_get_buffer_bytes(type, start, max, pp, sp) {
    if (type !== 7 || this.phase !== 'configure') return NOT_FOUND;
    return this.give(this.config.slice(start, start + max), pp, sp);
  }
  proxy_get_header_map_pairs(type, pp, sp) { const m = this.map(type, false); return m ? this.give(encodePairs(m.entries), pp, sp) : BAD_ARGUMENT; }
  proxy_get_header_map_value(type, kp, kl, pp, sp) {
    const m = this.map(type, false); if (!m) return BAD_ARGUMENT;
    const v = m.get(this.read(kp, kl)); return v ? this.give(v, pp, sp) : NOT_FOUND;
  }
  proxy_add_header_map_value(type, kp, kl, vp, vl) { const m = this.map(type, true); if (!m) return BAD_ARGUMENT; m.add(this.read(kp, kl), this.read(vp, vl)); return OK; }
  proxy_replace_header_map_value(type, kp, kl, vp, vl) { const m = this.map(type, true); if (!m) return BAD_ARGUMENT; m.replace(this.read(kp, kl), this.read(vp, vl)); return OK; }
  proxy_remove_header_map_value(type, kp, kl) { const m = this.map(type, true); if (!m) return BAD_ARGUMENT; m.remove(this.read(kp, kl)); return OK; }
  proxy_get_property(pp, pl, rp, rs) {
    const path = latin1(this.read(pp, pl)).split('\0').join('.'); const s = this.stream;
    if (!s) return NOT_FOUND;
    let v = null;
    if (path === 'source.address') v = bytes(s.remote);
    else if (path === 'connection.mtls') v = new Uint8Array([s.identity ? 1 : 0]);
    else if (path === 'connection.uri_san_peer_certificate' && s.identity) v = bytes(s.identity);
    return v ? this.give(v, rp, rs) : NOT_FOUND;
  }
  proxy_set_property(pp, pl, vp, vl) {
    if (!this.stream) return NOT_FOUND;
    this.stream.state.set('wasm.' + latin1(this.read(pp, pl)), this.read(vp, vl)); return OK;
  }
  proxy_send_local_response(status, dp, dl, bp, bl, hp, hl) {
    if (!this.stream) return BAD_ARGUMENT;
    this.stream.reply = { status, details: latin1(this.read(dp, dl)), body: this.read(bp, bl), headers: decodePairs(this.read(hp, hl)) };
    return OK;
  }
  proxy_define_metric(type, np, nl, idp) {
    if (type > 2) return BAD_ARGUMENT;
    const name = latin1(this.read(np, nl)); this.nextMetric += 4; const id = this.nextMetric | type;
    this.ids.set(id, name); if (!this.metrics.has(name)) this.metrics.set(name, 0); this.u32(idp, id); return OK;
  }
  proxy_increment_metric(id, offset) {
    const name = this.ids.get(id); if (name === undefined) return NOT_FOUND;
    if ((id & 3) === 0 && offset <= 0n) return BAD_ARGUMENT;
    this.metrics.set(name, this.metrics.get(name) + Number(offset)); return OK;
  }
  call(phase, name, ...args) { this.phase = phase; try { return this.x[name]?.(...args); } finally { this.phase = 'idle'; } }

  handle(sc) {
    const request = new HeaderMap(true);
    for (const [k, v] of [[':method', 'GET'], [':path', '/'], [':scheme', 'http'], [':authority', 'app.example'], ...sc.headers]) request.add(k, raw(v));
    const peerIp = sc.peer.startsWith('[') ? sc.peer.slice(1, sc.peer.indexOf(']')) : sc.peer.split(':')[0];
    let remote = sc.peer;
    if (sc.connection_manager === 'gateway') {
      request.add('x-forwarded-for', peerIp);
      // An external request gets Envoy's own x-envoy-external-address (overwriting the client's).
      const single = !latin1(request.get('x-forwarded-for')).includes(',');
      if (!(single && isInternal(sc.internal_address_config, peerIp))) request.replace('x-envoy-external-address', peerIp);
    } else {
      const xff = request.get('x-forwarded-for');
      const last = xff ? latin1(xff).split(',').pop().trim() : '';
      if (/^[0-9.]+$/.test(last)) remote = `${last}:0`;
    }
    const id = this.nextId++;
    const s = this.stream = { request, response: new HeaderMap(false), remote, identity: sc.identity, state: new Map(), reply: null };
    this.call('create', 'proxy_on_context_create', id, 1);
    this.call('request_headers', 'proxy_on_request_headers', id, request.entries.length, 1);
    let upstream = null, status, body = new Uint8Array();
    const respond = (st, extra, b) => {
      s.response.add(':status', String(st));
      for (const [k, v] of extra) s.response.add(k, v);
      this.call('response_headers', 'proxy_on_response_headers', id, s.response.entries.length, b.length ? 0 : 1);
      status = Number(latin1(s.response.get(':status'))); body = b;
    };
    if (s.reply) respond(s.reply.status, s.reply.headers, s.reply.body);
    else { upstream = request; respond(200, [['content-length', '0']], new Uint8Array()); }
    this.call('log', 'proxy_on_log', id);
    this.call('done', 'proxy_on_done', id);
    this.call('delete', 'proxy_on_delete', id);
    this.stream = null;
    return { status, body, upstream, state: s.state };
  }
}

function check(sc, got) {
  const problems = [];
  const e = sc.expect;
  if (got.status !== e.status) problems.push(`status ${got.status}, expected ${e.status}`);
  const state = got.state.get('wasm.trueip'); const stateText = state ? latin1(state) : null;
  if (stateText !== e.filter_state) problems.push(`filter state ${JSON.stringify(stateText)}, expected ${JSON.stringify(e.filter_state)}`);
  if (e.body !== undefined && latin1(got.body) !== e.body) problems.push(`body ${JSON.stringify(latin1(got.body))}`);
  if (e.upstream === null) { if (got.upstream) problems.push('forwarded upstream, expected a local reply'); }
  else if (!got.upstream) problems.push('not forwarded upstream');
  else for (const [k, v] of Object.entries(e.upstream)) {
    const have = got.upstream.get(k); const text = have ? latin1(have) : null;
    if (text !== v) problems.push(`upstream ${k}: ${JSON.stringify(text)}, expected ${JSON.stringify(v)}`);
  }
  return problems;
}

// ---- bounds -------------------------------------------------------------------------------------------

const leb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
const readLeb = (buf, at) => { let n = 0, shift = 0, b; do { b = buf[at++]; n |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80); return [n >>> 0, at]; };

// Rewrites the memory section so the module's own memory has at most `capPages` pages (keeping a lower
// declared maximum): memory.grow past it then returns -1 inside the VM, as under Envoy's V8 cap.
function capMemory(wasm, capPages) {
  const out = [wasm.subarray(0, 8)];
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = readLeb(wasm, at + 1);
    const end = body + size;
    if (id !== 5) { out.push(wasm.subarray(at, end)); at = end; continue; }
    let [count, p] = readLeb(wasm, body);
    const section = [...leb(count)];
    for (let i = 0; i < count; i++) {
      const flags = wasm[p++];
      if (flags & ~1) throw new Error(`unsupported memory limits flags ${flags}`);
      let min, max = capPages;
      [min, p] = readLeb(wasm, p);
      if (flags & 1) { let declared; [declared, p] = readLeb(wasm, p); max = Math.min(declared, capPages); }
      if (min > max) throw new Error(`module needs ${min} pages, over the cap of ${max}`);
      section.push(1, ...leb(min), ...leb(max));
    }
    out.push(new Uint8Array([5, ...leb(section.length), ...section]));
    at = end;
  }
  return Buffer.concat(out);
}

function loadModule(wasm, capPages = MEMORY_CAP_PAGES) {
  return new WebAssembly.Module(capMemory(wasm, capPages));
}

// Replays one scenario in a worker: the VM's start-up and the stream. A trap (memory past the cap
// included) or an overrun budget fails the VM, answered as Envoy's FAIL_CLOSE does.
function replayIsolated(wasm, capPages, sc, budgetMs = CPU_BUDGET_MS) {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { wasm, capPages, sc, done, port: port2 }, transferList: [port2],
  });
  const waited = Atomics.wait(done, 0, 0, budgetMs);
  worker.terminate();
  if (waited === 'timed-out') return { failed: `cpu budget of ${budgetMs} ms exceeded`, ...FAIL_CLOSE };
  const reply = receiveMessageOnPort(port1)?.message;
  if (!reply) return { failed: 'worker ended without a result', ...FAIL_CLOSE };
  return reply.failed ? { ...reply, ...FAIL_CLOSE } : reply;
}

const FAIL_CLOSE = { status: 503, body: new Uint8Array(), upstream: null, state: new Map(), details: 'wasm_fail_stream' };

function workerMain() {
  const { wasm, capPages, sc, done, port } = workerData;
  let reply;
  try {
    const vm = new Vm(loadModule(wasm, capPages), JSON.stringify(sc.config ?? {}));
    if (!vm.started) reply = { startFailed: vm.logs.map(l => l[1]).join('; ') };
    else { const got = vm.handle(sc); reply = { ...got, upstream: got.upstream?.entries ?? null }; }
  } catch (e) {
    reply = { failed: String(e) };
  }
  port.postMessage(reply);
  Atomics.store(done, 0, 1); Atomics.notify(done, 0);
}

function fromWorker(got) {
  if (!got.upstream) return got;
  const upstream = new HeaderMap(true); upstream.entries = got.upstream;
  return { ...got, upstream };
}

// ---- self-test: the bounds, with probe modules ----------------------------------------------------------

// A proxy-wasm shaped module whose on_request_headers runs `body` (wasm instructions, leaving an i32).
function probeModule(body) {
  const str = (t) => [...leb(t.length), ...enc.encode(t)];
  const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
  const vec = (items) => [...leb(items.length), ...items.flat()];
  const I32 = 0x7f;
  const types = vec([[0x60, ...vec([[I32], [I32]]), ...vec([])], [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])],
    [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])]]);
  const funcs = vec([[0], [1], [1], [2]]);
  const exports = vec([[...str('memory'), 2, 0], [...str('proxy_on_context_create'), 0, 0],
    [...str('proxy_on_vm_start'), 0, 1], [...str('proxy_on_configure'), 0, 2],
    [...str('proxy_on_request_headers'), 0, 3]]);
  const fn = (code) => { const b = [0, ...code, 0x0b]; return [...leb(b.length), ...b]; };
  const code = vec([fn([]), fn([0x41, 1]), fn([0x41, 1]), fn(body)]);
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section(1, types), ...section(3, funcs),
    ...section(5, vec([[0, 1]])), ...section(7, exports), ...section(10, code)]);
}

function selfTest() {
  const i32 = (n) => [0x41, ...sleb(n)];
  const sleb = (n) => { const out = []; for (;;) { const b = n & 0x7f; n >>= 7; if ((n === 0 && !(b & 0x40)) || (n === -1 && (b & 0x40))) { out.push(b); return out; } out.push(b | 0x80); } };
  // memory.grow(pages); trap (unreachable) when it fails, as Rust's allocator aborts; else Continue.
  const grow = (pages) => probeModule([...i32(pages), 0x40, 0, ...i32(-1), 0x46, 0x04, 0x40, 0x00, 0x0b, ...i32(0)]);
  // loop { br 0 }
  const spin = probeModule([0x03, 0x40, 0x0c, 0x00, 0x0b, ...i32(0)]);
  const sc = { config: {}, connection_manager: 'gateway', peer: '10.0.0.2:5000', headers: [] };
  const cap = 64;
  const results = [
    ['memory under the cap grows', replayIsolated(grow(cap - 2), cap, sc), (r) => r.status === 200 && !r.failed],
    ['memory past the cap fails inside the VM: FAIL_CLOSE 503', replayIsolated(grow(cap), cap, sc),
      (r) => r.status === 503 && /unreachable/.test(r.failed)],
    ['a runaway callback is stopped at its CPU budget: FAIL_CLOSE 503', replayIsolated(spin, cap, sc, 500),
      (r) => r.status === 503 && /cpu budget/.test(r.failed)],
  ];
  let failed = 0;
  for (const [name, got, ok] of results) {
    if (ok(got)) console.log(`ok   ${name}`);
    else { failed++; console.log(`FAIL ${name}: ${JSON.stringify({ status: got.status, failed: got.failed })}`); }
  }
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed;
}

// ---- main ------------------------------------------------------------------------------------------------

if (!isMainThread) workerMain();
else if (process.argv[2] === '--self-test') process.exit(selfTest() ? 1 : 0);
else {
  const [wasmPath, ...files] = process.argv.slice(2);
  if (!wasmPath || files.length === 0) { console.error('usage: node host.mjs FILTER.wasm SCENARIOS.json... | --self-test'); process.exit(64); }
  const wasm = readFileSync(wasmPath);
  loadModule(wasm); // fails here, before any scenario, on a module Envoy's V8 would refuse
  let passed = 0, failed = 0;
  for (const file of files) {
    for (const sc of JSON.parse(readFileSync(file, 'utf8')).scenarios) {
      const got = fromWorker(replayIsolated(wasm, MEMORY_CAP_PAGES, sc));
      const problems = got.startFailed !== undefined ? ['plugin failed to start: ' + got.startFailed]
        : got.failed ? ['VM failed: ' + got.failed] : check(sc, got);
      if (problems.length) { failed++; console.log(`FAIL ${sc.name}: ${problems.join('; ')}`); }
      else { passed++; console.log(`ok   ${sc.name}`); }
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

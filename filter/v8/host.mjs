// A small proxy-wasm host on V8 (Node's WebAssembly), replaying filter/scenarios/*.json through the real
// trueip filter module and asserting the same results the wasmtime harness asserts. Istio runs Wasm
// plugins on V8, so this shows the filter behaves identically on Istio's engine.
//
// It models what the scenarios need from Envoy, the same way filter/harness does: ordered header maps
// with lower-cased keys, coalesced X-Forwarded-For, Envoy's XFF append and source.address per connection
// manager mode, typed properties, deferred local replies through the filter's response callbacks,
// set_property -> filter state, metrics, and only Envoy's WASI list (any other import fails the load).
//
// Usage: node filter/v8/host.mjs path/to/trueip_filter.wasm filter/scenarios/*.json
import { readFileSync } from 'node:fs';

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
  call(phase, name, ...args) { this.phase = phase; try { return this.x[name](...args); } finally { this.phase = 'idle'; } }

  handle(sc) {
    const request = new HeaderMap(true);
    for (const [k, v] of [[':method', 'GET'], [':path', '/'], [':scheme', 'http'], [':authority', 'app.example'], ...sc.headers]) request.add(k, raw(v));
    const peerIp = sc.peer.startsWith('[') ? sc.peer.slice(1, sc.peer.indexOf(']')) : sc.peer.split(':')[0];
    let remote = sc.peer;
    if (sc.connection_manager === 'gateway') request.add('x-forwarded-for', peerIp);
    else {
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

const [wasmPath, ...files] = process.argv.slice(2);
if (!wasmPath || files.length === 0) { console.error('usage: node host.mjs FILTER.wasm SCENARIOS.json...'); process.exit(64); }
const module = new WebAssembly.Module(readFileSync(wasmPath));
let passed = 0, failed = 0;
for (const file of files) {
  for (const sc of JSON.parse(readFileSync(file, 'utf8')).scenarios) {
    const vm = new Vm(module, JSON.stringify(sc.config));
    const problems = vm.started ? check(sc, vm.handle(sc)) : ['plugin failed to start: ' + vm.logs.map(l => l[1]).join('; ')];
    if (problems.length) { failed++; console.log(`FAIL ${sc.name}: ${problems.join('; ')}`); }
    else { passed++; console.log(`ok   ${sc.name}`); }
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

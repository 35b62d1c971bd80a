/**
 * MessagePack for the session socket: the subset the protocol uses.
 *
 * Numbers follow Python's msgpack on the server: a JS number that is an
 * integer is encoded as a msgpack integer (the protocol's int fields refuse
 * floats), any other number as a float64. Decoding gives plain objects,
 * arrays, strings, numbers, booleans and null; binary becomes a Uint8Array.
 * Integers beyond 2^53 lose precision (the protocol keeps below that).
 *
 * @module msgpack
 */

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

class Writer {
  constructor() {
    this.buffer = new Uint8Array(256);
    this.view = new DataView(this.buffer.buffer);
    this.length = 0;
  }

  reserve(n) {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  u8(v) { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  u16(v) { this.reserve(2); this.view.setUint16(this.length, v); this.length += 2; }
  u32(v) { this.reserve(4); this.view.setUint32(this.length, v); this.length += 4; }
  i8(v) { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
  i16(v) { this.reserve(2); this.view.setInt16(this.length, v); this.length += 2; }
  i32(v) { this.reserve(4); this.view.setInt32(this.length, v); this.length += 4; }
  f64(v) { this.reserve(8); this.view.setFloat64(this.length, v); this.length += 8; }
  u64(v) { this.reserve(8); this.view.setBigUint64(this.length, BigInt(v)); this.length += 8; }
  i64(v) { this.reserve(8); this.view.setBigInt64(this.length, BigInt(v)); this.length += 8; }

  bytes(data) {
    this.reserve(data.length);
    this.buffer.set(data, this.length);
    this.length += data.length;
  }

  result() {
    return this.buffer.slice(0, this.length);
  }
}

function writeInt(w, v) {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) { w.u8(0xcc); w.u8(v); }
    else if (v < 0x10000) { w.u8(0xcd); w.u16(v); }
    else if (v < 0x100000000) { w.u8(0xce); w.u32(v); }
    else { w.u8(0xcf); w.u64(v); }
  } else if (v >= -32) w.i8(v);
  else if (v >= -0x80) { w.u8(0xd0); w.i8(v); }
  else if (v >= -0x8000) { w.u8(0xd1); w.i16(v); }
  else if (v >= -0x80000000) { w.u8(0xd2); w.i32(v); }
  else { w.u8(0xd3); w.i64(v); }
}

function writeString(w, s) {
  const data = utf8Encoder.encode(s);
  const n = data.length;
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) { w.u8(0xd9); w.u8(n); }
  else if (n < 0x10000) { w.u8(0xda); w.u16(n); }
  else { w.u8(0xdb); w.u32(n); }
  w.bytes(data);
}

function writeValue(w, value, depth) {
  if (depth > 64) throw new RangeError("msgpack: value nested too deeply");
  if (value === null || value === undefined) w.u8(0xc0);
  else if (value === false) w.u8(0xc2);
  else if (value === true) w.u8(0xc3);
  else if (typeof value === "number") {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) writeInt(w, value);
    else { w.u8(0xcb); w.f64(value); }
  } else if (typeof value === "string") writeString(w, value);
  else if (value instanceof Uint8Array) {
    const n = value.length;
    if (n < 0x100) { w.u8(0xc4); w.u8(n); }
    else if (n < 0x10000) { w.u8(0xc5); w.u16(n); }
    else { w.u8(0xc6); w.u32(n); }
    w.bytes(value);
  } else if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n < 0x10000) { w.u8(0xdc); w.u16(n); }
    else { w.u8(0xdd); w.u32(n); }
    for (const item of value) writeValue(w, item, depth + 1);
  } else if (typeof value === "object") {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    const n = keys.length;
    if (n < 16) w.u8(0x80 | n);
    else if (n < 0x10000) { w.u8(0xde); w.u16(n); }
    else { w.u8(0xdf); w.u32(n); }
    for (const key of keys) {
      writeString(w, key);
      writeValue(w, value[key], depth + 1);
    }
  } else {
    throw new TypeError(`msgpack: cannot encode ${typeof value}`);
  }
}

/**
 * One value as msgpack bytes. Object keys whose value is undefined are left out.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function encode(value) {
  const w = new Writer();
  writeValue(w, value, 0);
  return w.result();
}

class Reader {
  constructor(data) {
    this.data = data;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.data.length) throw new RangeError("msgpack: truncated data");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8() { return this.view.getUint8(this.need(1)); }
  u16() { return this.view.getUint16(this.need(2)); }
  u32() { return this.view.getUint32(this.need(4)); }
  u64() { return Number(this.view.getBigUint64(this.need(8))); }
  i8() { return this.view.getInt8(this.need(1)); }
  i16() { return this.view.getInt16(this.need(2)); }
  i32() { return this.view.getInt32(this.need(4)); }
  i64() { return Number(this.view.getBigInt64(this.need(8))); }
  f32() { return this.view.getFloat32(this.need(4)); }
  f64() { return this.view.getFloat64(this.need(8)); }

  raw(n) {
    const at = this.need(n);
    return this.data.subarray(at, at + n);
  }

  str(n) {
    return utf8Decoder.decode(this.raw(n));
  }

  array(n, depth) {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }

  map(n, depth) {
    const out = {};
    for (let i = 0; i < n; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== "string") throw new TypeError("msgpack: map keys must be strings");
      Object.defineProperty(out, key, {
        value: this.value(depth + 1), enumerable: true, writable: true, configurable: true,
      });
    }
    return out;
  }

  value(depth = 0) {
    if (depth > 512) throw new RangeError("msgpack: data nested too deeply");
    const b = this.u8();
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f, depth);
    if (b < 0xa0) return this.array(b & 0x0f, depth);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.raw(this.u8()).slice();
      case 0xc5: return this.raw(this.u16()).slice();
      case 0xc6: return this.raw(this.u32()).slice();
      case 0xca: return this.f32();
      case 0xcb: return this.f64();
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: return this.u64();
      case 0xd0: return this.i8();
      case 0xd1: return this.i16();
      case 0xd2: return this.i32();
      case 0xd3: return this.i64();
      case 0xd9: return this.str(this.u8());
      case 0xda: return this.str(this.u16());
      case 0xdb: return this.str(this.u32());
      case 0xdc: return this.array(this.u16(), depth);
      case 0xdd: return this.array(this.u32(), depth);
      case 0xde: return this.map(this.u16(), depth);
      case 0xdf: return this.map(this.u32(), depth);
      default: throw new TypeError(`msgpack: unsupported type byte 0x${b.toString(16)}`);
    }
  }
}

/**
 * One msgpack value from bytes; extra bytes after it are an error.
 * @param {Uint8Array | ArrayBuffer} data
 * @returns {any}
 */
export function decode(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const reader = new Reader(bytes);
  const value = reader.value();
  if (reader.pos !== bytes.length) throw new RangeError("msgpack: trailing bytes");
  return value;
}

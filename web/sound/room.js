/**
 * The browser in the session's audio room (see docs/PROTOCOL.md, "Audio room").
 *
 * One RTCPeerConnection with one send-and-receive audio transceiver: the
 * chosen input goes up, the personal mix the server makes for us comes back.
 * Signalling is one `rtc` message each way on the session socket: the offer
 * is sent only once ICE gathering is complete (the server takes no trickled
 * candidates), and the server's `rtc` answer carries its own.
 *
 * When the peer connection fails, a new offer replaces it (the session stays
 * joined; the server swaps our peer). Levels come from AnalyserNodes on the
 * input and on the received mix.
 *
 * @module sound/room
 */

import { CLIENT_TYPES, MESSAGE_LIMITS, SERVER_TYPES } from "../protocol.js";

/** How long to wait for ICE gathering before offering with what we have (ms). */
const GATHER_MS = 3000;
/** How long to wait for the server's answer (ms). */
const ANSWER_MS = 15000;
/** Largest gain the server accepts in a `mix` (protocol/audio.py MAX_GAIN). */
export const MAX_GAIN = MESSAGE_LIMITS.max_gain;

/**
 * RMS level in dBFS of what an analyser currently holds (-Infinity for silence).
 * @param {AnalyserNode} analyser
 * @param {Float32Array} buffer
 */
export function levelOf(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (let i = 0; i < buffer.length; i += 1) sum += buffer[i] * buffer[i];
  const rms = Math.sqrt(sum / buffer.length);
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

/**
 * Resolve when `pc` has gathered all ICE candidates, or after `ms`.
 * @param {RTCPeerConnection} pc
 * @param {number} ms
 */
function gathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve(undefined);
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/** A level meter on an audio stream. */
class Meter {
  /**
   * @param {AudioContext} context
   * @param {MediaStream} stream
   */
  constructor(context, stream) {
    this.source = context.createMediaStreamSource(stream);
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 2048;
    this.buffer = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
  }

  /** dBFS RMS over the last ~43 ms. */
  level() {
    return levelOf(this.analyser, this.buffer);
  }

  disconnect() {
    this.source.disconnect();
  }
}

/**
 * @typedef {"idle" | "starting" | "connecting" | "connected" | "reconnecting" | "failed"} RoomState
 */

export class AudioRoom {
  /**
   * @param {object} options
   * @param {AudioContext} options.context for the meters
   * @param {(msg: object) => void} options.send a protocol message to the server
   * @param {(type: string, fn: (msg: any) => void) => void} options.on server messages by type
   * @param {(state: RoomState, detail?: string) => void} [options.onState]
   * @param {HTMLMediaElement} [options.player] plays the mix (one is made if absent)
   * @param {() => RTCIceServer[]} [options.iceServers] the STUN/TURN servers the
   *   server handed out in its welcome (`ice_servers`), read at each (re)connect
   */
  constructor({ context, send, on, onState = () => {}, player, iceServers = () => [] }) {
    this.context = context;
    this.send = send;
    this.iceServers = iceServers;
    this.onState = onState;
    /** @type {RoomState} */
    this.state = "idle";
    /** @type {MediaStream | null} */
    this.input = null;
    /** @type {MediaStream | null} */
    this.mix = null;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {Meter | null} */
    this.inputMeter = null;
    /** @type {Meter | null} */
    this.outputMeter = null;
    this.player = player ?? document.createElement("audio");
    this.player.autoplay = true;
    /** @type {((sdp: string) => void) | null} */
    this._answered = null;
    this._generation = 0; // bumps on every (re)connect, so stale callbacks do nothing
    this._retry = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null;
    /** @type {Record<string, number>} the gains we asked for, resent after a reconnect */
    this.gains = {};
    on(SERVER_TYPES.RTC, (msg) => {
      // the room moved to another server process: offer again, still in the session
      if (msg.reoffer === true) {
        if (this.input !== null) this._connect("reconnecting");
        return;
      }
      if (this._answered !== null && typeof msg.sdp === "string") this._answered(msg.sdp);
    });
    // A new welcome means the socket reconnected: the server dropped us from
    // the room with the old connection, so offer again.
    on(SERVER_TYPES.WELCOME, () => {
      if (this.input !== null) this._connect("reconnecting");
    });
  }

  get joined() {
    return this.input !== null;
  }

  /** Audio inputs the browser offers (labels only once permission was given). */
  static async inputs() {
    if (!navigator.mediaDevices?.enumerateDevices) return [];
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "audioinput");
  }

  /**
   * Join with input `deviceId` (default input if empty). Resolves once the
   * server answered; the connection completes shortly after.
   * @param {string} [deviceId]
   */
  async join(deviceId = "") {
    await this.leave();
    if (!navigator.mediaDevices?.getUserMedia) {
      // browsers give pages the microphone only in a secure context
      const why = window.isSecureContext
        ? "this browser gives the page no microphone"
        : `the microphone needs a secure page: open this session over https:// (or on this machine at http://localhost:${location.port || 80}); see "Remote guests and HTTPS" in docs/OPERATIONS.md`;
      this._set("failed", why);
      throw new Error(why);
    }
    this._set("starting");
    try {
      this.input = await navigator.mediaDevices.getUserMedia({
        audio: {
          ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
          // a musician's input: no voice processing bending the signal
          echoCancellation: false,
          noiseSuppression: false,
          autoGainControl: false,
        },
      });
    } catch (error) {
      this._set("failed", `no audio input: ${/** @type {Error} */ (error).message}`);
      throw error;
    }
    this.inputMeter = new Meter(this.context, this.input);
    await this._connect("connecting");
  }

  /** Leave the room: hang up and release the input. */
  async leave() {
    this._generation += 1;
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._closePeer();
    this.inputMeter?.disconnect();
    this.inputMeter = null;
    for (const track of this.input?.getTracks() ?? []) track.stop();
    this.input = null;
    if (this.state !== "idle") this._set("idle");
  }

  /**
   * How loud `client` is in my mix (0..MAX_GAIN, 1 unchanged).
   * @param {string} client
   * @param {number} gain
   */
  setGain(client, gain) {
    const value = Math.min(MAX_GAIN, Math.max(0, gain));
    this.gains[client] = value;
    if (this.pc?.remoteDescription) {
      // before the answer the server does not know us yet (`not_found`); the
      // gains asked for meanwhile go with the answer (see _connect)
      this.send({ type: CLIENT_TYPES.MIX, gains: { [client]: value } });
    }
  }

  /** dBFS of my input now (-Infinity if none). */
  inputLevel() {
    return this.inputMeter?.level() ?? -Infinity;
  }

  /** dBFS of the mix I receive now (-Infinity if none). */
  outputLevel() {
    return this.outputMeter?.level() ?? -Infinity;
  }

  /**
   * Offer (again) with the current input; a fresh peer replaces any old one.
   * @param {RoomState} state
   */
  async _connect(state) {
    const generation = ++this._generation;
    this._closePeer();
    this._set(state);
    const input = this.input;
    if (input === null) return;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers() });
    this.pc = pc;
    const transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
    await transceiver.sender.replaceTrack(input.getAudioTracks()[0] ?? null);
    pc.addEventListener("track", (event) => {
      if (generation !== this._generation) return;
      this._play(event.streams[0] ?? new MediaStream([event.track]));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (generation !== this._generation) return;
      if (pc.connectionState === "connected") {
        this._retry = 0;
        this._set("connected");
      } else if (pc.connectionState === "failed") {
        this._scheduleRetry(generation);
      }
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, GATHER_MS);
      if (generation !== this._generation) return;
      const answer = new Promise((resolve, reject) => {
        this._answered = resolve;
        setTimeout(() => reject(new Error("the server did not answer the audio offer")), ANSWER_MS);
      });
      this.send({ type: CLIENT_TYPES.RTC, sdp: pc.localDescription?.sdp ?? "" });
      const sdp = /** @type {string} */ (await answer);
      if (generation !== this._generation) return;
      this._answered = null;
      await pc.setRemoteDescription({ type: "answer", sdp });
      if (Object.keys(this.gains).length > 0) this.send({ type: CLIENT_TYPES.MIX, gains: { ...this.gains } });
    } catch (error) {
      if (generation !== this._generation) return;
      this._answered = null;
      this._set("reconnecting", /** @type {Error} */ (error).message);
      this._scheduleRetry(generation);
    }
  }

  /** @param {number} generation */
  _scheduleRetry(generation) {
    if (generation !== this._generation || this.input === null) return;
    this._set("reconnecting");
    const delay = Math.min(10000, 500 * 2 ** this._retry);
    this._retry += 1;
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (generation === this._generation) this._connect("reconnecting");
    }, delay);
  }

  /** @param {MediaStream} stream */
  _play(stream) {
    this.mix = stream;
    // Chromium only feeds a remote WebRTC stream into Web Audio while a media
    // element plays it, so the element is the output and the meter taps the stream.
    this.player.srcObject = stream;
    this.player.play().catch(() => {}); // autoplay refused: the next gesture resumes it
    this.outputMeter?.disconnect();
    this.outputMeter = new Meter(this.context, stream);
  }

  _closePeer() {
    this._answered = null;
    this.outputMeter?.disconnect();
    this.outputMeter = null;
    this.mix = null;
    this.player.srcObject = null;
    if (this.pc !== null) {
      this.pc.close();
      this.pc = null;
    }
  }

  /**
   * @param {RoomState} state
   * @param {string} [detail]
   */
  _set(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }
}

/**
 * The signal chain as a Web Audio graph: one channel strip per track, the two
 * shared effect returns and the master bus — `protocol/dsp.py`'s chain, the
 * one the server renders (`media/render.py`) and the bots play.
 *
 *     instrument → EQ (BiquadFilterNodes) → compressor (worklet) → volume → pan
 *       ├→ master bus                                 (post-fader)
 *       ├→ reverb send → ConvolverNode (dsp.reverbIr, unnormalised) → level ┐
 *       └→ delay send  → [+ → DelayNode → one-pole IIR] → level ────────────┤
 *                          ↑______ feedback ______|                          ↓
 *     master bus (sum) → master gain → true-peak limiter (worklet) → meter → out
 *
 * A strip's parameters are its track's fields (`protocol/mixer.py`), set with
 * `Strip.set` after every change. EQ bands are real BiquadFilterNodes (Web
 * Audio computes the Cookbook's coefficients, as `mixer.biquad` does); a band
 * switched on or off rewires the strip. The compressor and the limiter are
 * AudioWorklets (`worklets.js`) running `dsp.js`; a context that has not
 * loaded them (`loadWorklets`) gets strips without dynamics, which is what
 * the timing tests of the scheduler use.
 *
 * @module sound/chain
 */

import { delaySamples, onePole, reverbIr, RATE } from "../dsp.js";
import { BANDS, nodeParams } from "../mixer.js";
import { SCHEMAS } from "../protocol.js";

export const WORKLETS_URL = new URL("./worklets.js", import.meta.url).href;
/** @type {WeakMap<BaseAudioContext, Promise<void>>} */
const LOADED = new WeakMap();

/** Load the chain's AudioWorklets into `context` (once per context). */
export function loadWorklets(context) {
  let loading = LOADED.get(context);
  if (loading === undefined) {
    loading = context.audioWorklet.addModule(WORKLETS_URL);
    LOADED.set(context, loading);
  }
  return loading;
}

/** @type {Promise<number> | null} */
let CYCLE = null;

/**
 * Samples this browser adds to a DelayNode inside a cycle, measured once:
 * Web Audio reads a cycle's delay line one render quantum late in Chromium
 * (an impulse round a loop of D comes back after D + 128), not in every engine.
 * @returns {Promise<number>}
 */
export function cycleLatency() {
  CYCLE ??= (async () => {
    const loop = 512;
    const context = new OfflineAudioContext(1, 4 * loop, RATE);
    const impulse = new AudioBuffer({ length: 1, sampleRate: RATE });
    impulse.getChannelData(0)[0] = 1;
    const source = new AudioBufferSourceNode(context, { buffer: impulse });
    const sum = new GainNode(context);
    const delay = new DelayNode(context, { delayTime: loop / RATE });
    const back = new GainNode(context, { gain: 0.5 });
    source.connect(sum).connect(delay).connect(back).connect(sum);
    sum.connect(context.destination);
    source.start(0);
    const out = (await context.startRendering()).getChannelData(0);
    let at = loop;
    for (let i = loop; i < out.length; i += 1) if (Math.abs(out[i]) > Math.abs(out[at])) at = i;
    return at - loop;
  })();
  return CYCLE;
}

/** The schema's defaults for every field of a kind (`SCHEMAS[kind]`). */
function defaults(kind) {
  return Object.fromEntries(Object.entries(SCHEMAS[kind]).map(([name, field]) => [name, field.default]));
}
const TRACK_DEFAULTS = defaults("track");
const PROJECT_DEFAULTS = defaults("project");

/** A track with the protocol's defaults for any field it lacks. */
export const trackWithDefaults = (track) => ({ ...TRACK_DEFAULTS, ...track });
/** The project's fields with the protocol's defaults for any it lacks. */
export const projectWithDefaults = (project) => ({ ...PROJECT_DEFAULTS, ...project });

const STEREO = { channelCount: 2, channelCountMode: "explicit", channelInterpretation: "speakers" };
const SMOOTH_S = 0.01; // volume, pan and sends glide over 10 ms: no zipper clicks

/** Set an AudioParam: at once the first time, gliding after. */
function glide(param, value, now, first) {
  if (first) param.value = value;
  else param.setTargetAtTime(value, now, SMOOTH_S);
}

/**
 * A peak meter in line (it passes its input on): what it posted last, per
 * channel, lands in `into`. In line rather than a sink, because a node without
 * outputs is pulled by the context whether or not anything is heard, and would
 * keep its whole upstream (strip, EQ, compressor) computing while asleep.
 */
function meterNode(context, into) {
  const node = new AudioWorkletNode(context, "backline-meter", { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2], ...STEREO });
  node.port.onmessage = ({ data }) => {
    into.peaks = data;
    into.at = context.currentTime;
  };
  return node;
}

/** One track's channel strip. */
export class Strip {
  /**
   * @param {BaseAudioContext} context
   * @param {Bus} bus
   */
  constructor(context, bus) {
    this.context = context;
    this.bus = bus;
    this.input = new GainNode(context, STEREO);
    /** @type {Array<[string, BiquadFilterNode]>} the switched-on bands, in order */
    this.eq = [];
    this.eqShape = null;
    this.level = { peaks: [0, 0], at: 0 };
    this.reduction = 0;
    this.compressor = null;
    if (bus.dynamics) {
      this.compressor = new AudioWorkletNode(context, "backline-compressor", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2], ...STEREO,
        processorOptions: { on: false, params: compressorParams(TRACK_DEFAULTS) },
      });
      this.compressor.port.onmessage = ({ data }) => { this.reduction = data.reduction; };
    }
    this.fader = new GainNode(context, STEREO);
    this.pan = new StereoPannerNode(context, STEREO);
    this.reverbSend = new GainNode(context, { ...STEREO, gain: 0 });
    this.delaySend = new GainNode(context, { ...STEREO, gain: 0 });
    this.compressor?.connect(this.fader);
    this.fader.connect(this.pan);
    this.meter = bus.dynamics ? meterNode(context, this.level) : null;
    (this.meter ? this.pan.connect(this.meter) : this.pan).connect(bus.sum);
    this.pan.connect(this.reverbSend).connect(bus.reverbIn);
    this.pan.connect(this.delaySend).connect(bus.delayIn);
    this.first = true;
    this.comp = null;
  }

  /**
   * Follow the track's fields.
   * @param {object} fields the track
   * @param {boolean} audible not muted, and soloed if anyone is
   */
  set(fields, audible) {
    const track = trackWithDefaults(fields);
    const now = this.context.currentTime;
    const first = this.first;
    this.first = false;
    this.setEq(track);
    if (this.compressor !== null) {
      const comp = JSON.stringify([track.comp_on, compressorParams(track)]);
      if (comp !== this.comp) {
        this.comp = comp;
        this.compressor.port.postMessage({ on: track.comp_on, params: compressorParams(track) });
      }
    }
    glide(this.fader.gain, audible ? track.volume : 0, now, first);
    glide(this.pan.pan, track.pan, now, first);
    glide(this.reverbSend.gain, track.send_reverb, now, first);
    glide(this.delaySend.gain, track.send_delay, now, first);
  }

  /** The switched-on bands as BiquadFilterNodes between the input and the compressor. */
  setEq(track) {
    const on = BANDS.filter(([prefix]) => track[`${prefix}_on`]);
    const shape = on.map(([prefix]) => prefix).join(" ");
    if (shape !== this.eqShape) {
      this.eqShape = shape;
      this.input.disconnect();
      for (const [, node] of this.eq) node.disconnect();
      this.eq = on.map(([prefix, kind]) => [prefix, new BiquadFilterNode(this.context, { ...STEREO, ...nodeParams(track, prefix, kind) })]);
      let last = this.input;
      for (const [, node] of this.eq) last = last.connect(node);
      last.connect(this.compressor ?? this.fader);
      return;
    }
    for (const [prefix, node] of this.eq) {
      const kind = BANDS.find(([p]) => p === prefix)[1];
      const p = nodeParams(track, prefix, kind);
      node.frequency.value = p.frequency;
      node.Q.value = p.Q;
      node.gain.value = p.gain;
    }
  }

  /** The meter reads silence (the chain went to sleep). */
  quiet() {
    this.level.peaks = [0, 0];
    this.reduction = 0;
  }

  disconnect() {
    for (const node of [this.input, ...this.eq.map(([, n]) => n), this.compressor, this.fader, this.pan, this.reverbSend, this.delaySend]) {
      node?.disconnect();
    }
  }
}

/** A track's compressor fields as the worklet's parameters. */
function compressorParams(track) {
  return {
    threshold: track.comp_threshold, ratio: track.comp_ratio, knee: track.comp_knee,
    attack: track.comp_attack, release: track.comp_release, makeup: track.comp_makeup,
  };
}

/** The effect returns and the master bus, shared by every strip. */
export class Bus {
  /**
   * @param {BaseAudioContext} context
   * @param {AudioNode} destination
   * @param {{dynamics?: boolean, loopExtra?: number}} [options] dynamics: the worklets are loaded
   *   (compressor, limiter, meters); loopExtra: samples this engine adds to a delay in a cycle
   */
  constructor(context, destination, { dynamics = false, loopExtra = 0 } = {}) {
    this.context = context;
    this.dynamics = dynamics;
    this.rate = context.sampleRate;
    this.sum = new GainNode(context, STEREO); // master gain: every strip and return sums here
    this.level = { peaks: [0, 0], at: 0 };
    this.reduction = 0;
    this.limiter = null;
    if (dynamics) {
      this.limiter = new AudioWorkletNode(context, "backline-limiter", {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [2], ...STEREO,
        processorOptions: { on: PROJECT_DEFAULTS.limiter_on, ceiling: PROJECT_DEFAULTS.limiter_ceiling },
      });
      this.limiter.port.onmessage = ({ data }) => { this.reduction = data.reduction; };
      this.sum.connect(this.limiter);
    }
    this.output = new GainNode(context, STEREO);
    this.meter = dynamics ? meterNode(context, this.level) : null;
    const last = this.limiter ?? this.sum;
    (this.meter ? last.connect(this.meter) : last).connect(this.output);
    this.destination = destination;
    this.awake = false;
    this.wake();

    this.reverbIn = new GainNode(context, STEREO);
    this.reverb = new ConvolverNode(context, { ...STEREO, disableNormalization: true });
    this.reverbLevel = new GainNode(context, STEREO);
    this.reverbIn.connect(this.reverb).connect(this.reverbLevel).connect(this.sum);
    this.irShape = null;

    // the delay: w = LP(z^-D (x + fb·w)), as x → z^-D → (+) → LP → w and w → fb → z^-D → (+);
    // the loop's DelayNode is set short by what this engine adds to a cycle (`cycleLatency`)
    this.loopExtra = loopExtra;
    this.delayIn = new GainNode(context, STEREO);
    this.delayFirst = new DelayNode(context, { ...STEREO, maxDelayTime: 13 }); // 4 beats at 20 BPM is 12 s
    this.loop = new GainNode(context, STEREO); // the delayed send + the delayed feedback
    this.delayLoop = new DelayNode(context, { ...STEREO, maxDelayTime: 13 });
    this.echoes = new GainNode(context, STEREO);
    this.feedback = new GainNode(context, { ...STEREO, gain: 0 });
    this.delayLevel = new GainNode(context, STEREO);
    this.delayIn.connect(this.delayFirst).connect(this.loop);
    this.tone = null;
    this.pole = null;
    this.echoes.connect(this.feedback).connect(this.delayLoop).connect(this.loop);
    this.echoes.connect(this.delayLevel).connect(this.sum);
    this.limiterOn = dynamics && PROJECT_DEFAULTS.limiter_on;
    this.first = true;
    this.master = null;
  }

  /**
   * Follow the project's return and master fields.
   * @param {object} fields the project
   * @param {boolean} reverbWanted some track sends to the reverb (else it is not computed)
   */
  set(fields, reverbWanted) {
    const p = projectWithDefaults(fields);
    const now = this.context.currentTime;
    const first = this.first;
    this.first = false;
    glide(this.sum.gain, p.master_gain, now, first);
    glide(this.reverbLevel.gain, p.reverb_level, now, first);
    glide(this.delayLevel.gain, p.delay_level, now, first);
    glide(this.feedback.gain, p.delay_feedback, now, first);
    const samples = delaySamples(p.delay_beats, p.tempo, this.rate);
    this.delayFirst.delayTime.value = samples / this.rate;
    this.delayLoop.delayTime.value = (samples - this.loopExtra) / this.rate;
    const pole = onePole(p.delay_tone, this.rate);
    if (pole !== this.pole) {
      // an IIRFilterNode's coefficients are fixed: a new tone is a new filter
      this.pole = pole;
      this.tone?.disconnect();
      this.loop.disconnect();
      this.tone = new IIRFilterNode(this.context, { ...STEREO, feedforward: [1 - pole], feedback: [1, -pole] });
      this.loop.connect(this.tone).connect(this.echoes);
    }
    // what rings on after the last sound: the reverb's length, the echoes until -60 dB
    const echoes = p.delay_feedback > 0 ? Math.ceil(Math.log(1e-3) / Math.log(p.delay_feedback)) + 1 : 1;
    this.tailSeconds = Math.max(p.reverb_decay + p.reverb_predelay / 1000, (echoes * samples) / this.rate);
    const ir = JSON.stringify([p.reverb_decay, p.reverb_predelay, p.reverb_damping]);
    if (reverbWanted && ir !== this.irShape) {
      this.irShape = ir;
      const [left, right] = reverbIr(p.reverb_decay, p.reverb_predelay, p.reverb_damping, this.rate);
      const buffer = new AudioBuffer({ numberOfChannels: 2, length: left.length, sampleRate: this.rate });
      buffer.copyToChannel(left, 0);
      buffer.copyToChannel(right, 1);
      this.reverb.buffer = buffer;
    }
    if (this.limiter !== null) {
      const master = JSON.stringify([p.limiter_on, p.limiter_ceiling]);
      if (master !== this.master) {
        this.master = master;
        this.limiter.port.postMessage({ on: p.limiter_on, ceiling: p.limiter_ceiling });
      }
      this.limiterOn = p.limiter_on;
    }
  }

  /**
   * Connect the bus to its destination: the whole chain computes from now on.
   */
  wake() {
    if (this.awake) return;
    this.awake = true;
    this.output.connect(this.destination);
  }

  /**
   * Cut the bus from its destination: nothing upstream of it is pulled any
   * more, so a chain with nothing to play costs no CPU (Web Audio computes
   * only what reaches the destination). The meters read silence.
   */
  sleep() {
    if (!this.awake) return;
    this.awake = false;
    this.output.disconnect();
    this.level.peaks = [0, 0];
    this.reduction = 0;
  }

  /** Seconds the returns ring on after the last sound (what `sleep` must wait for). */
  get tail() {
    return this.tailSeconds ?? 0;
  }

  disconnect() {
    this.output.disconnect();
    this.awake = false;
  }
}

export { RATE };

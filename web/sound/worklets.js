/**
 * The chain's AudioWorklet processors: what Web Audio has no node for, or has
 * one that computes something else.
 *
 * - `backline-compressor`: the track compressor (`dsp.Compressor`). Web
 *   Audio's DynamicsCompressorNode follows no published law, adds its own
 *   look-ahead and differs between engines; this is the law the server renders.
 * - `backline-limiter`: the master's look-ahead true-peak limiter
 *   (`dsp.Limiter`); it delays the signal by `LIMITER_DELAY` samples.
 * - `backline-meter`: passes its input on, and posts its peak level per
 *   channel about 30 times a second, cleared on read (so a meter never misses
 *   a peak between two frames).
 *
 * Parameters come as messages on the node's port ({on, params} / {on, ceiling}),
 * so they change between render quanta, never within a block. Each returns
 * true: a processor that returns false is finished for good in Chromium (it
 * outputs silence from then on), which an in-line node cannot afford. Loaded into a
 * context once, by {@link import("./chain.js").loadWorklets}.
 *
 * @module sound/worklets
 */

import { BLOCK, Compressor, Limiter } from "../dsp.js";

/** Copy a (possibly mono, possibly absent) input to a stereo output. */
function copyThrough(input, output) {
  const left = input[0];
  const right = input[1] ?? input[0];
  if (left === undefined) {
    output[0].fill(0);
    output[1].fill(0);
    return;
  }
  output[0].set(left);
  output[1].set(right);
}

class CompressorProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { on, params } = options.processorOptions;
    this.on = on;
    this.compressor = new Compressor(params);
    this.port.onmessage = ({ data }) => {
      if (data.on && !this.on) this.compressor.gainDb = 0; // switched on: from rest, as a render starts
      this.on = data.on;
      this.compressor.set(data.params);
    };
    this.reported = 0;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    copyThrough(inputs[0], output);
    if (this.on && output[0].length % BLOCK === 0) {
      for (let i = 0; i < output[0].length; i += BLOCK) this.compressor.block(output[0], output[1], i);
      if (currentFrame - this.reported >= 1600) {
        this.reported = currentFrame;
        this.port.postMessage({ reduction: this.compressor.gainDb });
      }
    }
    return true;
  }
}

class LimiterProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { on, ceiling } = options.processorOptions;
    this.on = on;
    this.limiter = new Limiter(ceiling);
    this.port.onmessage = ({ data }) => {
      if (data.on && !this.on) this.limiter = new Limiter(data.ceiling); // from rest
      this.on = data.on;
      this.limiter.ceilingDb = data.ceiling;
    };
    this.reported = 0;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    copyThrough(inputs[0], output);
    if (this.on) {
      this.limiter.push(output[0], output[1]);
      this.limiter.pull(output[0], output[1]);
      if (currentFrame - this.reported >= 1600) {
        this.reported = currentFrame;
        this.port.postMessage({ reduction: this.limiter.reductionDb });
      }
    }
    return true;
  }
}

class MeterProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.peaks = [0, 0];
    this.last = 0;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    copyThrough(input, outputs[0]);
    for (let c = 0; c < 2; c += 1) {
      const x = input[c] ?? input[0];
      if (x === undefined) continue;
      let peak = this.peaks[c];
      for (let i = 0; i < x.length; i += 1) {
        const a = Math.abs(x[i]);
        if (a > peak) peak = a;
      }
      this.peaks[c] = peak;
    }
    if (currentFrame - this.last >= 1600) {
      this.last = currentFrame;
      this.port.postMessage(this.peaks);
      this.peaks = [0, 0];
    }
    return true;
  }
}

registerProcessor("backline-compressor", CompressorProcessor);
registerProcessor("backline-limiter", LimiterProcessor);
registerProcessor("backline-meter", MeterProcessor);

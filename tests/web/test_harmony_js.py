"""web/harmony.js against protocol/harmony.py in real Chromium: the same chord spelling,
scales, snapping, diatonic chords and key shifts, case for case (`harmony_vectors()`)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from backline.protocol.harmony import harmony_vectors

RUN_JS = """
async ({ url, vectors }) => {
  const m = await import(url);
  const attempt = (fn) => { try { return { value: fn() }; } catch (e) { return { error: e.code ?? String(e) }; } };
  const chords = vectors.chords.map((v) => {
    const parsed = attempt(() => m.parseChord(v.symbol));
    const chord = parsed.value;
    return {
      chord: chord ?? parsed,
      canonical: chord && m.chordSymbol(chord),
      pitches: chord && m.chordPitches(chord),
      detected: chord && ((d) => (d ? m.chordSymbol(d) : null))(m.detectChord(m.chordPitches(chord))),
    };
  });
  const bad = vectors.bad.map((s) => attempt(() => m.parseChord(s)).error ?? "accepted");
  const scales = Object.fromEntries(Object.keys(vectors.scales).map((key) => [key, {
    classes: m.scalePitchClasses(key),
    snapped: Array.from({ length: 128 }, (_, p) => m.snapToScale(p, key)),
    diatonic: m.diatonicChords(key).map((c) => c.symbol),
    numerals: m.diatonicChords(key).map((c) => c.numeral),
    sevenths: m.diatonicChords(key, true).map((c) => c.symbol),
  }]));
  const shifts = vectors.shifts.map(([a, b]) => [a, b, m.keyShift(a, b)]);
  return { chords, bad, scales, shifts };
}
"""


def test_javascript_spells_and_snaps_as_python(page: Page, web_server: str) -> None:
    vectors = harmony_vectors()
    page.goto(f"{web_server}/")
    got: dict[str, Any] = page.evaluate(
        RUN_JS, {"url": f"{web_server}/harmony.js", "vectors": vectors}
    )
    for want, have in zip(vectors["chords"], got["chords"], strict=True):
        assert have["chord"] == want["chord"], want["symbol"]
        assert have["canonical"] == want["canonical"], want["symbol"]
        assert have["pitches"] == want["pitches"], want["symbol"]
        assert have["detected"] == want["detected"], want["symbol"]
    assert got["bad"] == ["bad_field"] * len(vectors["bad"])
    assert got["scales"] == vectors["scales"]
    assert got["shifts"] == vectors["shifts"]


def test_detection_over_many_voicings_matches_python(page: Page, web_server: str) -> None:
    """Random voicings (seeded), not only the spelled ones: the same reading or None."""
    import random

    from backline.protocol.harmony import chord_symbol, detect_chord

    rng = random.Random(17)
    voicings = [sorted(rng.sample(range(36, 84), rng.randint(1, 5))) for _ in range(400)]
    want = [(lambda d: chord_symbol(d) if d else None)(detect_chord(v)) for v in voicings]
    page.goto(f"{web_server}/")
    have = page.evaluate(
        """async ({ url, voicings }) => {
            const m = await import(url);
            return voicings.map((v) => { const d = m.detectChord(v); return d ? m.chordSymbol(d) : null; });
        }""",
        {"url": f"{web_server}/harmony.js", "voicings": voicings},
    )
    assert have == want
    assert sum(w is not None for w in want) > 20  # the seed finds real chords too
